"""Command line: ``telebridge auscultation train|predict|evaluate|cv`` (or ``python -m ...cli``)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import typer
from threadpoolctl import threadpool_limits

from .data import Patient, load_directory
from .dsp import AudioError, load_audio
from .model import MODEL_PATH, ExamResult, RecordingResult, ScreeningModel

app = typer.Typer(
    help="Heart-sound murmur screening (decision support, not a diagnosis): train, predict, evaluate, cv.",
    no_args_is_help=True,
    add_completion=False,
)

DataOpt = typer.Option(
    ..., "--data", help="Directory in CirCor layout (<patient>.txt + audio).", exists=True, file_okay=False
)
CacheOpt = typer.Option(None, "--cache", help="Optional directory to cache extracted features.")


@app.callback()
def _single_core() -> None:
    """Heart-sound murmur screening. Runs on one core (also keeps BLAS results reproducible)."""
    threadpool_limits(limits=1)


def _log(msg: str) -> None:
    typer.echo(msg, err=True)


def _load_patients(data: Path) -> list[Patient]:
    patients = load_directory(data)
    if not patients:
        _log(f"No patient files found in {data}.")
        raise typer.Exit(code=2)
    return patients


def _load_model(path: Path) -> ScreeningModel:
    try:
        return ScreeningModel.load(path)
    except (OSError, ValueError) as exc:
        _log(f"Cannot load model {path}: {exc}")
        raise typer.Exit(code=2) from None


def _prepare_training(data: Path, cache: Path | None) -> tuple[list[Patient], dict, Any]:
    """Fit the segmenter on all annotated recordings; extract features of murmur-labelled patients."""
    from .training import extract_table, train_segmenter

    everyone = _load_patients(data)
    _log(f"{len(everyone)} patients; fitting the segmenter")
    segparams = train_segmenter(everyone).to_dict()
    patients = [p for p in everyone if p.murmur is not None]
    return patients, segparams, extract_table(patients, segparams, cache, log=_log)


def analyze_patient(model: ScreeningModel, patient: Patient) -> ExamResult | None:
    """Run the product pipeline on one patient's audio (reference segmentations are not used)."""
    results: list[RecordingResult] = []
    for rec in patient.recordings:
        try:
            audio = load_audio(rec.audio_path)
            results.append(model.analyze_recording(audio.samples, audio.sample_rate, rec.site))
        except AudioError as exc:
            _log(f"{rec.audio_path.name}: {exc.code} ({exc.message})")
    return model.combine(results) if results else None


def _predict_all(model: ScreeningModel, patients: list[Patient]) -> list[tuple[str, str, str]]:
    rows = []
    for k, patient in enumerate(patients):
        exam = analyze_patient(model, patient)
        if exam is None:
            rows.append((patient.patient_id, "Unknown", ""))
        else:
            rows.append((patient.patient_id, exam.murmur, f"{exam.probability_present:.4f}"))
        if (k + 1) % 100 == 0:
            _log(f"{k + 1}/{len(patients)} patients")
    return rows


@app.command()
def train(
    data: Path = DataOpt,
    out: Path = typer.Option(MODEL_PATH, "--out", help="Where to write the model file."),
    seed: int = typer.Option(0, "--seed", help="Random seed (training is deterministic for a seed)."),
    cache: Path | None = CacheOpt,
) -> None:
    """Train the segmenter and murmur model on DIR and write the model file."""
    from .training import fit_screening

    patients, segparams, table = _prepare_training(data, cache)
    payload = fit_screening(patients, table, np.arange(len(patients)), segparams, seed)
    model = ScreeningModel(payload)
    model.save(out)
    typer.echo(json.dumps({"model": str(out), "version": model.version, "thresholds": model.thresholds}))


@app.command()
def predict(
    data: Path = DataOpt,
    out: Path = typer.Option(..., "--out", help="CSV to write: patient_id,murmur,probability_present."),
    model_path: Path = typer.Option(MODEL_PATH, "--model", help="Model file."),
) -> None:
    """Predict Present / Unknown / Absent per patient."""
    model = _load_model(model_path)
    rows = _predict_all(model, _load_patients(data))
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["patient_id", "murmur", "probability_present"])
        writer.writerows(rows)
    _log(f"wrote {len(rows)} patients to {out}")


@app.command()
def evaluate(
    data: Path = DataOpt,
    model_path: Path = typer.Option(MODEL_PATH, "--model", help="Model file."),
) -> None:
    """Evaluate the shipped model on DIR (labels from the .txt files); prints one JSON line."""
    from .training import metrics

    model = _load_model(model_path)
    patients = [p for p in _load_patients(data) if p.murmur is not None]
    rows = _predict_all(model, patients)
    pred = [r[1] for r in rows]
    prob = np.array([float(r[2]) if r[2] else 0.0 for r in rows])
    result = metrics(pred, [p.murmur or "" for p in patients], prob)
    result["model_version"] = model.version
    typer.echo(json.dumps(result))


@app.command()
def cv(
    data: Path = DataOpt,
    folds: int = typer.Option(5, "--folds", min=2, help="Number of patient-grouped folds."),
    seed: int = typer.Option(0, "--seed"),
    cache: Path | None = CacheOpt,
) -> None:
    """Patient-grouped cross-validation (thresholds tuned inside training folds); prints one JSON line."""
    from .training import cross_validate

    patients, segparams, table = _prepare_training(data, cache)
    typer.echo(json.dumps(cross_validate(patients, table, segparams, folds, seed, log=_log)))


@app.command()
def segmentation(
    data: Path = DataOpt,
    sample: int = typer.Option(200, "--sample", help="Held-out annotated recordings to score (evenly spaced)."),
    model_path: Path = typer.Option(MODEL_PATH, "--model", help="Model file."),
) -> None:
    """S1/S2 onset F1 (60 ms) of the HSMM vs the expert .tsv, on recordings not used to fit it."""
    from .data import read_segmentation
    from .segmentation import segmentation_scores
    from .training import segmenter_split

    model = _load_model(model_path)
    _, held_out = segmenter_split(_load_patients(data))
    chosen = held_out[:: max(1, len(held_out) // sample)][:sample]
    items = [(load_audio(r.audio_path).samples, read_segmentation(r.segmentation_path)) for r in chosen]
    typer.echo(json.dumps(segmentation_scores(model.segmenter, items)))


@app.command("export-labels")
def export_labels(
    out: Path = typer.Option(..., "--out", help="CSV file to write (one row per recording of a reviewed exam)."),
) -> None:
    """Cardiologists' verdicts as retraining labels: one row per recording, no patient identity (audited)."""
    import asyncio

    from telebridge.config import get_settings
    from telebridge.kit.audit import SystemActor
    from telebridge.kit.db import make_engine, make_sessionmaker

    from .service import LABEL_COLUMNS
    from .service import export_labels as rows_of

    async def run() -> list[tuple[str, ...]]:
        engine = make_engine(get_settings().database_url)
        try:
            async with make_sessionmaker(engine)() as db:
                rows = await rows_of(db, SystemActor(display_name="telebridge auscultation export-labels"))
                await db.commit()
                return rows
        finally:
            await engine.dispose()

    rows = asyncio.run(run())
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(LABEL_COLUMNS)
        writer.writerows(rows)
    _log(f"{len(rows)} labelled recordings written to {out}")


def main() -> None:
    try:
        app()
    except AudioError as exc:  # never show a stack trace for bad input
        typer.echo(f"error: {exc.code}: {exc.message}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()

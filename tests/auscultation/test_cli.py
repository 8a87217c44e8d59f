"""CLI and CirCor directory reading (dev layout and the original .hea/.wav layout)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import soundfile as sf
from typer.testing import CliRunner

from telebridge.auscultation.cli import app
from telebridge.auscultation.data import load_directory, patient_groups
from telebridge.auscultation.dsp import resample

from .conftest import synthetic_pcg

runner = CliRunner()


def _original_layout(root: Path, source: Path | None) -> Path:
    """A tiny directory like the PhysioNet release: .hea header named on the line, .wav at 4 kHz."""
    x = resample(synthetic_pcg(12.0), 2000, 4000) if source is None else resample(sf.read(str(source))[0], 2000, 4000)
    sf.write(str(root / "9001_MV.wav"), x, 4000, subtype="PCM_16")
    (root / "9001_MV.hea").write_text("9001_MV 1 4000 48000\n9001_MV.wav 16 1 16 0 0 0 0 MV\n")
    (root / "9001.txt").write_text(
        "9001 1 4000\nMV 9001_MV.hea 9001_MV.wav 9001_MV.tsv\n#Age: Child\n#Murmur: Absent\n"
        "#Murmur locations: nan\n#Additional ID: nan\n"
    )
    (root / "LICENSE.txt").write_text("Not a patient file\n")
    return root


def test_reads_original_layout(tmp_path: Path) -> None:
    patients = load_directory(_original_layout(tmp_path, None))
    assert [p.patient_id for p in patients] == ["9001"]
    rec = patients[0].recordings[0]
    assert rec.audio_path.name == "9001_MV.wav" and rec.segmentation_path is None
    assert patients[0].murmur == "Absent" and patients[0].sample_rate == 4000


def test_header_only_line_resolves_audio(tmp_path: Path) -> None:
    _original_layout(tmp_path, None)
    (tmp_path / "9001.txt").write_text("9001 1 4000\nMV 9001_MV.hea\n#Murmur: Unknown\n")
    rec = load_directory(tmp_path)[0].recordings[0]
    assert rec.audio_path.name == "9001_MV.wav"


def test_additional_id_groups() -> None:
    from telebridge.auscultation.data import Patient

    pats = [Patient("1", 2000, [], {"Additional ID": "3"}), Patient("2", 2000, [], {}), Patient("3", 2000, [], {})]
    g = patient_groups(pats)
    assert g[0] == g[2] != g[1]


def test_predict_writes_exact_header(tmp_path: Path, circor_dir: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    patient = load_directory(circor_dir)[1]
    shutil.copy(circor_dir / f"{patient.patient_id}.txt", data)
    for rec in patient.recordings:
        shutil.copy(rec.audio_path, data)  # no .tsv copied: prediction must not need them
    _original_layout(data, patient.recordings[0].audio_path)
    out = tmp_path / "pred.csv"
    result = runner.invoke(app, ["predict", "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "patient_id,murmur,probability_present"
    rows = [line.split(",") for line in lines[1:]]
    assert sorted(r[0] for r in rows) == sorted([patient.patient_id, "9001"])
    assert all(r[1] in {"Present", "Unknown", "Absent"} and 0 <= float(r[2]) <= 1 for r in rows)


def test_evaluate_prints_one_json_line(tmp_path: Path) -> None:
    import json

    data = _original_layout(tmp_path, None)
    result = runner.invoke(app, ["evaluate", "--data", str(data)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"weighted_accuracy", "auroc_present_vs_absent", "confusion", "flagged_fraction"} <= set(payload)
    assert np.array(payload["confusion"]).shape == (3, 3)

"""Training, nested threshold selection and patient-grouped cross-validation."""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from .data import Patient, RecordingRef, patient_groups, read_segmentation
from .dsp import AudioError, load_audio
from .features import N_FEATURES, feature_names
from .model import CLASSES, ScreeningModel, extract_recording, patient_feature_vector
from .segmentation import Segmenter, SegmenterParams, fit_segmenter

WEIGHTS = np.array([5.0, 3.0, 1.0])  # Present, Unknown, Absent
FEATURE_VERSION = "f5"
LGB_PARAMS = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.5,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbose": -1,
}
NUM_ROUNDS = 300
N_MEMBERS = 3
Log = Callable[[str], None]


@dataclass
class RecordingTable:
    """One row per recording of the given patients."""

    features: np.ndarray  # (n, N_FEATURES)
    patient: np.ndarray  # index into the patient list
    label: np.ndarray  # 1 murmur audible at site, 0 not, -1 unknown
    usable: np.ndarray  # quality gate passed
    periodicity: np.ndarray
    sites: list[str]


SEGMENTER_RECORDINGS = 600


def segmenter_split(patients: list[Patient]) -> tuple[list[RecordingRef], list[RecordingRef]]:
    """Annotated recordings in a fixed hash order: (first 600 for fitting the segmenter, the rest)."""
    refs = [r for p in patients for r in p.recordings if r.segmentation_path is not None]
    refs.sort(key=lambda r: (zlib.crc32(r.stem.encode()), r.stem))
    return refs[:SEGMENTER_RECORDINGS], refs[SEGMENTER_RECORDINGS:]


def train_segmenter(patients: list[Patient], seed: int = 0) -> SegmenterParams:
    """Fit the HSMM emission/duration model on a fixed hash-selected subset of annotated recordings.

    The segmenter is a fixed front end (seed 0 by default), so that changing the murmur-model
    seed or the CV split does not change the features."""
    refs, _ = segmenter_split(patients)
    items = [(load_audio(r.audio_path).samples, read_segmentation(r.segmentation_path)) for r in refs]
    if not items:
        raise ValueError("No reference segmentations (.tsv) found to train the segmenter.")
    return fit_segmenter(items, seed=seed)


def _cache_key(patients: list[Patient], segparams: dict) -> str:
    h = hashlib.sha256(FEATURE_VERSION.encode())
    h.update(json.dumps(segparams, sort_keys=True).encode())
    for p in patients:
        for r in p.recordings:
            st = r.audio_path.stat()
            h.update(f"{r.audio_path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def extract_table(
    patients: list[Patient], segparams: dict, cache_dir: Path | None = None, log: Log = print
) -> RecordingTable:
    """Features for every recording (optionally cached as .npz keyed by data + segmenter)."""
    segmenter = Segmenter(SegmenterParams.from_dict(segparams))
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"features-{_cache_key(patients, segparams)}.npz"
        if cache.is_file():
            log(f"using cached features {cache}")
    rows = [(i, p, r) for i, p in enumerate(patients) for r in p.recordings]
    if cache is not None and cache.is_file():
        z = np.load(cache)
        feats, usable, period = z["features"], z["usable"], z["periodicity"]
    else:
        feats = np.full((len(rows), N_FEATURES), np.nan)
        usable, period = np.zeros(len(rows), dtype=bool), np.zeros(len(rows))
        for k, (_, _, rec) in enumerate(rows):
            try:
                x = load_audio(rec.audio_path, min_duration=0.0).samples
                feats[k], quality, _ = extract_recording(x, segmenter)
                usable[k], period[k] = quality.ok, quality.periodicity
            except AudioError as exc:
                log(f"skipping {rec.audio_path.name}: {exc.code}")
            if k % 250 == 0:
                log(f"features {k}/{len(rows)}")
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(cache, features=feats, usable=usable, periodicity=period)
    labels = [p.recording_label(r) for _, p, r in rows]
    return RecordingTable(
        features=feats,
        patient=np.array([i for i, _, _ in rows], dtype=int),
        label=np.array([-1 if v is None else v for v in labels], dtype=int),
        usable=usable,
        periodicity=period,
        sites=[r.site for _, _, r in rows],
    )


def fit_boosters(x: np.ndarray, y: np.ndarray, seed: int) -> list[lgb.Booster]:
    """A small seed ensemble (row/feature bagging differs per member) to reduce variance."""
    out = []
    for member in range(N_MEMBERS):
        s = seed * 1000 + member
        params = {**LGB_PARAMS, "seed": s, "bagging_seed": s, "feature_fraction_seed": s}
        out.append(lgb.train(params, lgb.Dataset(x, y, feature_name=feature_names(), free_raw_data=True), NUM_ROUNDS))
    return out


def predict_boosters(boosters: list[lgb.Booster], x: np.ndarray) -> np.ndarray:
    return np.mean([b.predict(x, num_threads=1) for b in boosters], axis=0)


def patient_matrix(table: RecordingTable, probs: np.ndarray, patient_ids: np.ndarray) -> np.ndarray:
    return np.array(
        [
            patient_feature_vector(probs[m], table.usable[m], table.periodicity[m])
            for m in (table.patient == i for i in patient_ids)
        ]
    )


def weighted_accuracy(pred: list[str] | np.ndarray, true: list[str] | np.ndarray) -> float:
    pred, true = np.asarray(pred), np.asarray(true)
    w = {c: wt for c, wt in zip(CLASSES, WEIGHTS)}
    num = sum(w[c] * np.sum((pred == c) & (true == c)) for c in CLASSES)
    den = sum(w[c] * np.sum(true == c) for c in CLASSES)
    return float(num / den) if den else float("nan")


def tune_thresholds(
    p3: np.ndarray, true: np.ndarray, usable: np.ndarray, seed: int = 0, n_boot: int = 50
) -> dict[str, float]:
    """(present, unknown) thresholds maximising the weighted accuracy averaged over bootstrap
    resamples of the patients (a smoothed optimum: less sensitive to a handful of patients)."""
    true = np.asarray(true)
    grid_p = np.unique(np.round(np.quantile(p3[:, 0], np.linspace(0.3, 0.95, 66)), 4))
    grid_u = np.r_[np.unique(np.round(np.quantile(p3[:, 1], np.linspace(0.5, 0.99, 50)), 4)), 1.01]
    is_p = p3[None, :, 0] >= grid_p[:, None]  # (n_p, patients)
    is_u = ~usable[None, :] | (p3[None, :, 1] >= grid_u[:, None])  # (n_u, patients)
    pred_p = np.broadcast_to(is_p[:, None, :], (len(grid_p), len(grid_u), len(true)))
    pred_u = ~pred_p & is_u[None, :, :]
    pred_a = ~pred_p & ~pred_u
    gain = np.where(
        true == "Present", WEIGHTS[0] * pred_p, np.where(true == "Unknown", WEIGHTS[1] * pred_u, WEIGHTS[2] * pred_a)
    )
    weight_true = np.select([true == "Present", true == "Unknown"], [WEIGHTS[0], WEIGHTS[1]], WEIGHTS[2])
    rng = np.random.default_rng(seed)
    counts = np.vstack([np.ones(len(true)), rng.multinomial(len(true), np.full(len(true), 1 / len(true)), size=n_boot)])
    score = (gain.reshape(-1, len(true)) @ counts.T / (counts @ weight_true)).mean(axis=1)
    i_p, i_u = np.unravel_index(int(np.argmax(score)), (len(grid_p), len(grid_u)))
    return {"present": float(grid_p[i_p]), "unknown": float(grid_u[i_u])}


def _folds(patients: list[Patient], n_folds: int, seed: int) -> np.ndarray:
    y = np.array([p.murmur or "Unknown" for p in patients])
    fold = np.zeros(len(patients), dtype=int)
    cv = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, test) in enumerate(cv.split(np.zeros(len(y)), y, patient_groups(patients))):
        fold[test] = k
    return fold


def fit_patient_model(pf: np.ndarray, y: np.ndarray, seed: int) -> tuple[dict, Callable[[np.ndarray], np.ndarray]]:
    mean, scale = pf.mean(axis=0), pf.std(axis=0) + 1e-9
    lr = LogisticRegression(C=0.5, max_iter=2000, random_state=seed).fit((pf - mean) / scale, y)
    payload = {
        "coef": lr.coef_.tolist(),
        "intercept": lr.intercept_.tolist(),
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "classes": [str(c) for c in lr.classes_],
    }
    order = [list(lr.classes_).index(c) for c in CLASSES]
    return payload, lambda z: lr.predict_proba((z - mean) / scale)[:, order]


def fit_screening(
    patients: list[Patient],
    table: RecordingTable,
    idx: np.ndarray,
    segparams: dict,
    seed: int = 0,
    inner_folds: int = 4,
) -> dict:
    """Fit on the patients ``idx``: inner grouped CV gives out-of-fold probabilities for the
    patient combiner and for choosing decision thresholds (never touching held-out patients)."""
    sub = [patients[i] for i in idx]
    inner = _folds(sub, inner_folds, seed + 1)
    fold_of = dict(zip(idx.tolist(), inner.tolist()))
    rec_in = np.isin(table.patient, idx)
    rec_fold = np.array([fold_of.get(int(p), -1) for p in table.patient])
    oof = np.full(len(table.label), np.nan)
    train_mask = rec_in & (table.label >= 0)
    for k in range(inner_folds):
        fit_m = train_mask & (rec_fold != k)
        pred_m = rec_in & (rec_fold == k)
        oof[pred_m] = predict_boosters(
            fit_boosters(table.features[fit_m], table.label[fit_m], seed), table.features[pred_m]
        )
    y = np.array([p.murmur or "Unknown" for p in sub])
    pf = patient_matrix(table, oof, idx)
    p3 = np.zeros((len(idx), 3))
    for k in range(inner_folds):  # out-of-fold patient probabilities for threshold tuning
        _, predict = fit_patient_model(pf[inner != k], y[inner != k], seed)
        p3[inner == k] = predict(pf[inner == k])
    usable = np.array([table.usable[table.patient == i].any() for i in idx])
    thresholds = tune_thresholds(p3, y, usable, seed)
    thresholds["site"] = float(np.quantile(oof[rec_in & (table.label == 0)], 0.9))
    pm_payload, _ = fit_patient_model(pf, y, seed)
    boosters = fit_boosters(table.features[train_mask], table.label[train_mask], seed)
    return {
        "name": "telebridge-murmur",
        "format": 1,
        "feature_names": feature_names(),
        "segmenter": segparams,
        "recording_model": [b.model_to_string() for b in boosters],
        "patient_model": pm_payload,
        "thresholds": thresholds,
        "training": {"seed": seed, "n_patients": int(len(idx)), "n_recordings": int(train_mask.sum())},
    }


def predict_patients(model: ScreeningModel, table: RecordingTable, idx: np.ndarray) -> tuple[list[str], np.ndarray]:
    probs = np.full(len(table.label), np.nan)
    m = np.isin(table.patient, idx)
    probs[m] = model.recording_probability(table.features[m])
    p3 = model.patient_probabilities(patient_matrix(table, probs, idx))
    usable = np.array([table.usable[table.patient == i].any() for i in idx])
    return model.decide(p3, usable), p3[:, 0]


def metrics(pred: list[str], true: list[str], p_present: np.ndarray) -> dict:
    """Challenge weighted accuracy and screening figures. Confusion: rows predicted, cols true,
    both in the order Present, Unknown, Absent."""
    pred_a, true_a = np.asarray(pred), np.asarray(true)
    conf = [[int(np.sum((pred_a == r) & (true_a == c))) for c in CLASSES] for r in CLASSES]
    pa = np.isin(true_a, ["Present", "Absent"])
    auroc = float(roc_auc_score(true_a[pa] == "Present", p_present[pa])) if len(set(true_a[pa])) == 2 else float("nan")
    tp = np.sum((pred_a == "Present") & (true_a == "Present"))
    return {
        "weighted_accuracy": round(weighted_accuracy(pred_a, true_a), 4),
        "auroc_present_vs_absent": round(auroc, 4),
        "sensitivity_present": round(float(tp / max(np.sum(true_a == "Present"), 1)), 4),
        "specificity": round(
            float(np.mean(pred_a[true_a == "Absent"] == "Absent")) if np.any(true_a == "Absent") else float("nan"), 4
        ),
        "flagged_fraction": round(float(np.mean(pred_a != "Absent")), 4),
        "brier_present": round(float(np.mean((p_present - (true_a == "Present")) ** 2)), 4),
        "present_fraction": round(float(np.mean(pred_a == "Present")), 4),
        "n_patients": int(len(pred_a)),
        "confusion": conf,
        "confusion_order": "rows=predicted, cols=true; order Present, Unknown, Absent",
    }


def cross_validate(
    patients: list[Patient], table: RecordingTable, segparams: dict, n_folds: int = 5, seed: int = 0, log: Log = print
) -> dict:
    """Patient-grouped (patient id + Additional ID) stratified K-fold; thresholds chosen inside each fold."""
    fold = _folds(patients, n_folds, seed)
    true = np.array([p.murmur or "Unknown" for p in patients])
    pred = np.empty(len(patients), dtype=object)
    p_present = np.zeros(len(patients))
    per_fold = []
    for k in range(n_folds):
        train_idx, test_idx = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        model = ScreeningModel(fit_screening(patients, table, train_idx, segparams, seed))
        labels, pp = predict_patients(model, table, test_idx)
        pred[test_idx], p_present[test_idx] = labels, pp
        per_fold.append(round(weighted_accuracy(labels, true[test_idx]), 4))
        log(f"fold {k}: weighted accuracy {per_fold[-1]}")
    out = metrics(list(pred), list(true), p_present)
    out.update(
        {
            "folds": n_folds,
            "seed": seed,
            "per_fold_weighted_accuracy": per_fold,
            "recording_quality_pass_rate": round(float(table.usable.mean()), 4),
        }
    )
    return out

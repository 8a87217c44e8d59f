"""The screening model: recording-level LightGBM + patient-level calibrated combiner.

Public API for the web layer: :func:`analyze_recording` and :func:`analyze_exam`.
Results are decision support for a clinician, not a diagnosis.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from .dsp import ANALYSIS_RATE, MIN_DURATION_S, AudioError, as_mono, envelope_features, resample
from .features import feature_names, recording_features
from .quality import QualityResult, assess_quality
from .segmentation import Segmentation, Segmenter, SegmenterParams

MODEL_PATH = Path(__file__).with_name("model") / "murmur_model.npz"  # .npz: covered by package-data
CLASSES = ("Present", "Unknown", "Absent")
DISCLAIMER = (
    "Decision support only, not a diagnosis. A clinician must interpret this result; "
    "an 'Absent' result does not exclude heart disease."
)
PATIENT_FEATURES = ("logit_max_ok", "logit_max_all", "logit_mean", "logit_top2", "frac_failed", "min_periodicity")


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def patient_feature_vector(probs: np.ndarray, quality_ok: np.ndarray, periodicity: np.ndarray) -> np.ndarray:
    """Fixed-length summary of one patient's recordings (see :data:`PATIENT_FEATURES`)."""
    probs = np.asarray(probs, dtype=np.float64)
    ok = np.asarray(quality_ok, dtype=bool)
    if len(probs) == 0:
        return np.array([0.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    usable = probs[ok] if ok.any() else probs
    top = np.sort(probs)[::-1]
    return np.array(
        [
            _logit(usable.max()),
            _logit(top[0]),
            _logit(probs.mean()),
            _logit(top[:2].mean()),
            1.0 - ok.mean(),
            float(np.min(periodicity)),
        ]
    )


def extract_recording(x: np.ndarray, segmenter: Segmenter) -> tuple[np.ndarray, QualityResult, Segmentation]:
    """Quality gate + HSMM segmentation + features for one analysis-rate recording."""
    env = envelope_features(x) if len(x) >= MIN_DURATION_S * ANALYSIS_RATE else None
    quality = assess_quality(x, envelopes=env)
    if quality.code == "too_short" or env is None:
        raise AudioError("too_short", quality.message)
    seg = segmenter.segment(x, env)
    return recording_features(x, seg, quality), quality, seg


@dataclass
class RecordingResult:
    site: str
    quality: dict[str, Any]
    usable: bool
    heart_rate_bpm: float | None
    segments: list[tuple[float, float, int]]  # (start_s, end_s, state 1=S1 2=systole 3=S2 4=diastole)
    probability_present: float
    murmur: str  # Present / Absent / Unknown (Unknown when quality fails)
    timing: str | None
    features: np.ndarray = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("features")
        return d


@dataclass
class ExamResult:
    murmur: str
    probability_present: float
    sites: list[str]
    timing: str | None
    model_version: str
    disclaimer: str
    recordings: list[RecordingResult]
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["recordings"] = [r.to_dict() for r in self.recordings]
        return d


class ScreeningModel:
    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload
        self.segmenter = Segmenter(SegmenterParams.from_dict(payload["segmenter"]))
        models = payload["recording_model"]
        self.boosters = [lgb.Booster(model_str=s) for s in ([models] if isinstance(models, str) else models)]
        pm = payload["patient_model"]
        self.pm_coef, self.pm_intercept = np.asarray(pm["coef"]), np.asarray(pm["intercept"])
        self.pm_mean, self.pm_scale = np.asarray(pm["mean"]), np.asarray(pm["scale"])
        self.pm_classes: list[str] = list(pm["classes"])
        self.thresholds: dict[str, float] = payload["thresholds"]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:10]
        self.version = f"{payload.get('name', 'murmur')}-{payload.get('format', 1)}+{digest}"
        if payload.get("feature_names") != feature_names():
            raise ValueError("Model file does not match this code's feature set; retrain the model.")

    # -- persistence -------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path = MODEL_PATH) -> ScreeningModel:
        """Read a model file: an ``.npz`` whose single ``payload`` array holds UTF-8 JSON."""
        with np.load(path, allow_pickle=False) as npz:
            return cls(json.loads(npz["payload"].tobytes().decode("utf-8")))

    def save(self, path: str | Path) -> None:
        """Write the model as a deflated ``.npz`` (plain JSON inside, no pickle), byte-identical
        for identical payloads (fixed zip timestamp)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(self.payload, sort_keys=True, separators=(",", ":")).encode("utf-8")
        array = io.BytesIO()
        np.lib.format.write_array(array, np.frombuffer(data, dtype=np.uint8), allow_pickle=False)
        info = zipfile.ZipInfo("payload.npy", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(info, array.getvalue(), compresslevel=9)

    # -- stages ----------------------------------------------------------------------------
    def extract(self, x: np.ndarray) -> tuple[np.ndarray, QualityResult, Segmentation]:
        return extract_recording(x, self.segmenter)

    def recording_probability(self, feats: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(feats)
        return np.mean([b.predict(x, num_threads=1) for b in self.boosters], axis=0).astype(np.float64)

    def patient_probabilities(self, pfeats: np.ndarray) -> np.ndarray:
        """(n, 3) probabilities in :data:`CLASSES` order."""
        z = (np.atleast_2d(pfeats) - self.pm_mean) / self.pm_scale @ self.pm_coef.T + self.pm_intercept
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        return p[:, [self.pm_classes.index(c) for c in CLASSES]]

    def decide(self, probs3: np.ndarray, any_usable: np.ndarray | bool) -> list[str]:
        out = []
        for (p_present, p_unknown, _), usable in zip(np.atleast_2d(probs3), np.atleast_1d(any_usable)):
            if p_present >= self.thresholds["present"]:
                out.append("Present")
            elif not usable or p_unknown >= self.thresholds["unknown"]:
                out.append("Unknown")
            else:
                out.append("Absent")
        return out

    @staticmethod
    def timing(feats: np.ndarray) -> str:
        """'systolic' or 'diastolic': where the murmur-band excess over the other phase is larger."""
        names = feature_names()
        vals = np.array(
            [feats[names.index(f"sys_dia_{lo}_{hi}_med")] for lo, hi in ((100, 150), (150, 200), (200, 300))]
        )
        vals = vals[np.isfinite(vals)]
        return "diastolic" if len(vals) and float(vals.mean()) < -3.0 else "systolic"

    # -- public analysis -----------------------------------------------------------------
    def analyze_recording(self, samples: np.ndarray, sample_rate: int, site: str = "") -> RecordingResult:
        x = resample(as_mono(samples), int(sample_rate), ANALYSIS_RATE)
        feats, quality, seg = self.extract(x)
        prob = float(self.recording_probability(feats)[0])
        present = prob >= self.thresholds["site"]
        murmur = "Unknown" if not quality.ok else ("Present" if present else "Absent")
        return RecordingResult(
            site=site,
            quality=quality.to_dict(),
            usable=quality.ok,
            heart_rate_bpm=round(seg.heart_rate_bpm, 1) if quality.ok else None,
            segments=[(round(a, 3), round(b, 3), s) for a, b, s in seg.segments()],
            probability_present=round(prob, 4),
            murmur=murmur,
            timing=self.timing(feats) if present else None,
            features=feats,
        )

    def combine(self, results: Sequence[RecordingResult]) -> ExamResult:
        probs = np.array([r.probability_present for r in results])
        ok = np.array([r.usable for r in results], dtype=bool)
        period = np.array([r.quality["periodicity"] for r in results])
        p3 = self.patient_probabilities(patient_feature_vector(probs, ok, period))[0]
        label = self.decide(p3, bool(ok.any()))[0]
        sites: list[str] = []
        timing = None
        if label == "Present":
            order = np.argsort(-probs, kind="stable")
            sites = [results[i].site for i in order if probs[i] >= self.thresholds["site"]] or [results[order[0]].site]
            timing = self.timing(results[int(order[0])].features)
        reasons = [f"{r.site or 'recording'}: {r.quality['message']}" for r in results if not r.usable]
        return ExamResult(
            label, round(float(p3[0]), 4), sites, timing, self.version, DISCLAIMER, list(results), reasons
        )

    def analyze_exam(self, recordings: Sequence[tuple[np.ndarray, int, str]]) -> ExamResult:
        if not recordings:
            raise AudioError("no_recordings", "At least one recording is needed.")
        return self.combine([self.analyze_recording(x, fs, site) for x, fs, site in recordings])


@lru_cache(maxsize=1)
def default_model() -> ScreeningModel:
    if not MODEL_PATH.is_file():
        raise FileNotFoundError(f"No trained model at {MODEL_PATH}; run `telebridge auscultation train`.")
    return ScreeningModel.load(MODEL_PATH)


def analyze_recording(samples: np.ndarray, sample_rate: int, site: str = "") -> RecordingResult:
    """Quality, heart rate, segmentation and murmur probability for one recording."""
    return default_model().analyze_recording(samples, sample_rate, site)


def analyze_exam(recordings: Sequence[tuple[np.ndarray, int, str]]) -> ExamResult:
    """Patient-level Present / Unknown / Absent from (samples, sample_rate, site) recordings."""
    return default_model().analyze_exam(recordings)

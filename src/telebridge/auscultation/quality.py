"""Signal-quality gate: decide whether a recording is usable before any murmur call.

A rejected recording never yields "Absent"; it yields "Unknown" with a reason to re-record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import signal

from .dsp import ANALYSIS_RATE, FEATURE_RATE, MIN_DURATION_S, autocorrelation, bandpass

# Thresholds (checked on circor-dev; see MODEL_CARD.md for the pass rate).
SILENCE_RMS = 2e-4  # band-limited RMS (full scale = 1.0)
CLIP_FRACTION = 0.005  # share of samples sitting at the peak value
NOISE_RATIO = 4.0  # power 400-1000 Hz / power 25-400 Hz
MAX_FLATNESS = 0.97  # spectral flatness 25-900 Hz (white noise is ~1)
MIN_PERIODICITY = 0.10  # envelope autocorrelation peak in the heart-rate lag range
MIN_LAG_S, MAX_LAG_S = 60.0 / 250.0, 60.0 / 40.0

MESSAGES = {
    "ok": "Recording quality is sufficient.",
    "too_short": "Recording is too short; record at least 5 seconds at each site.",
    "silence": "No sound was captured; check the stethoscope connection and re-record.",
    "clipping": "The signal is clipped (too loud); lower the gain or press more gently and re-record.",
    "noisy": "Too much background noise; re-record in a quiet room and keep the chest piece still.",
    "no_heartbeat": "No regular heartbeat was found; reposition the stethoscope and re-record.",
}


@dataclass(frozen=True)
class QualityResult:
    ok: bool
    code: str
    message: str
    duration_s: float
    rms: float
    clip_fraction: float
    noise_ratio: float
    flatness: float
    periodicity: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def metrics(self) -> np.ndarray:
        return np.array([np.log10(self.rms + 1e-9), self.clip_fraction, self.noise_ratio, self.flatness, self.periodicity])


def _clip_fraction(x: np.ndarray) -> float:
    peak = float(np.max(np.abs(x)))
    if peak <= 0:
        return 0.0
    at_peak = np.abs(x) >= 0.995 * peak
    # Clipping shows as runs of samples stuck at the rail; isolated maxima are normal.
    stuck = at_peak[1:] & at_peak[:-1] & (np.abs(np.diff(x)) <= 0.005 * peak)
    return float(stuck.mean())


def spectral_flatness(x: np.ndarray, fs: int = ANALYSIS_RATE) -> float:
    """Wiener entropy of the 25-900 Hz Welch spectrum: ~1 for white noise, low for heart sounds."""
    f, p = signal.welch(x, fs, nperseg=256)
    p = p[(f >= 25) & (f <= min(900.0, 0.45 * fs))] + 1e-20
    return float(np.exp(np.mean(np.log(p))) / np.mean(p))


def envelope_periodicity(x: np.ndarray, fs: int = ANALYSIS_RATE) -> tuple[float, np.ndarray]:
    """Peak autocorrelation of the 20-150 Hz envelope within the heart-rate lag range, and the ACF."""
    band = bandpass(x, 20.0, 150.0, fs)
    env = signal.resample_poly(np.abs(band), 1, fs // FEATURE_RATE)
    ac = autocorrelation(env)
    lo, hi = int(MIN_LAG_S * FEATURE_RATE), min(int(MAX_LAG_S * FEATURE_RATE), len(ac) - 1)
    if hi <= lo:
        return 0.0, ac
    return float(np.max(ac[lo:hi])), ac


def assess_quality(x: np.ndarray, fs: int = ANALYSIS_RATE) -> QualityResult:
    """Compute quality metrics and the first failing reason (order: short, silent, clipped, noisy, aperiodic)."""
    x = np.asarray(x, dtype=np.float64)
    duration = len(x) / fs
    if duration < MIN_DURATION_S:
        return QualityResult(False, "too_short", MESSAGES["too_short"], duration, 0.0, 0.0, 0.0, 0.0, 0.0)
    x = x - x.mean()
    clip = _clip_fraction(x)
    heart = bandpass(x, 25.0, 400.0, fs)
    rms = float(np.sqrt(np.mean(heart**2)))
    if rms < SILENCE_RMS:
        return QualityResult(False, "silence", MESSAGES["silence"], duration, rms, clip, 0.0, 0.0, 0.0)
    high = bandpass(x, 400.0, min(1000.0, 0.45 * fs), fs)
    noise_ratio = float(np.mean(high**2) / (rms**2 + 1e-20))
    flatness = spectral_flatness(x, fs)
    periodicity, _ = envelope_periodicity(x, fs)
    code = "ok"
    if clip > CLIP_FRACTION:
        code = "clipping"
    elif noise_ratio > NOISE_RATIO or flatness > MAX_FLATNESS:
        code = "noisy"
    elif periodicity < MIN_PERIODICITY:
        code = "no_heartbeat"
    return QualityResult(code == "ok", code, MESSAGES[code], duration, rms, clip, noise_ratio, flatness, periodicity)

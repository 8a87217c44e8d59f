"""Signal-quality gate: decide whether a recording is usable before any murmur call.

A rejected recording never yields "Absent"; it yields "Unknown" with a reason to re-record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.fft import next_fast_len

from .dsp import ANALYSIS_RATE, FEATURE_RATE, MIN_DURATION_S, autocorrelation, envelope_features

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
        return np.array(
            [np.log10(self.rms + 1e-9), self.clip_fraction, self.noise_ratio, self.flatness, self.periodicity]
        )


def _clip_fraction(x: np.ndarray) -> float:
    peak = float(np.max(np.abs(x)))
    if peak <= 0:
        return 0.0
    at_peak = np.abs(x) >= 0.995 * peak
    # Clipping shows as runs of samples stuck at the rail; isolated maxima are normal.
    stuck = at_peak[1:] & at_peak[:-1] & (np.abs(np.diff(x)) <= 0.005 * peak)
    return float(stuck.mean())


def spectral_metrics(x: np.ndarray, fs: int = ANALYSIS_RATE) -> tuple[float, float, float]:
    """From one smoothed periodogram: RMS in 25-400 Hz, power ratio 400-1000 / 25-400 Hz, and the
    spectral flatness (Wiener entropy) of 25-900 Hz (~1 for white noise, low for heart sounds)."""
    n = len(x)
    power = np.abs(np.fft.rfft(x, next_fast_len(n))) ** 2 / (n * n)
    freqs = np.linspace(0.0, fs / 2, len(power))
    edges = np.searchsorted(freqs, np.arange(0.0, fs / 2, 8.0))  # ~8 Hz bins (a smoothed periodogram)
    p = np.add.reduceat(power, edges) * 2
    f = freqs[edges]
    heart = p[(f >= 25) & (f < 400)].sum()
    high = p[(f >= 400) & (f < min(1000.0, 0.5 * fs))].sum()
    band = p[(f >= 25) & (f < min(900.0, 0.45 * fs))] + 1e-30
    flatness = float(np.exp(np.mean(np.log(band))) / np.mean(band))
    return float(np.sqrt(heart)), float(high / (heart + 1e-20)), flatness


def envelope_periodicity(env: np.ndarray) -> float:
    """Peak autocorrelation of the homomorphic envelope (50 Hz) within the heart-rate lag range."""
    ac = autocorrelation(env)
    lo, hi = int(MIN_LAG_S * FEATURE_RATE), min(int(MAX_LAG_S * FEATURE_RATE), len(ac) - 1)
    return float(np.max(ac[lo:hi])) if hi > lo else 0.0


def assess_quality(x: np.ndarray, fs: int = ANALYSIS_RATE, envelopes: np.ndarray | None = None) -> QualityResult:
    """Quality metrics and the first failing reason (order: short, silent, clipped, noisy, aperiodic).

    ``envelopes`` may pass precomputed :func:`envelope_features` (column 0 is used).
    """
    x = np.asarray(x, dtype=np.float64)
    duration = len(x) / fs
    if duration < MIN_DURATION_S:
        return QualityResult(False, "too_short", MESSAGES["too_short"], duration, 0.0, 0.0, 0.0, 0.0, 0.0)
    x = x - x.mean()
    clip = _clip_fraction(x)
    rms, noise_ratio, flatness = spectral_metrics(x, fs)
    if rms < SILENCE_RMS:
        return QualityResult(False, "silence", MESSAGES["silence"], duration, rms, clip, noise_ratio, flatness, 0.0)
    env = envelope_features(x, fs) if envelopes is None else envelopes
    periodicity = envelope_periodicity(env[:, 0])
    code = "ok"
    if clip > CLIP_FRACTION:
        code = "clipping"
    elif noise_ratio > NOISE_RATIO or flatness > MAX_FLATNESS:
        code = "noisy"
    elif periodicity < MIN_PERIODICITY:
        code = "no_heartbeat"
    return QualityResult(code == "ok", code, MESSAGES[code], duration, rms, clip, noise_ratio, flatness, periodicity)

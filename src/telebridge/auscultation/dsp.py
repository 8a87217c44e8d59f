"""Audio loading, resampling and envelope features for heart-sound analysis.

Everything downstream works on mono float64 signals at :data:`ANALYSIS_RATE`.
Loading failures are reported as :class:`AudioError` with a stable machine code.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
from scipy import signal
from scipy.fft import next_fast_len

ANALYSIS_RATE = 2000  # Hz; all analysis happens at this rate
FEATURE_RATE = 50  # Hz; envelope / HSMM frame rate
MIN_DURATION_S = 5.0
MAX_DURATION_S = 600.0


class AudioError(Exception):
    """A recording that cannot be analysed. ``code`` is stable and machine readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Audio:
    """Mono audio at :data:`ANALYSIS_RATE` plus facts about the source."""

    samples: np.ndarray
    sample_rate: int
    source_rate: int
    source_channels: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def _read(source: str | Path | bytes | BinaryIO) -> tuple[np.ndarray, int]:
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise AudioError("not_found", f"No audio file at {path.name}.")
        if path.stat().st_size == 0:
            raise AudioError("empty", "The audio file is empty.")
        handle: str | BinaryIO = str(path)
    elif isinstance(source, bytes):
        if not source:
            raise AudioError("empty", "The audio file is empty.")
        handle = io.BytesIO(source)
    else:
        handle = source
    try:
        data, rate = sf.read(handle, dtype="float64", always_2d=True)
    except sf.LibsndfileError as exc:
        text = str(exc).lower()
        if "format" in text or "recogni" in text:
            raise AudioError("not_audio", "The file is not a supported audio format (WAV, FLAC, MP3).") from None
        raise AudioError("broken_file", "The audio file is damaged or truncated.") from None
    except (RuntimeError, ValueError, EOFError, TypeError):
        raise AudioError("broken_file", "The audio file is damaged or truncated.") from None
    return data, int(rate)


def load_audio(source: str | Path | bytes | BinaryIO, min_duration: float = MIN_DURATION_S) -> Audio:
    """Read WAV/FLAC/MP3 (any bit depth, any channels, any rate) into mono analysis-rate audio."""
    data, rate = _read(source)
    if data.size == 0 or data.shape[0] == 0:
        raise AudioError("empty", "The audio file contains no samples.")
    if not np.all(np.isfinite(data)):
        raise AudioError("broken_file", "The audio contains invalid (non-finite) samples.")
    duration = data.shape[0] / rate
    if duration > MAX_DURATION_S:
        raise AudioError("too_long", f"Recording is {duration:.0f} s; at most {MAX_DURATION_S:.0f} s is accepted.")
    mono = data.mean(axis=1)
    samples = resample(mono, rate)
    if len(samples) / ANALYSIS_RATE < min_duration:
        raise AudioError(
            "too_short", f"Recording is {duration:.1f} s; at least {min_duration:.0f} s of heart sounds are needed."
        )
    return Audio(samples=samples, sample_rate=ANALYSIS_RATE, source_rate=rate, source_channels=data.shape[1])


def resample(x: np.ndarray, rate: int, target: int = ANALYSIS_RATE) -> np.ndarray:
    """Polyphase resampling to ``target`` Hz (anti-aliased)."""
    x = np.asarray(x, dtype=np.float64)
    if rate <= 0:
        raise AudioError("bad_rate", f"Invalid sample rate {rate}.")
    if rate == target:
        return x
    frac = Fraction(target, int(rate)).limit_denominator(1000)
    return signal.resample_poly(x, frac.numerator, frac.denominator)


def as_mono(samples: np.ndarray) -> np.ndarray:
    """Accept (n,), (n, channels) arrays and return a float mono vector."""
    arr = np.asarray(samples, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr.mean(axis=1) if arr.shape[0] >= arr.shape[1] else arr.mean(axis=0)
    if arr.ndim != 1:
        raise AudioError("not_audio", "Samples must be a 1-D or 2-D (channels) array.")
    if not np.all(np.isfinite(arr)):
        raise AudioError("broken_file", "The audio contains invalid (non-finite) samples.")
    return arr


_SOS_CACHE: dict[tuple[float, float, int, int], np.ndarray] = {}


def bandpass_sos(low: float, high: float, fs: int = ANALYSIS_RATE, order: int = 4) -> np.ndarray:
    key = (low, high, fs, order)
    if key not in _SOS_CACHE:
        if low <= 0:
            _SOS_CACHE[key] = signal.butter(order, high, btype="lowpass", fs=fs, output="sos")
        else:
            _SOS_CACHE[key] = signal.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    return _SOS_CACHE[key]


def bandpass(x: np.ndarray, low: float, high: float, fs: int = ANALYSIS_RATE, order: int = 4) -> np.ndarray:
    return signal.sosfiltfilt(bandpass_sos(low, high, fs, order), x)


def zero_phase_gain(freqs: np.ndarray, low: float, high: float, order: int = 4) -> np.ndarray:
    """Squared Butterworth-shaped magnitude (what a forward-backward filter applies), for FFT filtering."""
    f = np.abs(freqs)
    gain = 1.0 / (1.0 + (f / high) ** (2 * order))
    if low > 0:
        with np.errstate(divide="ignore"):
            gain = gain / (1.0 + (low / np.maximum(f, 1e-9)) ** (2 * order))
    return gain**2


def band_analytic(x: np.ndarray, bands: list[tuple[float, float]], fs: int = ANALYSIS_RATE) -> list[np.ndarray]:
    """Analytic signals of ``x`` zero-phase band-passed to each band: one FFT, one inverse FFT per band."""
    n = len(x)
    nfft = next_fast_len(n)
    spec = np.fft.rfft(x - x.mean(), nfft)
    freqs = np.fft.rfftfreq(nfft, 1.0 / fs)
    weight = np.full(len(spec), 2.0)
    weight[0] = 1.0
    if nfft % 2 == 0:
        weight[-1] = 1.0
    out = []
    full = np.zeros(nfft, dtype=np.complex128)
    for low, high in bands:
        full[: len(spec)] = spec * weight * zero_phase_gain(freqs, low, high)
        out.append(np.fft.ifft(full)[:n])
    return out


def frame_means(v: np.ndarray, fs: int = ANALYSIS_RATE) -> np.ndarray:
    """Average over consecutive 20 ms blocks -> one value per :data:`FEATURE_RATE` frame."""
    hop = fs // FEATURE_RATE
    m = len(v) // hop
    return v[: m * hop].reshape(m, hop).mean(axis=1)


def _standardise(v: np.ndarray) -> np.ndarray:
    sd = v.std()
    return (v - v.mean()) / (sd if sd > 1e-12 else 1.0)


_HOMOMORPHIC_SOS = signal.butter(1, 8.0, btype="lowpass", fs=FEATURE_RATE, output="sos")


def envelope_features(x: np.ndarray, fs: int = ANALYSIS_RATE) -> np.ndarray:
    """Springer-style envelopes at 50 Hz, shape (n_frames, 5), each column standardised:

    0 homomorphic envelope (8 Hz low-passed log Hilbert envelope of the 25-400 Hz signal),
    1 Hilbert envelope (25-400 Hz), 2 band envelope 60-150 Hz, 3 power envelope 40-60 Hz,
    4 high-band envelope 150-400 Hz (S2 is usually higher pitched than S1; helps fast infant hearts).
    """
    wide, mid, low, high = band_analytic(x, [(25.0, 400.0), (60.0, 150.0), (40.0, 60.0), (150.0, 400.0)], fs)
    hilb = np.abs(wide)
    floor = 1e-8 * (hilb.max() + 1e-20)
    log_env = frame_means(np.log(hilb + floor), fs)
    if len(log_env) > 9:
        log_env = signal.sosfiltfilt(_HOMOMORPHIC_SOS, log_env)
    cols = [
        np.exp(log_env),
        frame_means(hilb, fs),
        frame_means(np.abs(mid), fs),
        np.sqrt(frame_means(np.abs(low) ** 2, fs)),
        frame_means(np.abs(high), fs),
    ]
    return np.stack([_standardise(c) for c in cols], axis=1)


def autocorrelation(v: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation (lag 0 == 1) via FFT."""
    v = v - v.mean()
    n = len(v)
    spec = np.fft.rfft(v, n=next_fast_len(2 * n))
    ac = np.fft.irfft(np.abs(spec) ** 2)[:n]
    return ac / ac[0] if ac[0] > 0 else ac

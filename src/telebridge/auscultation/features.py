"""Per-recording murmur features aligned on the HSMM segmentation.

Murmurs add sound between the heart sounds, so the core features are band energies of
(the inner part of) systole and diastole relative to the S1 and S2 energies of the same
beat, in dB, summarised across beats (median, upper quartile, spread). Everything is a
ratio, so stethoscope gain does not matter.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from .dsp import ANALYSIS_RATE
from .quality import QualityResult
from .segmentation import Segmentation

BANDS = ((25, 50), (50, 100), (100, 150), (150, 200), (200, 300), (300, 400), (400, 600), (600, 800))
HOP = 20  # samples -> 10 ms spectrogram frames
NPERSEG = 128
RATIOS = (("sys", "s1"), ("sys", "s2"), ("dia", "s1"), ("dia", "s2"), ("sys", "dia"))
STATS = ("med", "q75", "iqr")
MURMUR_BAND = (2, 3, 4, 5)  # 100-400 Hz bands used for timing / shape summaries


def _band_names() -> list[str]:
    return [f"{lo}_{hi}" for lo, hi in BANDS]


def feature_names() -> list[str]:
    names = [f"{a}_{b}_{band}_{st}" for a, b in RATIOS for band in _band_names() for st in STATS]
    names += [f"sys_third{k}_s1_{st}" for k in range(3) for st in ("med", "q75")]
    names += [f"dia_third{k}_s2_{st}" for k in range(3) for st in ("med", "q75")]
    names += ["sys_centroid_med", "dia_centroid_med", "s1_centroid_med", "sys_flat_med", "dia_flat_med"]
    names += ["sys_consistency", "dia_consistency", "sys_excess_frac", "dia_excess_frac"]
    names += [f"spec_shape_{b}" for b in _band_names()]
    names += ["heart_rate", "n_beats_per_10s", "seg_confidence", "seg_loglik", "sys_fraction"]
    names += ["q_log_rms", "q_clip", "q_noise_ratio", "q_flatness", "q_periodicity"]
    return names


N_FEATURES = len(feature_names())


def _band_power(x: np.ndarray, fs: int) -> tuple[np.ndarray, np.ndarray]:
    """Spectrogram power per band, (n_frames, n_bands), plus per-frame centroid/flatness inputs."""
    f, _, spec = signal.stft(x, fs=fs, nperseg=NPERSEG, noverlap=NPERSEG - HOP, boundary=None, padded=False)
    power = np.abs(spec) ** 2  # (freq, frames)
    bands = np.stack([power[(f >= lo) & (f < hi)].sum(axis=0) for lo, hi in BANDS], axis=1)
    return bands + 1e-12, power


def _interval_means(cum: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Mean over frames [start, end) for each interval, from a cumulative sum with a leading zero row."""
    end = np.maximum(end, start + 1)
    return (cum[end] - cum[start]) / (end - start)[:, None]


def _summ(values: np.ndarray) -> np.ndarray:
    """median, q75, IQR across beats for each column."""
    q25, q50, q75 = np.percentile(values, [25, 50, 75], axis=0)
    return np.stack([q50, q75, q75 - q25], axis=-1)


def recording_features(x: np.ndarray, seg: Segmentation, quality: QualityResult, fs: int = ANALYSIS_RATE) -> np.ndarray:
    """Feature vector (length :data:`N_FEATURES`, NaN where undefined) for one recording."""
    out = np.full(N_FEATURES, np.nan)
    bands, power = _band_power(x - x.mean(), fs)  # the band sums below ignore < 25 Hz and > 800 Hz
    n_frames = len(bands)
    cum = np.vstack([np.zeros((1, bands.shape[1])), np.cumsum(bands, axis=0)])
    beats = np.clip(seg.beats(fs) // HOP - NPERSEG // (2 * HOP), 0, n_frames)  # sample -> frame index
    beats = beats[(beats[:, 4] - beats[:, 0] >= 8) & (beats[:, 4] < n_frames)]
    pos = 0
    n_ratio = len(RATIOS) * len(BANDS) * len(STATS)
    n_thirds = 12
    if len(beats) >= 2:
        s1, s2 = beats[:, 0:2], beats[:, 2:4]
        sys_len, dia_len = beats[:, 2] - beats[:, 1], beats[:, 4] - beats[:, 3]
        sys_in = (beats[:, 1] + sys_len // 8, beats[:, 2] - sys_len // 8)
        dia_in = (beats[:, 3] + dia_len // 8, beats[:, 4] - dia_len // 8)
        db = {
            "s1": 10 * np.log10(_interval_means(cum, s1[:, 0], s1[:, 1])),
            "s2": 10 * np.log10(_interval_means(cum, s2[:, 0], s2[:, 1])),
            "sys": 10 * np.log10(_interval_means(cum, *sys_in)),
            "dia": 10 * np.log10(_interval_means(cum, *dia_in)),
        }
        ratios = np.stack([db[a] - db[b] for a, b in RATIOS], axis=1)  # (beats, ratios, bands)
        out[pos : pos + n_ratio] = _summ(ratios).reshape(-1)
        thirds = []
        for start, length, ref in ((beats[:, 1], sys_len, "s1"), (beats[:, 3], dia_len, "s2")):
            mb = list(MURMUR_BAND)
            for k in range(3):
                a, b = start + (k * length) // 3, start + ((k + 1) * length) // 3
                e = 10 * np.log10(_interval_means(cum, a, b)[:, mb].sum(axis=1))
                r = e - 10 * np.log10((10 ** (db[ref][:, mb] / 10)).sum(axis=1))
                thirds += [np.median(r), np.percentile(r, 75)]
        out[pos + n_ratio : pos + n_ratio + n_thirds] = thirds
        extra = _spectral_shape_stats(power, beats, sys_in, dia_in)
        sys_mb = ratios[:, 4, 2:6].mean(axis=1)  # systole vs diastole, 100-400 Hz
        dia_mb = ratios[:, 3, 2:6].mean(axis=1)  # diastole vs S2
        consistency = [
            float(np.median(sys_mb) / (np.std(sys_mb) + 1.0)),
            float(np.median(dia_mb) / (np.std(dia_mb) + 1.0)),
        ]
        excess = [float(np.mean(sys_mb > 6.0)), float(np.mean(ratios[:, 3, 2:6].mean(axis=1) > -6.0))]
        out[pos + n_ratio + n_thirds : pos + n_ratio + n_thirds + 9] = extra + consistency + excess
    pos = pos + n_ratio + n_thirds + 9
    total = bands[:, : len(BANDS)].mean(axis=0)
    out[pos : pos + len(BANDS)] = 10 * np.log10(total / total.sum())
    pos += len(BANDS)
    sys_frac = float(np.mean(seg.states == 1)) if len(seg.states) else np.nan
    duration = len(x) / fs
    out[pos : pos + 5] = [seg.heart_rate_bpm, 10 * len(beats) / duration, seg.confidence, seg.log_likelihood, sys_frac]
    out[pos + 5 : pos + 10] = quality.metrics
    return out


def _spectral_shape_stats(power: np.ndarray, beats: np.ndarray, sys_in: tuple, dia_in: tuple) -> list[float]:
    """Median spectral centroid (Hz) of systole, diastole and S1, and spectral flatness of systole/diastole."""
    freqs = np.linspace(0, ANALYSIS_RATE / 2, power.shape[0])
    keep = (freqs >= 25) & (freqs <= 800)
    p = power[keep].T + 1e-12  # (frames, freqs)
    cum = np.vstack([np.zeros((1, p.shape[1])), np.cumsum(p, axis=0)])
    logcum = np.vstack([np.zeros((1, p.shape[1])), np.cumsum(np.log(p), axis=0)])
    f = freqs[keep]
    res = []
    spans = {"sys": sys_in, "dia": dia_in, "s1": (beats[:, 0], beats[:, 1])}
    for name in ("sys", "dia", "s1"):
        spec = _interval_means(cum, *spans[name])
        res.append(float(np.median((spec * f).sum(axis=1) / spec.sum(axis=1))))
    for name in ("sys", "dia"):
        spec = _interval_means(cum, *spans[name])
        geo = np.exp(_interval_means(logcum, *spans[name]))
        res.append(float(np.median(geo.mean(axis=1) / spec.mean(axis=1))))
    return res

"""Quality gate: rejects unusable input with the right machine-readable reason."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from telebridge.auscultation.data import load_directory
from telebridge.auscultation.dsp import load_audio
from telebridge.auscultation.quality import MESSAGES, assess_quality


def test_synthetic_heart_sound_passes(pcg: np.ndarray) -> None:
    q = assess_quality(pcg)
    assert q.ok and q.code == "ok", q


def test_silence_rejected() -> None:
    x = np.random.default_rng(1).normal(0, 1e-6, 20 * 2000)
    q = assess_quality(x)
    assert not q.ok and q.code == "silence"
    assert q.message == MESSAGES["silence"]


def test_clipping_rejected(pcg: np.ndarray) -> None:
    q = assess_quality(np.clip(pcg * 40, -1.0, 1.0))
    assert not q.ok and q.code == "clipping"


def test_white_noise_rejected() -> None:
    for seed in range(3):
        x = np.random.default_rng(seed).normal(0, 0.1, 20 * 2000)
        q = assess_quality(x)
        assert not q.ok and q.code in {"noisy", "no_heartbeat"}, q
    assert assess_quality(np.random.default_rng(5).normal(0, 0.1, 20 * 2000)).code == "noisy"


def test_too_short_rejected(pcg: np.ndarray) -> None:
    q = assess_quality(pcg[: 3 * 2000])
    assert not q.ok and q.code == "too_short"


def test_real_recordings_accepted_quickly(circor_dir: Path) -> None:
    patients = load_directory(circor_dir)[:8]
    recs = [r for p in patients for r in p.recordings]
    results, slowest = [], 0.0
    for rec in recs:
        x = load_audio(rec.audio_path).samples
        t0 = time.perf_counter()
        results.append(assess_quality(x).ok)
        slowest = max(slowest, time.perf_counter() - t0)
    assert np.mean(results) >= 0.8, results
    assert slowest < 0.5

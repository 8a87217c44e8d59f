"""Fixtures for the auscultation tests: the shared CirCor dev data and synthetic heart sounds."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.auscultation.server import ausc_server  # noqa: F401  (a live server for the workflow tests)
from tests.browser.conftest import browser  # noqa: F401  (Chromium for the end-to-end test)

DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "circor-dev"
ON_CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="session")
def circor_dir() -> Path:
    """The real dev data; skipped locally when absent, a failure on CI."""
    if not (DATA_DIR / "README.md").is_file():
        message = f"CirCor dev data not found at {DATA_DIR}"
        if ON_CI:
            pytest.fail(message)
        pytest.skip(message)
    return DATA_DIR


def synthetic_pcg(seconds: float = 10.0, fs: int = 2000, bpm: float = 80.0, seed: int = 0) -> np.ndarray:
    """Heart-like test signal: decaying low-frequency bursts for S1 and S2 plus light noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    x = np.zeros_like(t)
    cycle = 60.0 / bpm
    for start in np.arange(0.1, seconds - cycle, cycle):
        for offset, freq, dur, amp in ((0.0, 55.0, 0.10, 0.5), (0.33 * cycle + 0.05, 80.0, 0.07, 0.35)):
            m = (t >= start + offset) & (t < start + offset + dur)
            tt = t[m] - start - offset
            x[m] += amp * np.sin(2 * np.pi * freq * tt) * np.exp(-tt / (dur / 3))
    return x + rng.normal(0, 0.003, len(t))


@pytest.fixture()
def pcg() -> np.ndarray:
    return synthetic_pcg()

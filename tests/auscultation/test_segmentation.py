"""HSMM segmentation against the expert .tsv annotations (held-out recordings only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from telebridge.auscultation.data import load_directory, read_segmentation
from telebridge.auscultation.dsp import FEATURE_RATE, load_audio
from telebridge.auscultation.model import default_model
from telebridge.auscultation.segmentation import duration_log_pmf, segmentation_scores, viterbi_hsmm
from telebridge.auscultation.training import segmenter_split


def test_onset_f1_on_held_out_sample(circor_dir: Path) -> None:
    _, held_out = segmenter_split(load_directory(circor_dir))
    sample = held_out[:: max(1, len(held_out) // 12)][:12]
    items = [(load_audio(r.audio_path).samples, read_segmentation(r.segmentation_path)) for r in sample]
    scores = segmentation_scores(default_model().segmenter, items)
    assert scores["f1"] >= 0.80, scores
    assert scores["heart_rate_within_10pct"] >= 0.7, scores


def test_viterbi_recovers_clean_cycle() -> None:
    """A noiseless emission pattern is decoded exactly, at an infant heart rate (150 bpm)."""
    params = default_model().segmenter.params
    cycle_frames = 20  # 0.4 s at 50 Hz
    pattern = np.array([0] * 3 + [1] * 5 + [2] * 3 + [3] * 9)
    truth = np.tile(pattern, 12)
    log_b = np.full((len(truth), 4), np.log(0.02))
    log_b[np.arange(len(truth)), truth] = np.log(0.94)
    log_d, log_s = duration_log_pmf(params, np.array([cycle_frames / FEATURE_RATE]))
    states, _, _ = viterbi_hsmm(log_b, log_d, log_s)
    assert np.mean(states == truth) > 0.97


def test_segmentation_reports_heart_rate(pcg: np.ndarray) -> None:
    seg = default_model().segmenter.segment(pcg)
    assert 70 <= seg.heart_rate_bpm <= 90
    assert len(seg.states) == len(pcg) // 40

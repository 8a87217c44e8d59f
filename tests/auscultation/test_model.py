"""Public API: determinism, result fields, and low quality never giving 'Absent'."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from telebridge.auscultation import DISCLAIMER, analyze_exam, analyze_recording
from telebridge.auscultation.data import load_directory
from telebridge.auscultation.dsp import load_audio


def test_predictions_are_deterministic(circor_dir: Path) -> None:
    patient = load_directory(circor_dir)[0]
    recs = [(load_audio(r.audio_path).samples, 2000, r.site) for r in patient.recordings]
    first, second = analyze_exam(recs), analyze_exam(recs)
    assert first.to_dict() == second.to_dict()
    assert first.murmur in {"Present", "Unknown", "Absent"}
    assert 0.0 <= first.probability_present <= 1.0
    assert first.disclaimer == DISCLAIMER and "not a diagnosis" in first.disclaimer
    assert first.model_version.startswith("telebridge-murmur")
    json.dumps(first.to_dict())  # the web layer serialises results as JSON
    if first.murmur == "Present":
        assert first.sites and first.timing in {"systolic", "diastolic"}


def test_recording_result_fields(pcg: np.ndarray) -> None:
    res = analyze_recording(pcg, 2000, "MV")
    assert res.usable and res.heart_rate_bpm is not None
    assert res.segments and {s for _, _, s in res.segments} <= {1, 2, 3, 4}
    assert res.murmur in {"Present", "Absent"}
    assert set(res.to_dict()) >= {"site", "quality", "heart_rate_bpm", "segments", "probability_present", "timing"}


def test_low_quality_is_never_absent() -> None:
    rng = np.random.default_rng(0)
    silence = rng.normal(0, 1e-6, 15 * 4000)
    noise = rng.normal(0, 0.2, 15 * 4000)
    exam = analyze_exam([(silence, 4000, "AV"), (noise, 4000, "MV")])
    assert exam.murmur == "Unknown"
    assert {r.murmur for r in exam.recordings} == {"Unknown"}
    assert {r.quality["code"] for r in exam.recordings} == {"silence", "noisy"}
    assert exam.reasons


def test_bad_arrays_raise_domain_errors() -> None:
    import pytest

    from telebridge.auscultation import AudioError

    for samples, code in ((np.zeros(3000), "too_short"), (np.full(40000, np.nan), "broken_file")):
        with pytest.raises(AudioError) as err:
            analyze_recording(samples, 2000, "AV")
        assert err.value.code == code
    with pytest.raises(AudioError) as err:
        analyze_exam([])
    assert err.value.code == "no_recordings"

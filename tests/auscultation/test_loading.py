"""Audio loading: formats, channels, bit depths, rates, and clean errors for bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from telebridge.auscultation.dsp import ANALYSIS_RATE, AudioError, load_audio, resample

from .conftest import synthetic_pcg


def _write(path: Path, x: np.ndarray, fs: int, subtype: str, fmt: str | None = None) -> Path:
    sf.write(str(path), x, fs, subtype=subtype, format=fmt)
    return path


def test_stereo_is_mixed_to_mono(tmp_path: Path) -> None:
    x = synthetic_pcg(8.0)
    stereo = np.stack([x, 0.5 * x], axis=1) * 0.5
    audio = load_audio(_write(tmp_path / "s.wav", stereo, 2000, "PCM_16"))
    assert audio.source_channels == 2
    assert audio.samples.ndim == 1
    assert np.allclose(audio.samples, 0.375 * x, atol=2e-3)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "FLOAT"])
def test_bit_depths(tmp_path: Path, subtype: str) -> None:
    x = resample(synthetic_pcg(8.0), 2000, 4000) * 0.8
    audio = load_audio(_write(tmp_path / f"{subtype}.wav", x, 4000, subtype))
    assert audio.sample_rate == ANALYSIS_RATE
    assert abs(audio.duration - 8.0) < 0.01
    ref = resample(x, 4000)
    tol = 0.02 if subtype == "PCM_U8" else 1e-3
    assert np.max(np.abs(audio.samples - ref)) < tol


@pytest.mark.parametrize("fmt,rate", [("FLAC", 44100), ("WAV", 44100), ("MP3", 44100), ("WAV", 8000)])
def test_any_rate_and_format_is_resampled(tmp_path: Path, fmt: str, rate: int) -> None:
    x = resample(synthetic_pcg(6.0), 2000, rate) * 0.5
    subtype = "MPEG_LAYER_III" if fmt == "MP3" else "PCM_16"
    path = _write(tmp_path / f"a.{fmt.lower()}", x, rate, subtype, fmt)
    audio = load_audio(path)
    assert audio.source_rate == rate and audio.sample_rate == ANALYSIS_RATE
    assert abs(audio.duration - 6.0) < 0.1


def test_bytes_input(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.flac", synthetic_pcg(6.0), 2000, "PCM_16")
    assert load_audio(path.read_bytes()).duration == pytest.approx(6.0, abs=0.01)


def test_two_second_clip_is_too_short(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as err:
        load_audio(_write(tmp_path / "short.wav", synthetic_pcg(2.0), 2000, "PCM_16"))
    assert err.value.code == "too_short"


def test_text_file_is_not_audio(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("this is a clinical note, not a recording\n" * 20)
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert err.value.code == "not_audio"
    assert "Traceback" not in err.value.message


def test_truncated_flac_is_broken(tmp_path: Path) -> None:
    buf = io.BytesIO()
    sf.write(buf, synthetic_pcg(10.0), 2000, format="FLAC", subtype="PCM_16")
    data = buf.getvalue()
    path = tmp_path / "cut.flac"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert err.value.code == "broken_file"


def test_empty_and_missing(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError) as err:
        load_audio(tmp_path / "empty.wav")
    assert err.value.code == "empty"
    with pytest.raises(AudioError) as err:
        load_audio(tmp_path / "missing.wav")
    assert err.value.code == "not_found"

"""The domain's CPU helpers: MP3 frame-chain check, listening copies, stream buffering."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from telebridge.auscultation.dsp import AudioError
from telebridge.auscultation.tasks import LiveAnalysis, _mp3_frames_intact, decode, pcm_to_wav, playable

from .conftest import synthetic_pcg


def _mp3(seconds: float = 8.0) -> bytes:
    x = np.repeat(synthetic_pcg(seconds, fs=2000), 11)  # a 22.05 kHz signal (MP3 needs a standard rate)
    out = io.BytesIO()
    sf.write(out, x * 0.5, 22050, format="MP3")
    return out.getvalue()


def test_mp3_frame_chain() -> None:
    good = _mp3()
    assert _mp3_frames_intact(good)
    tag = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10  # a 10-byte ID3v2 tag in front
    assert _mp3_frames_intact(tag + good)
    assert _mp3_frames_intact(good + b"\x00" * 64)  # zero padding after the last frame
    broken = bytearray(good)
    broken[len(good) // 2:len(good) // 2 + 200] = b"\xaa" * 200
    assert not _mp3_frames_intact(bytes(broken))
    assert not _mp3_frames_intact(good[: len(good) - 100])  # cut inside a frame
    with pytest.raises(AudioError) as err:
        decode(bytes(broken))
    assert err.value.code == "broken_mp3"


def test_stream_buffer_and_wav() -> None:
    live = LiveAnalysis("MV", 4000, 2, step_s=2.0)
    pcm = (np.random.default_rng(0).normal(0, 0.1, (4000 * 6, 2)) * 32767).astype("<i2").tobytes()
    live.add(pcm[: 4000 * 4 * 4])  # 4 s of stereo
    assert live.seconds == pytest.approx(4.0) and not live.due()
    live.add(pcm[4000 * 4 * 4:])
    assert live.due()
    _data, frames = live.snapshot()
    assert frames == 4000 * 6 and not live.due()
    with pytest.raises(AudioError):
        live.add(b"\x00\x00\x00")  # not whole stereo frames
    back, rate = sf.read(io.BytesIO(pcm_to_wav(live.pcm, 4000, 2)), dtype="int16")
    assert rate == 4000 and back.shape == (4000 * 6, 2) and back.tobytes() == pcm


def test_listening_copy_only_when_browsers_cannot_play() -> None:
    low = io.BytesIO()
    sf.write(low, synthetic_pcg(6.0), 2000, format="FLAC")
    data, media = playable(low.getvalue(), "audio/flac")
    copy, rate = sf.read(io.BytesIO(data))
    assert media == "audio/wav" and rate == 8000 and len(copy) == 4 * 6 * 2000
    high = _mp3()
    assert playable(high, "audio/mpeg") == (high, "audio/mpeg")

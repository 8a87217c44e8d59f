"""CPU work of the auscultation domain, run off the event loop (``run_cpu``): decoding and
analysing a recording, the waveform/spectrogram shown on the exam page, and the live analysis
of a streamed recording. Pure functions of bytes and arrays: no database, no subject."""

from __future__ import annotations

import asyncio
import io
import json
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from typing import Any, TypeVar

import numpy as np
import soundfile as sf
from PIL import Image
from scipy import signal

from telebridge.auscultation.dsp import ANALYSIS_RATE, MIN_DURATION_S, AudioError, load_audio, resample
from telebridge.auscultation.model import RecordingResult, default_model

T = TypeVar("T")
# Analyses are short (tens of ms) but CPU-bound: a small dedicated pool keeps the event loop free
# and bounds how many run at once on a small machine.
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="auscultation")


async def run_cpu(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_POOL, partial(fn, *args, **kwargs))


@dataclass(frozen=True)
class Analysed:
    result: RecordingResult
    source_rate: int
    channels: int
    duration_s: float


# --------------------------------------------------------------------------- decoding

_MP3_BITRATES = {  # kbit/s by (MPEG-1?, bitrate index), layer III
    True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_frames_intact(data: bytes) -> bool:
    """Walk the MPEG layer III frame chain: every frame must start where the previous one ended.
    libmpg123 silently skips a damaged frame (and often everything after it); we refuse instead."""
    pos = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F)
        pos = 10 + size + (10 if data[5] & 0x10 else 0)
    end = len(data) - (128 if data[-128:-125] == b"TAG" else 0)
    frames = 0
    while pos + 4 <= end:
        (header,) = struct.unpack(">I", data[pos:pos + 4])
        if header >> 21 != 0x7FF:
            # Trailing padding (zeros) or an APE tag after a complete chain is not damage.
            rest = data[pos:end]
            return frames > 0 and (not rest.strip(b"\x00") or rest.startswith((b"APETAGEX", b"LYRICS")))
        version, layer = header >> 19 & 3, header >> 17 & 3
        bitrate_index, rate_index, padding = header >> 12 & 15, header >> 10 & 3, header >> 9 & 1
        if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
            return False
        mpeg1 = version == 3
        rate = _MP3_RATES[version][rate_index]
        length = (144 if mpeg1 else 72) * _MP3_BITRATES[mpeg1][bitrate_index] * 1000 // rate + padding
        if pos + length > end:
            return False  # truncated in the middle of a frame
        pos += length
        frames += 1
    return frames > 0


def decode(data: bytes) -> tuple[np.ndarray, int, int]:
    """(mono samples at the analysis rate, source rate, source channels); AudioError if unusable."""
    try:
        info = sf.info(io.BytesIO(data))
    except sf.LibsndfileError:
        raise AudioError("not_audio", "The file is not a supported audio format (WAV, FLAC, MP3).") from None
    except (RuntimeError, ValueError, EOFError, TypeError):
        raise AudioError("broken_file", "The audio file is damaged or truncated.") from None
    if info.format not in ("WAV", "WAVEX", "RF64", "FLAC", "MP3"):
        raise AudioError("not_audio", "The file is not a supported audio format (WAV, FLAC, MP3).")
    if info.format == "MP3" and not _mp3_frames_intact(data):
        raise AudioError("broken_mp3", "The MP3 file has a damaged frame.")
    audio = load_audio(data)
    return audio.samples, audio.source_rate, audio.source_channels


def decode_and_analyse(data: bytes, site: str) -> Analysed:
    samples, rate, channels = decode(data)
    result = default_model().analyze_recording(samples, ANALYSIS_RATE, site)
    return Analysed(result, rate, channels, round(len(samples) / ANALYSIS_RATE, 3))


def pcm_to_wav(pcm: bytes, rate: int, channels: int) -> bytes:
    """Little-endian 16-bit PCM (interleaved) as a WAV file, for storing a streamed recording."""
    frames = np.frombuffer(pcm, dtype="<i2").reshape(-1, channels)
    out = io.BytesIO()
    sf.write(out, frames, rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


# --------------------------------------------------------------------------- display

MIN_PLAYBACK_RATE = 8000  # browsers refuse audio below ~3 kHz (CirCor is 2 kHz); 8 kHz plays everywhere


def playable(data: bytes, media_type: str) -> tuple[bytes, str]:
    """The stored original when a browser can play it, else a 16-bit WAV listening copy at 8 kHz
    (same channels and duration; the content of a heart-sound recording is far below 4 kHz)."""
    info = sf.info(io.BytesIO(data))
    if info.samplerate >= MIN_PLAYBACK_RATE:
        return data, media_type
    x, rate = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
    g = np.gcd(MIN_PLAYBACK_RATE, rate)
    y = signal.resample_poly(x, MIN_PLAYBACK_RATE // g, rate // g, axis=0)
    out = io.BytesIO()
    sf.write(out, np.clip(y, -1, 1), MIN_PLAYBACK_RATE, format="WAV", subtype="PCM_16")
    return out.getvalue(), "audio/wav"


def pack_segments(segments: list[tuple[float, float, int]]) -> str:
    return json.dumps([[round(a * 100), round(b * 100), int(s)] for a, b, s in segments], separators=(",", ":"))


def unpack_segments(text: str) -> list[tuple[float, float, int]]:
    return [(a / 100, b / 100, s) for a, b, s in json.loads(text or "[]")]


def beats(segments: list[tuple[float, float, int]]) -> list[tuple[float, float]]:
    """(start, end) of each complete heart cycle: from one S1 onset to the next."""
    onsets = [a for a, _b, s in segments if s == 1]
    return [(round(a, 3), round(b, 3)) for a, b in pairwise(onsets)]


def waveform(data: bytes, points: int = 1600) -> dict[str, Any]:
    """Min/max peaks of the analysis-rate signal (normalised) for drawing, and the duration."""
    samples, _rate, _channels = decode(data)
    x = samples - samples.mean()
    peak = float(np.max(np.abs(x))) or 1.0
    n = max(1, len(x) // points)
    m = len(x) // n
    blocks = (x[: m * n] / peak).reshape(m, n)
    return {"duration": round(len(x) / ANALYSIS_RATE, 3), "min": np.round(blocks.min(axis=1), 3).tolist(),
            "max": np.round(blocks.max(axis=1), 3).tolist()}


def _colormap() -> np.ndarray:
    """A perceptually ordered dark-blue → yellow map (256 × RGB)."""
    stops = np.array([[13, 8, 135], [84, 2, 163], [139, 10, 165], [185, 50, 137], [219, 92, 104],
                      [244, 136, 73], [254, 188, 43], [240, 249, 33]], dtype=np.float64)
    pos = np.linspace(0, 1, len(stops))
    t = np.linspace(0, 1, 256)
    return np.stack([np.interp(t, pos, stops[:, c]) for c in range(3)], axis=1).astype(np.uint8)


_CMAP = _colormap()


def spectrogram_png(data: bytes, max_hz: float = 800.0, height: int = 160, width: int = 1200) -> bytes:
    """Spectrogram (0 to ``max_hz``, dB, 60 dB range) as a PNG whose x axis spans the recording."""
    samples, _rate, _channels = decode(data)
    f, _t, sxx = signal.spectrogram(samples, fs=ANALYSIS_RATE, nperseg=128, noverlap=112, window="hann")
    sxx = sxx[f <= max_hz]
    db = 10 * np.log10(sxx + 1e-12)
    top = np.percentile(db, 99.5)
    level = np.clip((db - (top - 60.0)) / 60.0, 0, 1)
    rgb = _CMAP[(level[::-1] * 255).astype(np.uint8)]
    image = Image.fromarray(rgb, "RGB").resize((width, height), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(out, format="PNG", optimize=True)
    return out.getvalue()


# --------------------------------------------------------------------------- live stream

class LiveAnalysis:
    """Accumulates a streamed recording (16-bit PCM) and re-analyses it every ``step_s`` of new audio."""

    MAX_SECONDS = 600.0

    def __init__(self, site: str, rate: int, channels: int, step_s: float = 2.0) -> None:
        self.site, self.rate, self.channels, self.step_s = site, rate, channels, step_s
        self._pcm = bytearray()
        self._analysed_frames = 0

    @property
    def frames(self) -> int:
        return len(self._pcm) // (2 * self.channels)

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    @property
    def pcm(self) -> bytes:
        return bytes(self._pcm)

    def add(self, chunk: bytes) -> None:
        if len(chunk) % (2 * self.channels):
            raise AudioError("bad_chunk", "A chunk must hold whole 16-bit frames.")
        if (len(self._pcm) + len(chunk)) / (2 * self.channels) / self.rate > self.MAX_SECONDS:
            raise AudioError("too_long", "The recording is too long.")
        self._pcm.extend(chunk)

    def due(self) -> bool:
        """Enough audio for a first analysis, and enough new audio since the last one."""
        new = (self.frames - self._analysed_frames) / self.rate
        return self.seconds >= MIN_DURATION_S and (self._analysed_frames == 0 or new >= self.step_s)

    def snapshot(self) -> tuple[bytes, int]:
        self._analysed_frames = self.frames
        return self.pcm, self.frames

    def analyse(self, pcm: bytes) -> RecordingResult:
        """Analyse a snapshot (in a worker thread)."""
        x = np.frombuffer(pcm, dtype="<i2").reshape(-1, self.channels).astype(np.float64).mean(axis=1) / 32768.0
        return default_model().analyze_recording(resample(x, self.rate), ANALYSIS_RATE, self.site)

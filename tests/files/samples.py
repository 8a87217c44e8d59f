"""Small real files of every accepted kind, made here (no downloads)."""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image


def _colour() -> tuple[int, int, int]:
    """Every sample is new content: tests share one database but each has its own object store."""
    import random

    return (random.randrange(256), random.randrange(256), random.randrange(256))


def jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, _colour()).save(out, format="JPEG")
    return out.getvalue()


def png(size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, _colour()).save(out, format="PNG")
    return out.getvalue()


def pdf() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (200, 280), _colour()).save(out, format="PDF")
    return out.getvalue()


def wav(seconds: float = 0.5, rate: int = 8000, freq: float | None = None) -> bytes:
    """A sine tone; a random frequency by default, so that every call is new content (and tests
    sharing one database, each with its own object store, never share a blob)."""
    import random

    import soundfile as sf

    freq = freq or random.uniform(0.5, 3.0)
    t = np.arange(int(seconds * rate)) / rate
    out = io.BytesIO()
    sf.write(out, (0.5 * np.sin(2 * np.pi * freq * t) * (0.5 + random.random() / 2)).astype("float32"), rate, format="WAV")
    return out.getvalue()


def dicom_like() -> bytes:
    import os

    return b"\x00" * 128 + b"DICM" + struct.pack("<HHI", 2, 0, 4) + os.urandom(64)


def mp4_head() -> bytes:
    import os

    return struct.pack(">I", 24) + b"ftypisom" + b"\x00\x00\x02\x00isomiso2" + os.urandom(100)


def text() -> bytes:
    return "Huyết áp 120/80 mmHg; mạch 78 lần/phút.\n".encode()

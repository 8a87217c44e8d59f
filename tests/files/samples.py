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


# Poster-frame tests: four quadrants of known colours (top left, top right, bottom left, bottom right).
QUADRANTS = ((220, 30, 30), (30, 200, 40), (30, 40, 220), (235, 235, 235))
_VIDEO = {"mp4": ("mp4", "libx264"), "webm-vp8": ("webm", "libvpx"), "webm-vp9": ("webm", "libvpx-vp9")}


def quadrant_picture(width: int = 160, height: int = 120) -> np.ndarray:
    picture = np.empty((height, width, 3), np.uint8)
    h, w = height // 2, width // 2
    for i, colour in enumerate(QUADRANTS):
        picture[(i // 2) * h:(i // 2 + 1) * h, (i % 2) * w:(i % 2 + 1) * w] = colour
    return picture


def video(codec: str = "mp4", *, frames: int = 12, fps: int = 10, black_frames: int = 0,
          size: tuple[int, int] = (160, 120)) -> bytes:
    """A real short video made with PyAV (H.264 in MP4, VP8 or VP9 in WebM): ``black_frames`` black
    frames, then the quadrant picture with a moving marker line (so every call is new content)."""
    import random

    import av

    container_format, encoder = _VIDEO[codec]
    width, height = size
    picture = quadrant_picture(width, height)
    out = io.BytesIO()
    with av.open(out, mode="w", format=container_format) as container:
        stream = container.add_stream(encoder, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        row = random.randrange(1, height // 8)  # far from the quadrant centres the tests look at
        for i in range(black_frames + frames):
            if i < black_frames:
                image = np.zeros_like(picture)
            else:
                image = picture.copy()
                image[row, :] = (i * 7 % 256, 0, 0)  # a thin line: new content, the quadrants unchanged
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()

"""Background jobs of the files domain: previews (image thumbnails, first page of a PDF, audio
waveforms, video poster frames).

A preview's status ends as ``ready``, ``none`` (nothing to show: e.g. a video without a picture
track, or a file too large to look at) or ``failed`` (the content could not be decoded: a broken
or truncated file, or one that crashed its decoder, ran past the time or memory limits). The file
itself is stored and downloadable whatever happens here.

The renderers decode untrusted content with native libraries: they run in the sandbox's worker
processes (:mod:`telebridge.files.sandbox`), never in the app process.
"""

from __future__ import annotations

import hashlib
import io
import logging
import uuid
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from telebridge.files import blobs
from telebridge.files import repository as repo
from telebridge.files.runtime import get_runtime
from telebridge.files.sandbox import SandboxClosed
from telebridge.kit import audit
from telebridge.kit.jobs import JobContext, job

log = logging.getLogger("telebridge.files.previews")

SIZE = (320, 320)
WAVE = (640, 160)
MAX_INPUT = 200 * 1024 * 1024
VIDEO_PREFIX = 64 * 1024 * 1024  # a longer video's poster is looked for in its first 64 MB
VIDEO_KINDS = frozenset({"mp4", "webm"})
MAX_VIDEO_PIXELS = 8192 * 8192
FADE_IN_SECONDS = 2.0  # a black or blank opening: look this far for a picture before seeking
BLANK_STDDEV = 4.0  # luma spread under which a frame shows nothing (black, white, a flat colour)
Image.MAX_IMAGE_PIXELS = 120_000_000  # larger images are refused (decompression bombs)


def _png(image: Image.Image) -> bytes:
    image = image.convert("RGB") if image.mode not in ("RGB", "L") else image
    image.thumbnail(SIZE)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def image_thumbnail(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", SIZE)  # JPEG: decode at reduced size
        return _png(im)


def pdf_first_page(data: bytes) -> bytes:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        page = pdf[0]
        width, height = page.get_size()
        scale = min(SIZE[0] / width, SIZE[1] / height) * 2
        image = page.render(scale=scale).to_pil()
        return _png(image)
    finally:
        pdf.close()


def audio_waveform(data: bytes) -> bytes:
    import soundfile as sf

    samples, _rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    mono = samples.mean(axis=1)
    width, height = WAVE
    image = Image.new("RGB", WAVE, "white")
    draw = ImageDraw.Draw(image)
    if mono.size:
        columns = np.array_split(mono, width)
        peak = float(np.max(np.abs(mono))) or 1.0
        mid = height / 2
        for x, col in enumerate(columns):
            if col.size:
                top, bottom = float(col.max()) / peak, float(col.min()) / peak
                draw.line([(x, mid - top * (mid - 2)), (x, mid - bottom * (mid - 2))], fill=(20, 90, 160))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


class NoPicture(Exception):
    """The content has nothing to show (e.g. a video file holding only sound)."""


def _blank(frame: Any) -> bool:
    luma = frame.to_ndarray(format="gray")
    return float(luma.std()) < BLANK_STDDEV


def _poster_frame(container: Any, stream: Any) -> Any:
    """The first key frame; if it is blank, the first picture within FADE_IN_SECONDS, then the
    key frame nearest a tenth of the way in; the first frame if all of them are blank."""
    frames = container.decode(stream)
    first = next(frames, None)
    if first is None:
        raise ValueError("no decodable video frame")
    if not _blank(first):
        return first
    start = first.time or 0.0
    for frame in frames:
        if frame.time is not None and frame.time - start > FADE_IN_SECONDS:
            break
        if not _blank(frame):
            return frame
    duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else (
        container.duration / 1_000_000 if container.duration else 0.0)
    if duration > FADE_IN_SECONDS * 2 and stream.time_base:
        container.seek(int(duration / 10 / stream.time_base), stream=stream)
        later = next(container.decode(stream), None)
        if later is not None and not _blank(later):
            return later
    return first


def video_poster(data: bytes) -> bytes:
    """A poster frame of an MP4 or WebM video (H.264, VP8, VP9, AV1 …), scaled to the thumbnail size."""
    import av

    with av.open(io.BytesIO(data), mode="r") as container:
        stream = next(iter(container.streams.video), None)
        if stream is None:
            raise NoPicture
        ctx = stream.codec_context
        if ctx.width * ctx.height > MAX_VIDEO_PIXELS:
            raise ValueError("video frame too large")
        frame = _poster_frame(container, stream)
        scale = min(SIZE[0] / frame.width, SIZE[1] / frame.height, 1.0)
        width, height = max(2, round(frame.width * scale)), max(2, round(frame.height * scale))
        return _png(frame.reformat(width=width, height=height, format="rgb24").to_image())


RENDERERS = {"jpeg": image_thumbnail, "png": image_thumbnail, "pdf": pdf_first_page,
             "wav": audio_waveform, "flac": audio_waveform, "mp3": audio_waveform,
             "mp4": video_poster, "webm": video_poster}


async def _one(data: bytes) -> Any:
    yield data


@job("files.preview")
async def make_preview(ctx: JobContext, payload: dict[str, Any]) -> None:
    rt = get_runtime()
    async with ctx.sessionmaker() as db:
        file = await repo.get_file(db, uuid.UUID(payload["file_id"]))
        if file is None or file.preview_status != "pending" or file.destroyed_at is not None:
            return
        render = RENDERERS.get(file.kind)
        if render is None or (file.size > MAX_INPUT and file.kind not in VIDEO_KINDS):
            file.preview_status = "none"
            await db.commit()
            return
        blob = await repo.get_blob(db, file.blob_id)
        assert blob is not None
        try:
            whole = file.size <= MAX_INPUT
            data = await (blobs.read_all(rt, blob) if whole else blobs.read_prefix(rt, blob, VIDEO_PREFIX))
            png = await rt.previews.run(render, data)
        except NoPicture:
            file.preview_status = "none"
            await db.commit()
            return
        except SandboxClosed:
            raise  # the app is stopping: the job is run again, the content is not to blame
        except Exception as exc:  # noqa: BLE001 - a broken or hostile file is recorded as such, never retried forever
            log.info("preview failed", extra={"fields": {"file_id": str(file.id), "kind": file.kind,
                                                         "error": type(exc).__name__}})
            file.preview_status = "failed"
            await db.commit()
            return
        preview = await blobs.put(db, rt, source=lambda: _one(png), size=len(png),
                                  sha256=hashlib.sha256(png).hexdigest())
        file.preview_blob_id, file.preview_status = preview.id, "ready"
        audit.record(db, audit.SystemActor(display_name="preview job"), action="preview_build",
                     object_type="clinical_file", object_id=file.id, patient_id=file.patient_id,
                     detail={"kind": file.kind})
        await db.commit()

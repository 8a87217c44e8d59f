"""Background jobs of the files domain: previews (image thumbnails, first page of a PDF, audio
waveforms). Video poster frames are not made: no video decoder ships as a Python wheel here
(the file is still stored and downloadable; its preview status is "none")."""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from telebridge.files import blobs
from telebridge.files import repository as repo
from telebridge.files.runtime import get_runtime
from telebridge.kit import audit
from telebridge.kit.jobs import JobContext, job

SIZE = (320, 320)
WAVE = (640, 160)
MAX_INPUT = 200 * 1024 * 1024
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


RENDERERS = {"jpeg": image_thumbnail, "png": image_thumbnail, "pdf": pdf_first_page,
             "wav": audio_waveform, "flac": audio_waveform, "mp3": audio_waveform}


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
        if render is None or file.size > MAX_INPUT:
            file.preview_status = "none"
            await db.commit()
            return
        blob = await repo.get_blob(db, file.blob_id)
        assert blob is not None
        try:
            data = await blobs.read_all(rt, blob)
            png = await asyncio.to_thread(render, data)
        except Exception:  # noqa: BLE001 - a broken image is recorded as such, never retried forever
            file.preview_status = "failed"
            await db.commit()
            return
        import hashlib

        preview = await blobs.put(db, rt, source=lambda: _one(png), size=len(png), sha256=hashlib.sha256(png).hexdigest())
        file.preview_blob_id, file.preview_status = preview.id, "ready"
        audit.record(db, audit.SystemActor(display_name="preview job"), action="preview_build",
                     object_type="clinical_file", object_id=file.id, patient_id=file.patient_id,
                     detail={"kind": file.kind})
        await db.commit()

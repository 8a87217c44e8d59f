"""Video poster frames: real MP4 (H.264) and WebM (VP8, VP9) clips made with PyAV at test time;
the poster shows the clip's picture, a black opening is skipped, a broken video gets no preview
and stays stored and downloadable."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from telebridge.files import service, tasks
from telebridge.identity.models import User
from telebridge.identity.service import subject_for
from tests.files import samples


async def _store_and_preview(db, world, files_rt, data: bytes, name: str):  # type: ignore[no-untyped-def]
    me = await subject_for(db, await db.get(User, world.spoke_clinician.id), "198.51.100.1")
    stored = await service.store_bytes(db, me, patient_id=world.patient_a.id, data=data, filename=name)
    await db.commit()
    await files_rt.jobs.drain()
    assert files_rt.jobs.failed == []
    await db.refresh(stored)
    return me, stored


def assert_quadrants(png: bytes, tolerance: int = 30) -> None:
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and max(im.size) <= max(tasks.SIZE)
        pixels = np.asarray(im.convert("RGB"), dtype=int)
    h, w, _ = pixels.shape
    for i, colour in enumerate(samples.QUADRANTS):
        y, x = (i // 2) * h // 2 + h // 4, (i % 2) * w // 2 + w // 4
        got = pixels[y - 3:y + 4, x - 3:x + 4].reshape(-1, 3).mean(axis=0)
        assert np.abs(got - colour).max() <= tolerance, (i, got, colour)


@pytest.mark.parametrize(("codec", "name"), [("mp4", "sieu-am.mp4"), ("webm-vp8", "noi-soi.webm"),
                                             ("webm-vp9", "vet-thuong.webm")])
async def test_video_poster_frame(db, world, files_rt, codec, name) -> None:  # type: ignore[no-untyped-def]
    me, stored = await _store_and_preview(db, world, files_rt, samples.video(codec), name)
    assert stored.kind == name.rsplit(".", 1)[1] and stored.preview_status == "ready"
    assert stored.preview_blob_id is not None
    raw = await files_rt.store.read(f"blobs/{stored.preview_blob_id.hex[:2]}/{stored.preview_blob_id.hex}")
    assert b"PNG" not in raw[:64]  # the poster is encrypted at rest like every other object
    _file, stream = await service.open_content(db, me, file_id=stored.id, preview=True)
    assert_quadrants(b"".join([c async for c in stream]))
    await db.commit()


def test_poster_skips_a_black_opening_and_scales_down() -> None:
    for codec in ("mp4", "webm-vp9"):
        with Image.open(io.BytesIO(tasks.video_poster(samples.video(codec, black_frames=8)))) as im:
            assert im.size == (160, 120)
        assert_quadrants(tasks.video_poster(samples.video(codec, black_frames=8)))
    big = tasks.video_poster(samples.video("webm-vp8", frames=3, size=(960, 720)))
    with Image.open(io.BytesIO(big)) as im:
        assert im.size == (320, 240)
    assert_quadrants(big)


def test_all_blank_video_falls_back_to_its_first_frame() -> None:
    png = tasks.video_poster(samples.video("webm-vp8", frames=0, black_frames=6))
    with Image.open(io.BytesIO(png)) as im:
        assert np.asarray(im.convert("L")).max() < 40


async def test_truncated_video_is_stored_without_preview(db, world, files_rt, signed_in) -> None:  # type: ignore[no-untyped-def]
    whole = samples.video("mp4", frames=20)
    cut = whole[: len(whole) // 2]  # the index (moov) is written at the end: cut, nothing decodes
    me, stored = await _store_and_preview(db, world, files_rt, cut, "cat-ngang.mp4")
    assert stored.preview_status == "failed" and stored.preview_blob_id is None
    assert (await service.read_bytes(db, me, file_id=stored.id))[1] == cut  # the file itself is intact
    await db.commit()
    page = await (await signed_in(world.spoke_clinician)).get(f"/patients/{world.patient_a.id}/files")
    assert page.status_code == 200 and "cat-ngang.mp4" in page.text
    assert "Không có ảnh xem trước" in page.text


async def test_sound_only_webm_has_no_poster(db, world, files_rt) -> None:  # type: ignore[no-untyped-def]
    import av

    out = io.BytesIO()
    with av.open(out, mode="w", format="webm") as container:
        stream = container.add_stream("libopus", rate=48000)
        samples_per_frame = 960
        t = np.arange(samples_per_frame * 10) / 48000
        tone = (0.3 * np.sin(2 * np.pi * np.random.uniform(200, 400) * t)).astype("float32")[None, :]
        frame = av.AudioFrame.from_ndarray(tone, format="flt", layout="mono")
        frame.sample_rate = 48000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    _me, stored = await _store_and_preview(db, world, files_rt, out.getvalue(), "tim-phoi.webm")
    assert stored.kind == "webm" and stored.preview_status == "none"

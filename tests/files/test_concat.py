"""tus concatenation (parts sent in parallel, then joined) and the takeover of a stalled transfer."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from pathlib import Path

from sqlalchemy import func, select

from telebridge.files import uploads
from telebridge.files.models import ClinicalFile, UploadSession
from telebridge.identity.models import User
from telebridge.identity.service import subject_for
from tests.files.test_uploads import TUS, URL, meta, patch, payload


async def partial(c, patient_id: uuid.UUID, length: int, filename: str = "clip.txt") -> str:  # type: ignore[no-untyped-def]
    r = await c.post(URL, headers={**TUS, "Upload-Length": str(length), "Upload-Concat": "partial",
                                   "Upload-Metadata": meta(patient_id=str(patient_id), filename=filename)})
    assert r.status_code == 201, r.text
    return r.headers["location"]


async def final(c, patient_id: uuid.UUID, locations: list[str], data: bytes | None = None,  # type: ignore[no-untyped-def]
                filename: str = "ghep.txt"):
    extra = {"sha256": hashlib.sha256(data).hexdigest()} if data is not None else {}
    return await c.post(URL, headers={**TUS, "Upload-Concat": "final;" + " ".join(locations),
                                      "Upload-Metadata": meta(patient_id=str(patient_id), filename=filename, **extra)})


def spool(files_rt, location: str) -> Path:  # type: ignore[no-untyped-def]
    return Path(files_rt.settings.files_dir) / "uploads" / f"{uuid.UUID(location.rsplit('/', 1)[1]).hex}.part"


async def test_parts_sent_in_parallel_join_into_one_file(as_user, world, files_rt) -> None:  # type: ignore[no-untyped-def]
    c = await as_user(world.spoke_clinician)
    options = await c.options(URL)
    assert "concatenation" in options.headers["tus-extension"]
    data = payload(600_000)
    bounds = [0, 150_000, 390_000, len(data)]
    locations = [await partial(c, world.patient_a.id, bounds[i + 1] - bounds[i]) for i in range(3)]

    async def send(i: int) -> None:  # each part in two PATCHes, the three parts side by side
        piece = data[bounds[i]:bounds[i + 1]]
        half = len(piece) // 2
        assert (await patch(c, locations[i], 0, piece[:half], hashlib.sha256(piece[:half]).digest())).status_code == 204
        done = await patch(c, locations[i], half, piece[half:])
        assert done.status_code == 204 and "telebridge-file-id" not in done.headers  # a part is not a file

    await asyncio.gather(*(send(i) for i in range(3)))
    head = await c.head(locations[1], headers=TUS)
    assert head.headers["upload-concat"] == "partial" and head.headers["upload-offset"] == str(bounds[2] - bounds[1])
    r = await final(c, world.patient_a.id, locations, data)
    assert r.status_code == 201, r.text
    file_id = r.headers["telebridge-file-id"]
    assert r.headers["upload-offset"] == str(len(data))
    info = (await c.get(f"/api/v1/files/{file_id}")).json()
    assert info["sha256"] == hashlib.sha256(data).hexdigest() and info["size"] == len(data)
    assert (await c.get(info["download_url"])).content == data
    assert not any(spool(files_rt, loc).exists() for loc in locations)  # nothing left on disk
    for loc in locations:
        status = (await c.get(loc)).json()
        assert status["status"] == "done" and status["file_id"] == file_id
    again = await final(c, world.patient_a.id, locations, data)  # the answer was lost: asked again
    assert again.status_code == 201 and again.headers["telebridge-file-id"] == file_id
    assert again.headers["location"] == r.headers["location"]


async def test_wrong_order_incomplete_or_foreign_parts_are_refused(as_user, world, files_rt, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    c = await as_user(world.spoke_clinician)
    data = payload(90_000)
    first, second = await partial(c, world.patient_a.id, 40_000), await partial(c, world.patient_a.id, 50_000)
    assert (await patch(c, first, 0, data[:40_000])).status_code == 204
    wrong = await patch(c, second, 10, data[40_010:])
    assert wrong.status_code == 409 and wrong.headers["upload-offset"] == "0"  # where to resume, without a HEAD
    assert (await patch(c, second, 0, data[40_000:60_000])).status_code == 204
    incomplete = await final(c, world.patient_a.id, [first, second], data)
    assert incomplete.status_code == 409 and incomplete.json()["error"]["code"] == "incomplete"
    assert (await patch(c, second, 20_000, data[60_000:])).status_code == 204

    async def files() -> int:
        async with sessionmaker() as db:
            return await db.scalar(select(func.count()).select_from(ClinicalFile))

    before = await files()
    swapped = await final(c, world.patient_a.id, [second, first], data)
    assert swapped.status_code == 460 and "thứ tự" in swapped.json()["error"]["message"]
    assert (await final(c, world.patient_a.id, [first, first], data)).status_code == 400
    assert (await final(c, world.patient_b.id, [first, second], data)).status_code in (403, 409)
    plain = (await c.post(URL, headers={**TUS, "Upload-Length": "10", "Upload-Metadata": meta(
        patient_id=str(world.patient_a.id), filename="a.txt")})).headers["location"]
    assert (await final(c, world.patient_a.id, [first, plain])).json()["error"]["code"] == "not_partial"
    other = await as_user(world.other_clinician)
    assert (await final(other, world.patient_a.id, [first, second])).status_code == 403
    assert await files() == before and spool(files_rt, first).exists()  # nothing stored, the parts kept
    joined = await final(c, world.patient_a.id, [first, second], data)
    assert joined.status_code == 201, joined.text
    assert await files() == before + 1


async def test_refused_content_fails_every_part(as_user, world, files_rt, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    c = await as_user(world.spoke_clinician)
    content = b"\x7fELF" + os.urandom(3000)
    parts = [await partial(c, world.patient_a.id, 1500, "a.bin.txt"), await partial(c, world.patient_a.id, 1504)]
    assert (await patch(c, parts[0], 0, content[:1500])).status_code == 204
    assert (await patch(c, parts[1], 0, content[1500:])).status_code == 204
    r = await final(c, world.patient_a.id, parts, filename="ghi-chu.txt")
    assert r.status_code == 415 and r.json()["error"]["message"]
    for loc in parts:
        assert (await c.head(loc, headers=TUS)).status_code == 410 and not spool(files_rt, loc).exists()
    assert (await c.post(URL, headers={**TUS, "Upload-Length": "10", "Upload-Concat": "partial",
                                       "Upload-Metadata": meta(patient_id=str(world.patient_a.id),
                                                               filename="setup.exe")})).status_code == 415


async def test_a_newer_request_takes_over_a_stalled_transfer(as_user, world, files_rt, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    """The old connection died without the server noticing (no RST on a weak link): its PATCH
    still waits for bytes. The client's HEAD stops it, gets the bytes it kept, and resumes."""
    c = await as_user(world.spoke_clinician)
    data = payload(200_000)
    loc = (await c.post(URL, headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": meta(
        patient_id=str(world.patient_a.id), filename="treo.txt")})).headers["location"]
    upload_id = uuid.UUID(loc.rsplit("/", 1)[1])
    received = asyncio.Event()

    async def stalled_body():  # type: ignore[no-untyped-def]
        yield data[:70_000]
        received.set()
        await asyncio.Event().wait()  # never another byte
        yield b""

    async def stalled_transfer() -> int:
        async with sessionmaker() as db:
            me = await subject_for(db, await db.get(User, world.spoke_clinician.id), None)
            async with uploads.transfer(upload_id) as stop:
                result = await uploads.write(db, me, upload_id=upload_id, offset=0, body=stalled_body(),
                                             checksum=None, stop=stop)
                await db.commit()
            return result.upload.offset

    old = asyncio.create_task(stalled_transfer())
    await asyncio.wait_for(received.wait(), 10)
    other = await as_user(world.other_clinician)  # nobody else can stop it
    assert (await patch(other, loc, 70_000, b"x")).status_code == 403
    assert (await other.head(loc, headers=TUS)).status_code == 403
    await asyncio.sleep(0.1)
    assert not old.done()
    head = await c.head(loc, headers=TUS)
    assert head.status_code == 200 and head.headers["upload-offset"] == "70000"
    assert await asyncio.wait_for(old, 10) == 70_000
    done = await patch(c, loc, 70_000, data[70_000:])
    assert done.status_code == 204
    async with sessionmaker() as db:
        upload = await db.get(UploadSession, upload_id)
        stored = await db.get(ClinicalFile, upload.file_id)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()

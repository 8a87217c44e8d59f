"""Resumable uploads (tus 1.0) over HTTP: resume after a cut, offsets, checksums, bad content,
ownership, and the signed download that follows."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from starlette.requests import ClientDisconnect

from telebridge.files import uploads
from telebridge.files.models import ClinicalFile, FileBlob, UploadSession
from telebridge.identity.models import User
from telebridge.identity.service import subject_for
from tests.files import samples

URL = "/api/v1/files/uploads"
TUS = {"Tus-Resumable": "1.0.0"}


def meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


async def create(c: httpx.AsyncClient, patient_id: uuid.UUID, filename: str, length: int, **extra: str) -> httpx.Response:
    return await c.post(URL, headers={**TUS, "Upload-Length": str(length),
                                      "Upload-Metadata": meta(patient_id=str(patient_id), filename=filename, **extra)})


async def patch(c: httpx.AsyncClient, location: str, offset: int, data: bytes, checksum: bytes | None = None) -> httpx.Response:
    headers = {**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
    if checksum is not None:
        headers["Upload-Checksum"] = "sha256 " + base64.b64encode(checksum).decode()
    return await c.patch(location, content=data, headers=headers)


def payload(n: int) -> bytes:
    return samples.text()[:40] + os.urandom(n // 2).hex().encode()[: n - 40]


async def test_options_advertise_tus(as_user, world, files_rt) -> None:  # type: ignore[no-untyped-def]
    c = await as_user(world.spoke_clinician)
    r = await c.options(URL)
    assert r.status_code == 204 and r.headers["tus-version"] == "1.0.0"
    assert "checksum" in r.headers["tus-extension"] and r.headers["tus-checksum-algorithm"] == "sha256"


async def test_upload_in_parts_resumes_and_hash_matches(as_user, world, files_rt, app, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    c = await as_user(world.spoke_clinician)
    data = payload(300_000)
    r = await create(c, world.patient_a.id, "ghi-chu.txt", len(data), filetype="text/plain")
    assert r.status_code == 201, r.text
    loc = r.headers["location"]
    # First part, then the connection drops in the middle of the second part.
    assert (await patch(c, loc, 0, data[:100_000], hashlib.sha256(data[:100_000]).digest())).status_code == 204
    upload_id = uuid.UUID(loc.rsplit("/", 1)[1])

    async def cut_body():  # type: ignore[no-untyped-def]
        yield data[100_000:150_000]
        raise ClientDisconnect()

    async with sessionmaker() as db:
        me = await subject_for(db, await db.get(User, world.spoke_clinician.id), None)
        result = await uploads.write(db, me, upload_id=upload_id, offset=100_000, body=cut_body(), checksum=None,
                                     disconnected=ClientDisconnect)
        await db.commit()
    assert result.upload.offset == 150_000 and result.file is None
    spool = Path(files_rt.settings.files_dir) / "uploads" / f"{upload_id.hex}.part"
    assert spool.stat().st_size == 150_000 and data[:64] not in spool.read_bytes()  # encrypted at rest
    # The client asks where to resume and sends the rest.
    head = await c.head(loc, headers=TUS)
    assert head.status_code == 200 and head.headers["upload-offset"] == "150000"
    done = await patch(c, loc, 150_000, data[150_000:])
    assert done.status_code == 204 and done.headers["upload-offset"] == str(len(data))
    file_id = done.headers["telebridge-file-id"]
    assert not spool.exists()
    info = (await c.get(f"/api/v1/files/{file_id}")).json()
    assert info["sha256"] == hashlib.sha256(data).hexdigest() and info["size"] == len(data) and info["kind"] == "text"
    got = await c.get(info["download_url"])
    assert got.status_code == 200 and got.content == data
    assert "sandbox" in got.headers["content-security-policy"]
    listed = (await c.get(f"/api/v1/patients/{world.patient_a.id}/files")).json()["items"]
    assert file_id in [f["id"] for f in listed]
    status = (await c.get(loc)).json()
    assert status["status"] == "done" and status["file_id"] == file_id


async def test_wrong_offset_and_checksum_change_nothing(as_user, world, files_rt) -> None:  # type: ignore[no-untyped-def]
    c = await as_user(world.spoke_clinician)
    data = samples.png() + os.urandom(5000)
    other = await create(c, world.patient_a.id, "other.png", len(data))
    loc = (await create(c, world.patient_a.id, "anh.png", len(data))).headers["location"]
    assert (await patch(c, loc, 0, data[:1000])).status_code == 204
    wrong = await patch(c, loc, 500, data[500:2000])
    assert wrong.status_code == 409 and "1000" in wrong.json()["error"]["message"]
    bad = await patch(c, loc, 1000, data[1000:3000], hashlib.sha256(b"something else").digest())
    assert bad.status_code == 460 and bad.json()["error"]["code"] == "checksum_mismatch"
    assert (await c.head(loc, headers=TUS)).headers["upload-offset"] == "1000"
    malformed = await patch(c, loc, 1000, data[1000:3000])
    assert malformed.status_code == 204  # same bytes without a checksum are accepted
    assert (await patch(c, loc, 3000, data[3000:])).status_code == 204
    # The other upload was never touched.
    assert (await c.head(other.headers["location"], headers=TUS)).headers["upload-offset"] == "0"
    wrong_type = await c.patch(loc, content=b"x", headers={**TUS, "Upload-Offset": "0", "Content-Type": "text/plain"})
    assert wrong_type.status_code == 415


@pytest.mark.parametrize(("content", "name", "status"), [
    (samples.pdf(), "study.dcm", 415),
    (b"\x7fELF" + b"\x00" * 200, "IM0001", 415),
])
async def test_refused_content_stores_nothing(as_user, world, files_rt, sessionmaker, content, name, status) -> None:  # type: ignore[no-untyped-def]
    c = await as_user(world.spoke_clinician)
    async with sessionmaker() as db:
        before = (await db.scalar(select(func.count()).select_from(ClinicalFile)),
                  await db.scalar(select(func.count()).select_from(FileBlob)))
    loc = (await create(c, world.patient_a.id, name, len(content))).headers["location"]
    half = len(content) // 2
    assert (await patch(c, loc, 0, content[:half])).status_code == 204
    r = await patch(c, loc, half, content[half:])
    assert r.status_code == status and r.json()["error"]["message"]
    assert (await c.head(loc, headers=TUS)).status_code == 410
    async with sessionmaker() as db:
        after = (await db.scalar(select(func.count()).select_from(ClinicalFile)),
                 await db.scalar(select(func.count()).select_from(FileBlob)))
        upload = await db.get(UploadSession, uuid.UUID(loc.rsplit("/", 1)[1]))
    assert after == before and upload.status == "failed"
    assert not (Path(files_rt.settings.files_dir) / "uploads" / f"{upload.id.hex}.part").exists()


async def test_creation_refuses_empty_oversize_and_executables(as_user, world, files_rt) -> None:  # type: ignore[no-untyped-def]
    c = await as_user(world.spoke_clinician)
    empty = await create(c, world.patient_a.id, "empty.txt", 0)
    assert empty.status_code == 422
    big = await create(c, world.patient_a.id, "huge.jpg", 51 * 1024 * 1024)
    assert big.status_code == 413 and "50" in big.json()["error"]["message"]
    assert (await create(c, world.patient_a.id, "setup.exe", 100)).status_code == 415
    assert (await c.post(URL, headers={**TUS, "Upload-Length": "10"})).status_code == 400
    assert (await c.post(URL, headers={**TUS, "Upload-Length": "10", "Upload-Metadata": "filename !!!"})).status_code == 400


async def test_uploads_belong_to_their_creator_and_patients_to_their_carers(as_user, world, files_rt) -> None:  # type: ignore[no-untyped-def]
    mine = await as_user(world.spoke_clinician)
    data = samples.text()
    loc = (await create(mine, world.patient_a.id, "n.txt", len(data))).headers["location"]
    other = await as_user(world.other_clinician)
    assert (await other.head(loc, headers=TUS)).status_code == 403
    assert (await patch(other, loc, 0, data)).status_code == 403
    assert (await other.delete(loc, headers=TUS)).status_code == 403
    assert (await create(other, world.patient_a.id, "n.txt", 10)).status_code == 403
    done = await patch(mine, loc, 0, data)
    file_id = done.headers["telebridge-file-id"]
    assert (await other.get(f"/api/v1/files/{file_id}")).status_code == 403
    assert (await other.get(f"/api/v1/patients/{world.patient_a.id}/files")).status_code == 403
    url = (await mine.get(f"/api/v1/files/{file_id}")).json()["download_url"]
    # The signed link is bound to its user and expires; tampering is refused.
    assert (await other.get(url.replace("sig=", "sig=x"))).status_code == 403
    forged = url.replace(str(world.spoke_clinician.id), str(world.other_clinician.id))
    assert (await other.get(forged)).status_code == 403
    expired = url.split("&exp=")[0] + "&exp=1000&sig=" + url.split("&sig=")[1]
    assert (await other.get(expired)).status_code == 403


async def test_termination(as_user, world, files_rt) -> None:  # type: ignore[no-untyped-def]
    c = await as_user(world.spoke_clinician)
    loc = (await create(c, world.patient_a.id, "t.txt", 100)).headers["location"]
    assert (await patch(c, loc, 0, b"a" * 50)).status_code == 204
    assert (await c.delete(loc, headers=TUS)).status_code == 204
    assert (await c.head(loc, headers=TUS)).status_code == 410
    assert (await patch(c, loc, 50, b"a" * 50)).status_code == 410


async def test_abandoned_uploads_expire(as_user, world, files_rt, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from telebridge.files import retention
    from telebridge.kit.db import utcnow

    c = await as_user(world.spoke_clinician)
    loc = (await create(c, world.patient_a.id, "bo-do.txt", 100)).headers["location"]
    assert (await patch(c, loc, 0, b"a" * 40)).status_code == 204
    upload_id = uuid.UUID(loc.rsplit("/", 1)[1])
    spool = Path(files_rt.settings.files_dir) / "uploads" / f"{upload_id.hex}.part"
    assert spool.exists()
    async with sessionmaker() as db:
        n = await retention.expire_uploads(db, files_rt, now=utcnow() + timedelta(hours=73))
        await db.commit()
    assert n >= 1 and not spool.exists()
    assert (await c.head(loc, headers=TUS)).status_code == 410


async def test_request_spools_left_by_a_stopped_process_are_swept(files_rt) -> None:  # type: ignore[no-untyped-def]
    """A STOW-RS or single-instance body spooled when its process died stays unreadable on disk (its
    key died too): `files clean-uploads` deletes it once past the upload expiry, never a fresh one."""
    import os
    import time

    from telebridge.files import retention
    from telebridge.files.uploads import request_spool_dir

    directory = request_spool_dir(files_rt)
    directory.mkdir(parents=True, exist_ok=True)
    stale, fresh = directory / "a.part", directory / "b.part"
    stale.write_bytes(b"x" * 10)
    fresh.write_bytes(b"y" * 10)
    old = time.time() - (files_rt.settings.upload_expiry_hours + 1) * 3600
    os.utime(stale, (old, old))
    assert retention.sweep_request_spools(files_rt) == 1
    assert not stale.exists() and fresh.exists()
    assert retention.sweep_request_spools(files_rt) == 0


async def test_a_stalled_writer_giving_up_never_cuts_a_newer_writers_data(tmp_path: Path) -> None:
    """After a takeover the newer transfer writes from the confirmed offset while the stalled one
    may still wake up and roll back (an unverifiable cut): the newer one's bytes must survive."""
    from telebridge.files import blobs

    spool = blobs.Spool(tmp_path / "u.part", os.urandom(32))
    first, second = os.urandom(300_000), os.urandom(300_000)
    stalled = spool.writer(0)
    await stalled.write(first[:200_000])  # confirmed offset still 0: nothing committed yet
    newer = spool.writer(0)  # the takeover: from the confirmed offset
    await newer.write(second)
    stalled.rollback()  # wakes up, gives up
    stalled.close()
    newer.close()
    assert (stalled.offset, newer.offset) == (0, 300_000)
    assert b"".join([c async for c in spool.read(limit=300_000)]) == second

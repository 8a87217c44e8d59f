"""store_bytes / read_bytes / list_for_context: types, limits, encryption at rest, access, audit."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from telebridge.files import service
from telebridge.files.models import FileBlob
from telebridge.files.sniff import EICAR
from telebridge.identity.models import User
from telebridge.identity.service import subject_for
from telebridge.kit.audit import AuditEvent
from telebridge.kit.errors import DomainError, Forbidden
from tests.files import samples


async def subject(db, ref):  # type: ignore[no-untyped-def]
    return await subject_for(db, await db.get(User, ref.id), "198.51.100.1")


async def test_store_and_read_back_encrypted_and_audited(db, world, files_rt) -> None:  # type: ignore[no-untyped-def]
    me = await subject(db, world.spoke_clinician)
    data = samples.jpeg()
    consult = uuid.uuid4()
    f = await service.store_bytes(db, me, patient_id=world.patient_a.id, data=data, filename="tim.jpg",
                                  context_type="consultation", context_id=consult)
    assert (f.kind, f.media_type, f.size, f.sha256) == ("jpeg", "image/jpeg", len(data), hashlib.sha256(data).hexdigest())
    assert f.uploaded_by == world.spoke_clinician.id and f.retention_until.year == f.created_at.year + 10
    await db.commit()
    blob = await db.get(FileBlob, f.blob_id)
    on_disk = (Path(files_rt.settings.files_dir) / "objects" / blob.object_key).read_bytes()
    assert data not in on_disk and data[:32] not in on_disk
    got_file, got = await service.read_bytes(db, me, file_id=f.id)
    assert got == data and got_file.id == f.id
    listed = await service.list_for_context(db, me, context_type="consultation", context_id=consult)
    assert [x.id for x in listed] == [f.id]
    await db.commit()
    actions = (await db.scalars(select(AuditEvent.action).where(AuditEvent.object_id == str(f.id)))).all()
    assert "create" in actions and "read" in actions


async def test_identical_content_is_stored_once(db, world, files_rt) -> None:  # type: ignore[no-untyped-def]
    me = await subject(db, world.spoke_clinician)
    data = samples.png() + uuid.uuid4().bytes  # trailing bytes keep a PNG a PNG
    a = await service.store_bytes(db, me, patient_id=world.patient_a.id, data=data, filename="a.png")
    b = await service.store_bytes(db, me, patient_id=world.patient_a.id, data=data, filename="b.png")
    assert a.id != b.id and a.blob_id == b.blob_id
    await db.commit()


async def test_flipped_ciphertext_byte_is_detected(db, world, files_rt) -> None:  # type: ignore[no-untyped-def]
    me = await subject(db, world.spoke_clinician)
    data = samples.text() * 50 + uuid.uuid4().hex.encode()
    f = await service.store_bytes(db, me, patient_id=world.patient_a.id, data=data, filename="note.txt")
    await db.commit()
    blob = await db.get(FileBlob, f.blob_id)
    path = Path(files_rt.settings.files_dir) / "objects" / blob.object_key
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x20
    path.write_bytes(bytes(raw))
    with pytest.raises(service.Damaged) as err:
        await service.read_bytes(db, me, file_id=f.id)
    assert err.value.status == 500 and "integrity" in err.value.translated().lower() or "toàn vẹn" in err.value.translated()


@pytest.mark.parametrize(("data", "name", "status", "code"), [
    (b"", "empty.txt", 422, "unprocessable"),
    (samples.pdf(), "scan.dcm", 415, "unsupported_type"),
    (samples.jpeg(), "photo.png", 415, "unsupported_type"),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 60, "tool", 415, "unsupported_type"),
    (b"MZ\x90\x00" + b"\x00" * 60, "report.pdf", 415, "unsupported_type"),
    (b"#!/bin/sh\nrm -rf /\n", "notes.txt", 415, "unsupported_type"),
    (samples.text(), "run.exe", 415, "unsupported_type"),
    (EICAR, "eicar.txt", 422, "infected"),
    (b"plain" + EICAR, "eicar2.txt", 422, "infected"),
    (b"\xff\xfe\x00bad text\x00", "bad.txt", 415, "unsupported_type"),
    ("Việt".encode("utf-16"), "x.txt", 415, "unsupported_type"),
])
async def test_bad_files_are_refused_and_nothing_is_stored(db, world, files_rt, data, name, status, code) -> None:  # type: ignore[no-untyped-def]
    me = await subject(db, world.spoke_clinician)
    before = await db.scalar(select(FileBlob.id).order_by(FileBlob.created_at.desc()).limit(1))
    with pytest.raises(DomainError) as err:
        await service.store_bytes(db, me, patient_id=world.patient_a.id, data=data, filename=name)
    assert (err.value.status, err.value.code) == (status, code)
    assert err.value.translated()
    await db.rollback()
    assert await db.scalar(select(FileBlob.id).order_by(FileBlob.created_at.desc()).limit(1)) == before


async def test_size_limit_per_kind(db, world, files_rt) -> None:  # type: ignore[no-untyped-def]
    files_rt.settings = files_rt.settings.model_copy(update={"files_max_mb": {**files_rt.settings.files_max_mb, "text": 1}})
    me = await subject(db, world.spoke_clinician)
    with pytest.raises(DomainError) as err:
        await service.store_bytes(db, me, patient_id=world.patient_a.id, data=b"a" * (1024 * 1024 + 1), filename="big.txt")
    assert err.value.status == 413
    await db.rollback()


async def test_allowed_kinds_and_every_kind_sniffed(db, world, files_rt) -> None:  # type: ignore[no-untyped-def]
    me = await subject(db, world.spoke_clinician)
    for data, name, kind in [(samples.dicom_like(), "IM0001", "dicom"), (samples.mp4_head(), "clip.mp4", "mp4"),
                             (samples.wav(), "tim.wav", "wav"), (samples.pdf(), "ecg.pdf", "pdf")]:
        f = await service.store_bytes(db, me, patient_id=world.patient_a.id, data=data, filename=name)
        assert f.kind == kind
    with pytest.raises(DomainError) as err:
        await service.store_bytes(db, me, patient_id=world.patient_a.id, data=samples.jpeg(), filename="x.jpg",
                                  allowed_kinds=frozenset({"dicom"}))
    assert err.value.status == 415
    await db.rollback()


async def test_access_only_through_the_patient_relationship(db, world, files_rt) -> None:  # type: ignore[no-untyped-def]
    me = await subject(db, world.spoke_clinician)
    png = samples.png()
    f = await service.store_bytes(db, me, patient_id=world.patient_a.id, data=png, filename="p.png")
    await db.commit()
    file_id = f.id
    for name in ("other_clinician", "sysadmin", "analyst_national", "facility_admin"):
        other = await subject(db, world.users[name])
        with pytest.raises(Forbidden):
            await service.read_bytes(db, other, file_id=file_id)
        assert await service.list_for_context(db, other, context_type="patient", context_id=world.patient_a.id) == []
        with pytest.raises(Forbidden):
            await service.store_bytes(db, other, patient_id=world.patient_a.id, data=samples.png(), filename="p.png")
        await db.rollback()
    patient = await subject(db, world.patient_user)
    assert (await service.read_bytes(db, patient, file_id=file_id))[1] == png  # their own record
    with pytest.raises(Forbidden):
        await service.store_bytes(db, patient, patient_id=world.patient_a.id, data=samples.png(), filename="p.png")
    await db.rollback()


async def test_previews_are_made_in_the_background(db, world, files_rt) -> None:  # type: ignore[no-untyped-def]
    me = await subject(db, world.spoke_clinician)
    made = []
    for data, name in [(samples.jpeg((900, 600)), "big.jpg"), (samples.pdf(), "doc.pdf"), (samples.wav(), "heart.wav"),
                       (samples.mp4_head(), "v.mp4")]:
        made.append(await service.store_bytes(db, me, patient_id=world.patient_a.id, data=data + uuid.uuid4().bytes
                                              if name.endswith((".jpg", ".pdf")) else data, filename=name))
    await db.commit()
    await files_rt.jobs.drain()
    assert files_rt.jobs.failed == []
    import io

    from PIL import Image

    for f in made:
        await db.refresh(f)
    # mp4_head is an MP4 header over random bytes: a broken video, stored, with no preview
    assert [f.preview_status for f in made] == ["ready", "ready", "ready", "failed"]
    for f in made[:3]:
        _file, stream = await service.open_content(db, me, file_id=f.id, preview=True)
        png = b"".join([c async for c in stream])
        with Image.open(io.BytesIO(png)) as im:
            assert im.format == "PNG" and max(im.size) <= 640
    await db.commit()


async def test_retention_batch_shreds_keys(db, world, files_rt) -> None:  # type: ignore[no-untyped-def]
    from datetime import date, timedelta

    from telebridge.files import retention

    me = await subject(db, world.spoke_clinician)
    data = samples.text() + uuid.uuid4().hex.encode()
    f = await service.store_bytes(db, me, patient_id=world.patient_a.id, data=data, filename="old.txt")
    await db.commit()
    early = await retention.run_batch(db, files_rt, today=date.today(), approved_by="GĐ", reference="BB-1")
    assert str(f.id) not in [x["id"] for x in early["files"]]  # not expired: never deleted early
    minutes = await retention.run_batch(db, files_rt, today=f.retention_until + timedelta(days=1),
                                        approved_by="Giám đốc", reference="BB-2036-01")
    await db.commit()
    assert str(f.id) in [x["id"] for x in minutes["files"]]
    blob = await db.get(FileBlob, f.blob_id)
    await db.refresh(blob)
    assert blob.wrapped_key is None and blob.shredded_at is not None
    assert not await files_rt.store.exists(blob.object_key)
    from telebridge.kit.errors import NotFound

    with pytest.raises(NotFound):
        await service.read_bytes(db, me, file_id=f.id)
    await db.rollback()


async def test_key_rotation_rewraps_every_key(db, world, files_rt) -> None:  # type: ignore[no-untyped-def]
    from telebridge.files import retention, runtime
    from telebridge.kit import crypto

    me = await subject(db, world.spoke_clinician)
    data = samples.text() + uuid.uuid4().hex.encode()
    f = await service.store_bytes(db, me, patient_id=world.patient_a.id, data=data, filename="k.txt")
    await db.commit()
    new = crypto.new_master_key()
    rotated = runtime.Runtime(settings=files_rt.settings, store=files_rt.store, scanner=files_rt.scanner,
                              keyring=crypto.Keyring(crypto.parse_master_key(new), (files_rt.keyring.current,)),
                              jobs=files_rt.jobs)
    counts = await retention.rotate_keys(db, rotated)
    await db.commit()
    assert counts["blobs"] >= 1
    after = runtime.Runtime(settings=files_rt.settings, store=files_rt.store, scanner=files_rt.scanner,
                            keyring=crypto.Keyring.from_text(new), jobs=files_rt.jobs)
    runtime.configure(after)
    assert (await service.read_bytes(db, me, file_id=f.id))[1] == data
    await db.commit()

"""The patient's files page: Vietnamese, lists files with signed links, uploader only for carers."""

from __future__ import annotations

from telebridge.files import service
from telebridge.identity.models import User
from telebridge.identity.service import subject_for
from tests.files import samples


async def test_files_page(signed_in, world, files_rt, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    async with sessionmaker() as db:
        me = await subject_for(db, await db.get(User, world.spoke_clinician.id), None)
        await service.store_bytes(db, me, patient_id=world.patient_a.id, data=samples.pdf(), filename="dien-tim.pdf")
        await db.commit()
    c = await signed_in(world.spoke_clinician)
    r = await c.get(f"/patients/{world.patient_a.id}/files")
    assert r.status_code == 200
    assert "Thêm tệp" in r.text and "dien-tim.pdf" in r.text and "Tài liệu PDF" in r.text
    assert "/static/js/upload.js" in r.text and f'data-patient-id="{world.patient_a.id}"' in r.text
    assert "/content?u=" in r.text
    other = await signed_in(world.other_clinician)
    denied = await other.get(f"/patients/{world.patient_a.id}/files")
    assert denied.status_code == 403 and "dien-tim.pdf" not in denied.text
    patient = await signed_in(world.patient_user)
    own = await patient.get(f"/patients/{world.patient_a.id}/files")
    assert own.status_code == 200 and "dien-tim.pdf" in own.text and "data-uploader" not in own.text


async def test_content_serves_byte_ranges_for_seeking(client, world, files_rt, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    """A player seeking in a recording asks for byte ranges; each one is checked, audited and cut
    from the decrypted stream (a range across the store's 1 MiB read chunks included)."""
    from sqlalchemy import func, select

    from telebridge.kit.audit import AuditEvent

    data = samples.wav(seconds=100, rate=16000)  # 3.2 MB
    async with sessionmaker() as db:
        me = await subject_for(db, await db.get(User, world.spoke_clinician.id), None)
        stored = await service.store_bytes(db, me, patient_id=world.patient_a.id, data=data, filename="tim.wav")
        await db.commit()
        url = service.signed_url(stored.id, world.spoke_clinician.id)

    async def reads() -> int:
        async with sessionmaker() as db:
            return int(await db.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.object_id == str(stored.id), AuditEvent.action == "download")) or 0)

    before = await reads()
    whole = await client.get(url)
    assert whole.status_code == 200 and whole.content == data and whole.headers["accept-ranges"] == "bytes"
    start, end = (1 << 20) - 100, (2 << 20) + 50  # spans two read chunks
    part = await client.get(url, headers={"range": f"bytes={start}-{end}"})
    assert part.status_code == 206 and part.content == data[start:end + 1]
    assert part.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
    assert int(part.headers["content-length"]) == end - start + 1
    tail = await client.get(url, headers={"range": "bytes=-1000"})
    assert tail.status_code == 206 and tail.content == data[-1000:]
    open_ended = await client.get(url, headers={"range": f"bytes={len(data) - 10}-"})
    assert open_ended.content == data[-10:]
    beyond = await client.get(url, headers={"range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(data)}"
    assert await reads() - before == 5  # every read that got past the checks is audited

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

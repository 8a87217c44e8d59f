"""Consent per purpose (record, withdraw, has_consent) and merging a provisional identity."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telebridge.kit.db import utcnow
from telebridge.patients.models import CareRelationship, Consent, Patient, PatientMerge
from telebridge.patients.service import has_consent
from tests.factories import HANOI, World, add_patient
from tests.patients.conftest import AuditRows, citizen_id


def consent(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"purpose": "recording", "granted": True, "text_version": "TB-CONSENT-2025.1",
                            "method": "written", "given_by": "Phạm Văn Bố (bố đẻ)"}
    body.update(overrides)
    return body


async def test_record_withdraw_and_has_consent(as_user, world: World, sessionmaker: async_sessionmaker[AsyncSession],
                                               audit_rows: AuditRows) -> None:
    assert world.patient_a is not None
    pid = world.patient_a.id
    c = await as_user(world.spoke_clinician)
    async with sessionmaker() as s:
        assert not await has_consent(s, patient_id=pid, purpose="recording", at=utcnow())
    r = await c.post(f"/api/v1/patients/{pid}/consents", json=consent())
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["recorded_by"] == str(world.spoke_clinician.id) and first["withdrawn_at"] is None
    before_grant = utcnow() - timedelta(hours=1)
    async with sessionmaker() as s:
        assert await has_consent(s, patient_id=pid, purpose="recording", at=utcnow())
        assert not await has_consent(s, patient_id=pid, purpose="recording", at=before_grant)
        assert not await has_consent(s, patient_id=pid, purpose="research", at=utcnow())
    # A later refusal wins; withdrawing the refusal does not bring the old grant back.
    refusal = (await c.post(f"/api/v1/patients/{pid}/consents", json=consent(granted=False, method="verbal_witnessed"))).json()
    async with sessionmaker() as s:
        assert not await has_consent(s, patient_id=pid, purpose="recording", at=utcnow())
    r = await c.post(f"/api/v1/patients/{pid}/consents/{refusal['id']}/withdraw")
    assert r.status_code == 200 and r.json() == {"withdrawn": 2}
    async with sessionmaker() as s:
        assert not await has_consent(s, patient_id=pid, purpose="recording", at=utcnow())
        rows = (await s.scalars(select(Consent).where(Consent.patient_id == pid))).all()
        assert len(rows) == 2 and all(x.withdrawn_by == world.spoke_clinician.id for x in rows)
    assert (await c.post(f"/api/v1/patients/{pid}/consents/{refusal['id']}/withdraw")).status_code == 409
    detail = (await c.get(f"/api/v1/patients/{pid}")).json()
    assert {x["id"] for x in detail["consents"]} == {first["id"], refusal["id"]}
    actions = [e.action for e in await audit_rows(actor=world.spoke_clinician.id, patient_id=pid)]
    assert actions == ["consent", "consent", "withdraw", "read"]


@pytest.mark.parametrize("overrides,status", [
    ({"purpose": "marketing"}, 422), ({"method": "telepathy"}, 422),
    ({"text_version": "x" * 33}, 400), ({"given_by": ""}, 400),
])
async def test_bad_consent_is_refused(as_user, world: World, overrides: dict[str, Any], status: int) -> None:
    assert world.patient_a is not None
    c = await as_user(world.spoke_clinician)
    r = await c.post(f"/api/v1/patients/{world.patient_a.id}/consents", json=consent(**overrides))
    assert r.status_code == status, r.text


async def test_consent_needs_a_relationship(as_user, world: World) -> None:
    assert world.patient_a is not None
    for user in (world.other_clinician, world.patient_user, world.sysadmin):
        r = await (await as_user(user)).post(f"/api/v1/patients/{world.patient_a.id}/consents", json=consent())
        assert r.status_code == 403


# --------------------------------------------------------------------------- merge

async def real_patient(db: AsyncSession, world: World) -> Patient:
    p = await add_patient(db, f"Phạm Thị Hồng thật {world.tag}", world.spoke_a.id, HANOI,
                          citizen_id=citizen_id(date(2019, 5, 4)))
    await db.commit()
    return p


async def merge(c: httpx.AsyncClient, source: uuid.UUID, target: uuid.UUID,
                reason: str = "Giấy khai sinh đã có số định danh") -> httpx.Response:
    return await c.post(f"/api/v1/patients/{source}/merge", json={"target_id": str(target), "reason": reason})


async def test_merge_moves_relationships_and_consents(as_user, world: World, db: AsyncSession,
                                                      audit_rows: AuditRows) -> None:
    assert world.patient_a is not None
    source = world.patient_a.id
    target = await real_patient(db, world)
    tid = target.id
    c = await as_user(world.spoke_clinician)
    await c.post(f"/api/v1/patients/{source}/consents", json=consent())
    r = await merge(c, source, tid)
    assert r.status_code == 201, r.text
    assert (r.json()["moved_relationships"], r.json()["moved_consents"]) == (1, 1)
    db.expire_all()
    merged = await db.get(Patient, source)
    assert merged is not None and (merged.status, merged.merged_into_id) == ("merged", tid)
    care = (await db.scalars(select(CareRelationship.patient_id).where(CareRelationship.facility_id == world.spoke_a.id,
                                                                         CareRelationship.patient_id.in_([source, tid])))).all()
    assert set(care) == {tid}
    assert (await db.scalars(select(PatientMerge).where(PatientMerge.source_id == source))).one().target_id == tid
    for pid in (source, tid):
        assert [e.action for e in await audit_rows(actor=world.spoke_clinician.id, action="merge", patient_id=pid)] == ["merge"]
    # The old record points to the new one (API: 409 with merged_into).
    r = await c.get(f"/api/v1/patients/{source}")
    assert r.status_code == 409 and r.json()["error"]["merged_into"] == str(tid)
    detail = (await c.get(f"/api/v1/patients/{tid}")).json()
    assert len(detail["consents"]) == 1 and detail["merges"][0]["source_id"] == str(source)
    # Merging again, or into the merged record, is refused.
    assert (await merge(c, source, tid)).status_code == 409
    other = await add_patient(db, f"Con bà B {world.tag}", world.spoke_a.id, HANOI)
    await db.commit()
    r = await merge(c, other.id, source)
    assert r.status_code == 409


async def test_merge_refusals(as_user, world: World, db: AsyncSession) -> None:
    assert world.patient_a is not None and world.patient_b is not None
    target = await real_patient(db, world)
    c = await as_user(world.spoke_clinician)
    assert (await merge(c, world.patient_a.id, world.patient_a.id)).status_code == 409
    r = await merge(c, target.id, world.patient_a.id)
    assert r.status_code == 409 and "tạm thời" in r.json()["error"]["message"]
    r = await merge(c, world.patient_a.id, target.id, reason="ngắn")
    assert r.status_code == 400 and r.json()["error"]["field"] == "reason"
    assert (await merge(c, world.patient_a.id, world.patient_b.id)).status_code == 403
    assert (await merge(c, world.patient_a.id, uuid.uuid4())).status_code == 404
    source = await db.get(Patient, world.patient_a.id)
    assert source is not None and source.status == "active"

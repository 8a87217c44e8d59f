"""Registering patients and editing demographics through /api/v1/patients."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.patients.models import CareRelationship, Patient
from tests.factories import HANOI, World
from tests.patients.conftest import AuditRows, citizen_id

BORN = date(1990, 3, 15)


def new_patient(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"full_name": "Nguyễn Thị Lan", "citizen_id": citizen_id(BORN, "female"),
                            "date_of_birth": BORN.isoformat(), "sex": "female", "province_code": HANOI,
                            "address_line": "Số 5 ngõ 12", "phone": "0912 345 678"}
    body.update(overrides)
    return body


async def count_patients(db: AsyncSession, **where: Any) -> int:
    stmt = select(func.count()).select_from(Patient)
    for name, value in where.items():
        stmt = stmt.where(getattr(Patient, name) == value)
    return int(await db.scalar(stmt) or 0)


async def test_register_creates_patient_relationship_and_audit(as_user, world: World, db: AsyncSession,
                                                               places: dict[str, int], audit_rows: AuditRows) -> None:
    c = await as_user(world.spoke_clinician)
    body = new_patient(full_name="Nguyễn Thị Lan", commune_code=places["hanoi_commune"])
    r = await c.post("/api/v1/patients", json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["provisional"] is False and out["citizen_id"] == body["citizen_id"]
    patient = await db.get(Patient, uuid.UUID(out["id"]))
    assert patient is not None and patient.search_text == "nguyen thi lan" and patient.phone == "0912345678"
    assert patient.registered_by_facility_id == world.spoke_a.id
    care = (await db.scalars(select(CareRelationship).where(CareRelationship.patient_id == patient.id))).all()
    assert [(x.facility_id, x.basis, x.ended_at) for x in care] == [(world.spoke_a.id, "registration", None)]
    rows = await audit_rows(actor=world.spoke_clinician.id, action="create")
    assert [(e.object_type, e.patient_id, e.outcome) for e in rows] == [("patient", patient.id, "ok")]
    assert "Lan" not in (rows[0].detail or "")


async def test_newborn_without_citizen_id_is_provisional(as_user, world: World) -> None:
    c = await as_user(world.spoke_clinician)
    r = await c.post("/api/v1/patients", json={"full_name": "Con bà Nguyễn Thị A", "date_of_birth": date.today().isoformat(),
                                               "sex": "male", "guardian_name": "Nguyễn Thị A"})
    assert r.status_code == 201, r.text
    assert r.json()["provisional"] is True and r.json()["citizen_id"] is None


@pytest.mark.parametrize("cid,message", [
    ("12345", "12 chữ số"),                         # wrong length
    ("003190123456", "mã tỉnh"),                     # 003 is not a province code
    ("001109123456", "năm sinh"),                    # 1909, not 1990
    ("001290123456", "năm sinh"),                    # century digit 2 = 2000s
    ("001990123456", "thế kỷ"),                      # century/sex digit 9 is impossible
    ("001090123456x", "12 chữ số"),
])
async def test_invalid_citizen_ids_are_refused_in_vietnamese(as_user, world: World, cid: str, message: str) -> None:
    c = await as_user(world.spoke_clinician)
    r = await c.post("/api/v1/patients", json=new_patient(citizen_id=cid))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == "citizen_id"
    assert message in r.json()["error"]["message"]


async def test_citizen_id_sex_mismatch(as_user, world: World) -> None:
    c = await as_user(world.spoke_clinician)
    r = await c.post("/api/v1/patients", json=new_patient(citizen_id=citizen_id(BORN, "male"), sex="female"))
    assert r.status_code == 400
    assert "giới tính" in r.json()["error"]["message"]
    r = await c.post("/api/v1/patients?lang=en", json=new_patient(citizen_id=citizen_id(BORN, "male"), sex="female"))
    assert r.json()["error"]["message"] == "The citizen ID does not match the sex."


async def test_duplicate_citizen_id_is_409_and_writes_nothing(as_user, world: World, db: AsyncSession) -> None:
    body = new_patient()
    first = await (await as_user(world.spoke_clinician)).post("/api/v1/patients", json=body)
    assert first.status_code == 201
    other = await as_user(world.other_clinician)
    r = await other.post("/api/v1/patients", json={**body, "full_name": "Tên Khác"})
    assert r.status_code == 409
    error = r.json()["error"]
    assert "đã được đăng ký" in error["message"] and "truy cập khẩn cấp" in error["message"]
    assert body["full_name"] not in r.text and first.json()["id"] not in r.text
    assert await count_patients(db, citizen_id=body["citizen_id"]) == 1
    assert await count_patients(db, full_name="Tên Khác") == 0


@pytest.mark.parametrize("overrides,field", [
    ({"date_of_birth": (date.today() + timedelta(days=2)).isoformat(), "citizen_id": None}, "date_of_birth"),
    ({"full_name": "x" * 201}, "full_name"),
    ({"address_line": "y" * 301}, "address_line"),
    ({"full_name": "   "}, "full_name"),
    ({"full_name": "Tên\x00lạ"}, "full_name"),
    ({"phone": "12345"}, "phone"),
    ({"province_code": 99999}, "province_code"),
])
async def test_bad_fields_are_400(as_user, world: World, overrides: dict[str, Any], field: str) -> None:
    c = await as_user(world.spoke_clinician)
    r = await c.post("/api/v1/patients", json=new_patient(**overrides))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field


async def test_commune_must_belong_to_province(as_user, world: World, places: dict[str, int]) -> None:
    c = await as_user(world.spoke_clinician)
    r = await c.post("/api/v1/patients", json=new_patient(province_code=HANOI, commune_code=places["hcmc_commune"]))
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "commune_code"


@pytest.mark.parametrize("who", ["sysadmin", "facility_admin", "analyst_national", "patient_user"])
async def test_only_clinicians_register(as_user, world: World, who: str, audit_rows: AuditRows) -> None:
    user = getattr(world, who)
    r = await (await as_user(user)).post("/api/v1/patients", json=new_patient())
    assert r.status_code == 403
    assert [e.outcome for e in await audit_rows(actor=user.id, action="create")] == ["denied"]


async def test_clinician_may_not_register_for_another_facility(as_user, world: World) -> None:
    c = await as_user(world.spoke_clinician)
    r = await c.post("/api/v1/patients", json=new_patient(facility_id=str(world.spoke_b.id)))
    assert r.status_code == 403


async def test_edit_demographics_audits_changed_field_names(as_user, world: World, db: AsyncSession,
                                                            audit_rows: AuditRows) -> None:
    assert world.patient_a is not None
    pid = world.patient_a.id
    c = await as_user(world.spoke_clinician)
    r = await c.patch(f"/api/v1/patients/{pid}", json={"full_name": "Phạm Thị Hồng Nhung", "phone": "+84 912 000 111"})
    assert r.status_code == 200, r.text
    assert r.json()["changed"] == ["full_name", "phone"]
    patient = await db.get(Patient, pid)
    assert patient is not None and patient.search_text == "pham thi hong nhung" and patient.phone == "0912000111"
    [event] = await audit_rows(actor=world.spoke_clinician.id, action="update")
    assert event.patient_id == pid and "full_name" in (event.detail or "") and "Nhung" not in (event.detail or "")
    # Giving the provisional record its citizen ID makes it a real identity; the ID is checked.
    bad = await c.patch(f"/api/v1/patients/{pid}", json={"citizen_id": citizen_id(date(1990, 1, 1))})
    assert bad.status_code == 400
    ok = await c.patch(f"/api/v1/patients/{pid}", json={"citizen_id": citizen_id(date(2019, 5, 4), "female")})
    assert ok.status_code == 200 and ok.json()["changed"] == ["citizen_id"]
    await db.refresh(patient)
    assert patient.provisional is False


async def test_edit_needs_a_relationship(as_user, world: World) -> None:
    assert world.patient_a is not None
    for user in (world.other_clinician, world.hub_specialist, world.patient_user):
        r = await (await as_user(user)).patch(f"/api/v1/patients/{world.patient_a.id}", json={"phone": "0912000111"})
        assert r.status_code == 403

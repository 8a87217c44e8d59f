"""Who finds and reads which patient: relationships, not roles. Every search and read is audited."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.kit.db import utcnow
from telebridge.patients.models import CareRelationship
from tests.factories import HANOI, World, add_patient
from tests.patients.conftest import AuditRows, citizen_id


async def names_found(c: httpx.AsyncClient, world: World, **params: object) -> set[str]:
    r = await c.get("/api/v1/patients", params={"q": world.tag, **params})
    assert r.status_code == 200, r.text
    return {p["full_name"] for p in r.json()["items"]}


async def test_search_is_scoped_by_care_relationship(as_user, world: World) -> None:
    assert world.patient_a is not None and world.patient_b is not None
    a, b = world.patient_a.full_name, world.patient_b.full_name
    assert await names_found(await as_user(world.spoke_clinician), world) == {a}
    assert await names_found(await as_user(world.other_clinician), world) == {b}
    # The hub sees a spoke's patient only once a relationship exists (a consultation request).
    assert await names_found(await as_user(world.hub_specialist), world) == set()
    assert await names_found(await as_user(world.hub_coordinator), world) == set()


@pytest.mark.parametrize("who", ["sysadmin", "analyst_national", "analyst_province", "facility_admin"])
async def test_administrators_and_analysts_find_no_identifiable_patient(as_user, world: World, who: str) -> None:
    assert await names_found(await as_user(getattr(world, who)), world) == set()


async def test_search_is_diacritic_insensitive_filtered_and_paginated(as_user, world: World, db: AsyncSession) -> None:
    for i in range(3):
        await add_patient(db, f"Nguyễn Văn Đức {world.tag} {i}", world.spoke_a.id, HANOI)
    await db.commit()
    c = await as_user(world.spoke_clinician)
    r = await c.get("/api/v1/patients", params={"q": f"nguyen van duc {world.tag}", "per_page": 2})
    body = r.json()
    assert body["total"] == 3 and len(body["items"]) == 2 and body["items"][0]["full_name"].startswith("Nguyễn Văn Đức")
    r = await c.get("/api/v1/patients", params={"q": f"NGUYEN van duc {world.tag}", "per_page": 2, "page": 2})
    assert len(r.json()["items"]) == 1
    assert await names_found(c, world, date_of_birth="2019-05-04", province=HANOI) != set()
    assert await names_found(c, world, date_of_birth="2000-01-01") == set()
    assert await names_found(c, world, province=79) == set()
    # LIKE wildcards in the query are taken literally.
    assert (await c.get("/api/v1/patients", params={"q": "%"})).json()["total"] == 0


async def test_each_search_writes_one_audit_record_without_the_query(as_user, world: World, audit_rows: AuditRows) -> None:
    c = await as_user(world.spoke_clinician)
    await c.get("/api/v1/patients", params={"q": f"Phạm Thị Hồng {world.tag}"})
    [event] = await audit_rows(actor=world.spoke_clinician.id, action="search")
    assert event.object_type == "patient" and event.outcome == "ok"
    assert json.loads(event.detail or "{}") == {"results": 1}
    assert world.tag not in (event.detail or "")


async def test_read_is_audited_with_actor_role_facility_and_address(as_user, world: World, audit_rows: AuditRows) -> None:
    assert world.patient_a is not None
    pid = world.patient_a.id
    c = await as_user(world.spoke_clinician)
    r = await c.get(f"/api/v1/patients/{pid}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["full_name"] == world.patient_a.full_name and body["provisional"] is True
    assert body["province_name"] and body["age"] is not None and body["access_basis"] == "relationship"
    assert [c["facility_name"] for c in body["care_relationships"]] == [world.spoke_a.name]
    await c.get(f"/api/v1/patients/{pid}")
    rows = await audit_rows(actor=world.spoke_clinician.id, action="read", patient_id=pid)
    assert len(rows) == 2
    e = rows[0]
    assert (e.actor_role, e.actor_facility_id, e.client_addr, e.outcome, e.break_glass, e.object_type) == (
        "spoke_clinician", world.spoke_a.id, "203.0.113.9", "ok", False, "patient")


@pytest.mark.parametrize("who", ["other_clinician", "hub_specialist", "sysadmin", "facility_admin", "analyst_national"])
async def test_unrelated_read_is_403_and_audited_as_denied(as_user, world: World, who: str, audit_rows: AuditRows) -> None:
    assert world.patient_a is not None
    user = getattr(world, who)
    r = await (await as_user(user)).get(f"/api/v1/patients/{world.patient_a.id}")
    assert r.status_code == 403
    assert world.patient_a.full_name not in r.text
    rows = await audit_rows(actor=user.id, patient_id=world.patient_a.id)
    assert [(e.action, e.outcome) for e in rows] == [("read", "denied")]


async def test_unknown_patient_is_404(as_user, world: World) -> None:
    c = await as_user(world.spoke_clinician)
    r = await c.get("/api/v1/patients/00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404


async def test_ended_relationship_no_longer_gives_access(as_user, world: World, db: AsyncSession) -> None:
    assert world.patient_b is not None
    db.add(CareRelationship(patient_id=world.patient_b.id, facility_id=world.hub_a.id, basis="consultation_request",
                            created_at=utcnow(), ended_at=utcnow()))
    await db.commit()
    c = await as_user(world.hub_specialist)
    assert (await c.get(f"/api/v1/patients/{world.patient_b.id}")).status_code == 403
    db.add(CareRelationship(patient_id=world.patient_b.id, facility_id=world.hub_a.id, basis="consultation_request",
                            created_at=utcnow()))
    await db.commit()
    assert (await c.get(f"/api/v1/patients/{world.patient_b.id}")).status_code == 200
    assert await names_found(c, world) == {world.patient_b.full_name}


async def test_patient_reads_only_their_own_record(as_user, world: World) -> None:
    assert world.patient_a is not None and world.patient_b is not None
    c = await as_user(world.patient_user)
    r = await c.get(f"/api/v1/patients/{world.patient_a.id}")
    assert r.status_code == 200 and r.json()["access_basis"] == "self"
    assert (await c.get(f"/api/v1/patients/{world.patient_b.id}")).status_code == 403
    assert await names_found(c, world) == {world.patient_a.full_name}
    r = await c.patch(f"/api/v1/patients/{world.patient_a.id}", json={"phone": "0912000111"})
    assert r.status_code == 403


async def test_search_by_unknown_exact_citizen_id_gives_no_stub(as_user, world: World) -> None:
    c = await as_user(world.other_clinician)
    r = await c.get("/api/v1/patients", params={"q": "001190000000"})
    assert r.json()["total"] == 0 and r.json()["emergency_stub"] is None


async def test_exact_citizen_id_of_unreadable_patient_gives_masked_stub(as_user, world: World, db: AsyncSession,
                                                                       audit_rows: AuditRows) -> None:
    cid = citizen_id(date(2019, 5, 4))
    p = await add_patient(db, "Nguyễn Văn An", world.spoke_a.id, HANOI, citizen_id=cid)
    await db.commit()
    admin = await as_user(world.sysadmin)
    assert (await admin.get("/api/v1/patients", params={"q": cid})).json()["emergency_stub"] is None
    c = await as_user(world.other_clinician)
    r = await c.get("/api/v1/patients", params={"q": cid})
    body = r.json()
    assert body["items"] == [] and body["emergency_stub"] == {"id": str(p.id), "masked_name": "N*** V** A*"}
    assert "Nguyễn" not in r.text
    # A name search never yields a stub.
    assert (await c.get("/api/v1/patients", params={"q": "Nguyễn Văn An"})).json()["emergency_stub"] is None
    rows = await audit_rows(actor=world.other_clinician.id, action="search")
    assert [e.patient_id for e in rows] == [p.id, None]

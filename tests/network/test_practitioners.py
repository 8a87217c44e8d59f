"""Practitioners: licence rules, duplicates, citizen-ID visibility, search, practitioner_may_act."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from telebridge.network import service
from tests.factories import World
from tests.network.conftest import audit_rows, citizen_id, practitioner_body


async def test_create_and_read_practitioner(as_user, world: World, hub_admin, sessionmaker) -> None:
    c = await as_user(hub_admin)
    cid = citizen_id()
    r = await c.post("/api/v1/practitioners", json=practitioner_body(world.hub_a.id, citizen_id=cid))
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["citizen_id"] == cid and p["licence_status"] == "valid"
    assert [(x["facility_name"], x["current"]) for x in p["registrations"]] == [(world.hub_a.name, True)]
    # Other staff read the practitioner without the citizen ID.
    other = await as_user(world.other_clinician)
    r = await other.get(f"/api/v1/practitioners/{p['id']}")
    assert r.status_code == 200 and r.json()["citizen_id"] is None
    sysadmin = await as_user(world.sysadmin)
    assert (await sysadmin.get(f"/api/v1/practitioners/{p['id']}")).json()["citizen_id"] == cid
    [row] = await audit_rows(sessionmaker, object_type="practitioner", object_id=p["id"])
    assert row.action == "create" and cid not in (row.detail or "")


async def test_practitioner_validation(as_user, world: World) -> None:
    c = await as_user(world.sysadmin)
    body = practitioner_body(world.hub_a.id, licence_number="12/BYT")
    r = await c.post("/api/v1/practitioners", json=body)
    assert r.status_code == 400 and r.json()["error"]["field"] == "licence_number"
    r = await c.post("/api/v1/practitioners", json=practitioner_body(
        world.hub_a.id, licence_number=world.practitioners["hub"].licence_number))
    assert r.status_code == 409 and r.json()["error"]["field"] == "licence_number"
    r = await c.post("/api/v1/practitioners", json=practitioner_body(
        world.hub_a.id, licence_issued_on="2024-05-01", licence_expires_on="2024-04-30"))
    assert r.status_code == 400 and r.json()["error"]["field"] == "licence_expires_on"
    r = await c.post("/api/v1/practitioners", json=practitioner_body(world.hub_a.id, citizen_id="12345"))
    assert r.status_code == 400 and r.json()["error"]["field"] == "citizen_id"
    assert "12 chữ số" in r.json()["error"]["message"]
    r = await c.post("/api/v1/practitioners", json=practitioner_body(world.hub_a.id, citizen_id="001985000001"))
    assert r.status_code == 400  # fourth digit 9 encodes no century
    cid = citizen_id()
    assert (await c.post("/api/v1/practitioners", json=practitioner_body(world.hub_a.id, citizen_id=cid))).status_code == 201
    r = await c.post("/api/v1/practitioners", json=practitioner_body(world.hub_a.id, citizen_id=cid))
    assert r.status_code == 409 and r.json()["error"]["field"] == "citizen_id"
    r = await c.post("/api/v1/practitioners", json=practitioner_body(world.hub_a.id, specialties=["astrology"]))
    assert r.status_code == 400


async def test_licence_status_and_search(as_user, world: World) -> None:
    c = await as_user(world.sysadmin)
    soon = (service.today() + timedelta(days=30)).isoformat()
    gone = (service.today() - timedelta(days=1)).isoformat()
    r1 = await c.post("/api/v1/practitioners", json=practitioner_body(
        world.spoke_b.id, full_name=f"Võ Thị Hết Hạn {world.tag}", licence_expires_on=gone))
    r2 = await c.post("/api/v1/practitioners", json=practitioner_body(
        world.spoke_b.id, full_name=f"Võ Văn Sắp Hết {world.tag}", licence_expires_on=soon, specialties=["dermatology"]))
    assert r1.json()["licence_status"] == "expired" and r2.json()["licence_status"] == "expiring"
    reader = await as_user(world.analyst_province)

    async def names(**params: str) -> list[str]:
        r = await reader.get("/api/v1/practitioners", params=params)
        assert r.status_code == 200
        return sorted(i["full_name"] for i in r.json()["items"])

    assert await names(q=f"vo thi het han {world.tag}") == [f"Võ Thị Hết Hạn {world.tag}"]
    assert await names(q=r2.json()["licence_number"]) == [f"Võ Văn Sắp Hết {world.tag}"]
    assert await names(q=world.tag, specialty="dermatology") == [f"Võ Văn Sắp Hết {world.tag}"]
    assert await names(q=world.tag, facility=str(world.hub_a.id)) == [world.practitioners["hub"].full_name]
    page = (await reader.get("/api/v1/practitioners", params={"q": world.tag, "page_size": 2, "page": 3})).json()
    assert page["total"] == 5 and len(page["items"]) == 1


async def test_edit_rights_and_update(as_user, world: World, sessionmaker) -> None:
    pid = world.practitioners["spoke"].id  # registered at spoke_a
    admin = await as_user(world.facility_admin)  # admin of spoke_a
    current = (await admin.get(f"/api/v1/practitioners/{pid}")).json()
    body = {k: current[k] for k in ("full_name", "title", "profession", "licence_number", "licence_issuer",
                                    "licence_issued_on", "licence_expires_on", "scope_of_practice", "specialties")}
    own = {"facility_id": str(world.spoke_a.id), "hours": "T2-T7 07:00-17:00", "valid_from": "2024-01-01"}
    at_hub = {"facility_id": str(world.hub_a.id), "hours": "CN 07:00-11:00", "valid_from": "2025-01-01"}
    # Registering the practitioner at a facility this admin does not run is refused, and nothing changes.
    body["registrations"] = [own, at_hub]
    r = await admin.put(f"/api/v1/practitioners/{pid}", json=body)
    assert r.status_code == 403
    assert [x["facility_id"] for x in (await admin.get(f"/api/v1/practitioners/{pid}")).json()["registrations"]] == [str(world.spoke_a.id)]
    assert await audit_rows(sessionmaker, object_type="practitioner_registration", outcome="denied", actor=world.facility_admin.id)
    # Changing the registration at the admin's own facility works.
    body["registrations"] = [own]
    r = await admin.put(f"/api/v1/practitioners/{pid}", json=body)
    assert r.status_code == 200, r.text
    assert [x["hours"] for x in r.json()["registrations"]] == ["T2-T7 07:00-17:00"]
    [row] = await audit_rows(sessionmaker, object_type="practitioner", object_id=pid)
    assert row.action == "update" and "registrations" in row.detail
    # A system administrator may register the practitioner at the hub too.
    body["registrations"] = [own, at_hub]
    sysadmin = await as_user(world.sysadmin)
    r = await sysadmin.put(f"/api/v1/practitioners/{pid}", json=body)
    assert r.status_code == 200, r.text
    assert sorted(x["hours"] for x in r.json()["registrations"]) == ["CN 07:00-11:00", "T2-T7 07:00-17:00"]
    # Creating a practitioner registered both here and elsewhere is refused as a whole.
    both = practitioner_body(world.spoke_a.id)
    both["registrations"].append(at_hub)
    assert (await admin.post("/api/v1/practitioners", json=both)).status_code == 403
    # The admin of spoke_a may not touch a practitioner of hub_b's spoke, nor create one there.
    body["registrations"] = [own]
    r = await admin.put(f"/api/v1/practitioners/{world.practitioners['other'].id}", json=body)
    assert r.status_code == 403
    assert (await admin.post("/api/v1/practitioners", json=practitioner_body(world.spoke_b.id))).status_code == 403


async def test_practitioner_may_act(world: World, sessionmaker) -> None:
    now = datetime.now(UTC)
    async with sessionmaker() as db:
        hub_doc = world.practitioners["hub"]
        assert await service.practitioner_may_act(db, practitioner_id=hub_doc.id, facility_id=world.hub_a.id, at=now)
        assert not await service.practitioner_may_act(db, practitioner_id=hub_doc.id, facility_id=world.spoke_a.id, at=now)
        assert not await service.practitioner_may_act(db, practitioner_id=hub_doc.id, facility_id=world.hub_a.id,
                                                      at=now + timedelta(days=4 * 365))  # licence expired by then
        assert not await service.practitioner_may_act(db, practitioner_id=hub_doc.id, facility_id=world.hub_a.id,
                                                      at=datetime(2023, 6, 1, tzinfo=UTC))  # not yet registered

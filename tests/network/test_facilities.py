"""Creating and editing facilities: validation, duplicates, identifier and address history, audit."""

from __future__ import annotations

import uuid
from sqlalchemy import func, select

from telebridge.network.service import today
from telebridge.network.models import Commune, Facility, FacilityIdentifier
from tests.factories import HANOI, HCMC, World, next_gln
from tests.network.conftest import audit_rows, facility_body


async def _commune(sessionmaker, province: int) -> int:
    async with sessionmaker() as db:
        return int(await db.scalar(select(Commune.code).where(Commune.province_code == province).limit(1)))


async def _count(sessionmaker, model, *where) -> int:  # type: ignore[no-untyped-def]
    async with sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_create_facility_with_history_and_audit(as_user, world: World, sessionmaker) -> None:
    c = await as_user(world.sysadmin)
    commune = await _commune(sessionmaker, HANOI)
    body = facility_body(world.tag, commune_code=commune)
    r = await c.post("/api/v1/facilities", json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    fid = uuid.UUID(out["id"])
    assert out["province_name"] and out["commune_name"]
    assert {(i["system"], i["value"], i["valid_to"]) for i in out["identifiers"]} == {
        ("insurance", body["insurance_code"], None), ("gln", body["gln_code"], None)}
    assert [(a["commune_code"], a["valid_to"]) for a in out["addresses"]] == [(commune, None)]
    # Found in the directory, diacritic-insensitively.
    found = (await c.get("/api/v1/facilities", params={"q": f"soc son {world.tag}"})).json()
    assert [i["id"] for i in found["items"]] == [str(fid)]
    [row] = await audit_rows(sessionmaker, object_type="facility", object_id=fid)
    assert row.action == "create" and row.outcome == "ok"
    assert "insurance_code" in row.detail and "Sóc Sơn" not in row.detail


async def test_edit_closes_and_opens_history_rows(as_user, world: World, sessionmaker) -> None:
    c = await as_user(world.sysadmin)
    fid = world.spoke_b.id
    # The world's facilities were inserted without history; give them a first edit then a second.
    new_gln = next_gln()
    commune = await _commune(sessionmaker, HCMC)
    r = await c.patch(f"/api/v1/facilities/{fid}", json={"gln_code": new_gln, "commune_code": commune, "beds": 40})
    assert r.status_code == 200, r.text
    newer_gln = next_gln()
    r = await c.patch(f"/api/v1/facilities/{fid}", json={"gln_code": newer_gln, "address_line": "Số 5 đường Rừng Sác"})
    assert r.status_code == 200, r.text
    out = r.json()
    glns = [(i["value"], i["valid_to"]) for i in out["identifiers"] if i["system"] == "gln"]
    assert glns == [(new_gln, today().isoformat()), (newer_gln, None)]
    assert not [i for i in out["identifiers"] if i["system"] == "insurance"]  # insurance code never changed
    assert [(a["address_line"], a["valid_to"]) for a in out["addresses"]] == [
        (None, today().isoformat()), ("Số 5 đường Rừng Sác", None)]
    assert out["beds"] == 40 and out["commune_code"] == commune
    rows = await audit_rows(sessionmaker, object_type="facility", object_id=fid)
    assert [r.action for r in rows] == ["update", "update"]
    assert '"address_line"' in rows[1].detail and '"gln_code"' in rows[1].detail and "beds" not in rows[1].detail


async def test_duplicate_codes_are_409_and_nothing_is_written(as_user, world: World, sessionmaker) -> None:
    c = await as_user(world.sysadmin)
    before = await _count(sessionmaker, Facility)
    r = await c.post("/api/v1/facilities", json=facility_body(world.tag, insurance_code=world.hub_a.insurance_code))
    assert r.status_code == 409
    assert r.json()["error"]["field"] == "insurance_code"
    assert world.hub_a.insurance_code in r.json()["error"]["message"]
    r = await c.post("/api/v1/facilities", json=facility_body(world.tag, gln_code=world.hub_b.gln_code))
    assert r.status_code == 409 and r.json()["error"]["field"] == "gln_code"
    r = await c.patch(f"/api/v1/facilities/{world.spoke_a.id}", json={"gln_code": world.hub_b.gln_code, "beds": 99})
    assert r.status_code == 409
    assert await _count(sessionmaker, Facility) == before
    async with sessionmaker() as db:
        spoke = await db.get(Facility, world.spoke_a.id)
        assert spoke.beds is None and spoke.gln_code == world.spoke_a.gln_code
        assert await _count(sessionmaker, FacilityIdentifier, FacilityIdentifier.facility_id == world.spoke_a.id) == 0


async def test_invalid_codes_are_400_in_vietnamese(as_user, world: World) -> None:
    c = await as_user(world.sysadmin)
    r = await c.post("/api/v1/facilities", json=facility_body(world.tag, insurance_code="99123"))
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "insurance_code"
    assert "Mã cơ sở" in r.json()["error"]["message"] or "mã" in r.json()["error"]["message"].lower()
    r = await c.post("/api/v1/facilities", json=facility_body(world.tag, gln_code="8930000000001"))
    assert r.status_code == 400
    assert r.json()["error"] == {"code": "bad_input", "field": "gln_code",
                                 "message": "Mã GLN của cơ sở gồm 13 chữ số với chữ số kiểm tra hợp lệ."}
    r = await c.post("/api/v1/facilities?lang=en", json=facility_body(world.tag, gln_code="123"))
    assert r.json()["error"]["message"].startswith("A facility GLN")
    r = await c.post("/api/v1/facilities", json=facility_body(world.tag, kind="spaceport"))
    assert r.status_code == 400 and r.json()["error"]["field"] == "kind"


async def test_province_and_commune_must_exist_and_match(as_user, world: World, sessionmaker) -> None:
    c = await as_user(world.sysadmin)
    r = await c.post("/api/v1/facilities", json=facility_body(world.tag, province_code=999))
    assert r.status_code == 400 and r.json()["error"]["field"] == "province_code"
    saigon_commune = await _commune(sessionmaker, HCMC)
    r = await c.post("/api/v1/facilities", json=facility_body(world.tag, commune_code=saigon_commune))
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "commune_code"
    assert await _count(sessionmaker, Facility, Facility.search_text.contains(world.tag)) == 4


async def test_facility_admin_edits_only_its_own_facility(as_user, world: World, sessionmaker) -> None:
    c = await as_user(world.facility_admin)  # admin of spoke_a
    r = await c.patch(f"/api/v1/facilities/{world.spoke_a.id}", json={"phone": "0243 888 9999"})
    assert r.status_code == 200 and r.json()["phone"] == "02438889999"
    r = await c.patch(f"/api/v1/facilities/{world.hub_a.id}", json={"phone": "0243 888 9999"})
    assert r.status_code == 403
    [denied] = await audit_rows(sessionmaker, object_type="facility", object_id=world.hub_a.id, outcome="denied")
    assert denied.action == "update" and denied.actor_user_id == world.facility_admin.id
    r = await c.post("/api/v1/facilities", json=facility_body(world.tag))
    assert r.status_code == 403


async def test_facility_page_json_shows_links_staff_and_names(as_user, world: World) -> None:
    c = await as_user(world.analyst_province)
    r = await c.get(f"/api/v1/facilities/{world.hub_a.id}")
    assert r.status_code == 200
    out = r.json()
    assert out["is_hub"] is True and out["province_name"]
    [link] = out["links_as_hub"]
    assert link["spoke_name"] == world.spoke_a.name
    assert link["specialties"] == ["cardiology", "paediatrics"] and link["contract_ref"] == f"HD-{world.tag}"
    assert out["links_as_spoke"] == []
    [staff] = out["staff"]
    assert staff["full_name"] == world.practitioners["hub"].full_name and staff["licence_status"] == "valid"
    spoke = (await c.get(f"/api/v1/facilities/{world.spoke_a.id}")).json()
    assert [h["hub_name"] for h in spoke["links_as_spoke"]] == [world.hub_a.name]
    assert (await c.get(f"/api/v1/facilities/{uuid.uuid4()}")).status_code == 404

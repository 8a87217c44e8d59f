"""On-call rosters: who may write them, the rules for a shift, on_call_now."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import httpx

from telebridge.network import service
from telebridge.network.service import TZ
from tests.factories import World
from tests.network.conftest import audit_rows, practitioner_body


def _at(days: int, hour: int) -> datetime:
    return datetime.combine(service.today() + timedelta(days=days), time(hour), tzinfo=TZ)


def _shift(practitioner_id, start: datetime, end: datetime, specialty: str = "cardiology") -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"specialty_code": specialty, "practitioner_id": str(practitioner_id),
            "starts_at": start.isoformat(), "ends_at": end.isoformat()}


async def _post(c: httpx.AsyncClient, world: World, body: dict[str, str]) -> httpx.Response:
    return await c.post(f"/api/v1/facilities/{world.hub_a.id}/roster", json=body)


async def test_coordinator_builds_the_roster_and_on_call_now(as_user, world: World, sessionmaker) -> None:
    c = await as_user(world.hub_coordinator)
    doc = world.practitioners["hub"]
    r = await _post(c, world, _shift(doc.id, _at(1, 8), _at(1, 20)))
    assert r.status_code == 201, r.text
    shift = r.json()
    assert shift["practitioner_name"] == doc.full_name
    roster = (await c.get(f"/api/v1/facilities/{world.hub_a.id}/roster")).json()
    assert [s["id"] for s in roster] == [shift["id"]]
    async with sessionmaker() as db:
        on_call = await service.on_call_now(db, hub_id=world.hub_a.id, specialty_code="cardiology", at=_at(1, 10))
        assert [p.id for p in on_call] == [doc.id]
        assert await service.on_call_now(db, hub_id=world.hub_a.id, specialty_code="cardiology", at=_at(1, 21)) == []
        assert await service.on_call_now(db, hub_id=world.hub_a.id, specialty_code="paediatrics", at=_at(1, 10)) == []
    # The same practitioner cannot be on two overlapping shifts.
    r = await _post(c, world, _shift(doc.id, _at(1, 19), _at(1, 23)))
    assert r.status_code == 409
    # Back-to-back is fine; a naive time is read as Vietnamese local time.
    naive = _shift(doc.id, _at(1, 20), _at(2, 6))
    naive["starts_at"], naive["ends_at"] = _at(1, 20).replace(tzinfo=None).isoformat(), _at(2, 6).replace(tzinfo=None).isoformat()
    r = await _post(c, world, naive)
    assert r.status_code == 201
    assert datetime.fromisoformat(r.json()["starts_at"]) == _at(1, 20)
    r = await c.delete(f"/api/v1/facilities/{world.hub_a.id}/roster/{shift['id']}")
    assert r.status_code == 204
    rows = await audit_rows(sessionmaker, object_type="on_call_shift", object_id=shift["id"])
    assert [x.action for x in rows] == ["create", "delete"]


async def test_shift_rules(as_user, world: World) -> None:
    c = await as_user(world.sysadmin)
    doc = world.practitioners["hub"]
    r = await _post(c, world, _shift(world.practitioners["spoke"].id, _at(2, 8), _at(2, 12), "paediatrics"))
    assert r.status_code == 400 and r.json()["error"]["field"] == "practitioner_id"  # not registered at the hub
    r = await _post(c, world, _shift(doc.id, _at(2, 8), _at(2, 12), "paediatrics"))
    assert r.status_code == 400 and r.json()["error"]["field"] == "specialty_code"  # not the practitioner's specialty
    r = await _post(c, world, _shift(doc.id, _at(2, 8), _at(2, 12), "neurology"))
    assert r.status_code == 400 and r.json()["error"]["field"] == "specialty_code"  # hub does not cover it
    assert (await _post(c, world, _shift(doc.id, _at(2, 8), _at(3, 9)))).status_code == 400  # over 24 h
    assert (await _post(c, world, _shift(doc.id, _at(2, 8), _at(2, 8)))).status_code == 400
    # A licence that expires before the shift ends.
    expiring = await c.post("/api/v1/practitioners", json=practitioner_body(
        world.hub_a.id, specialties=["cardiology"], licence_expires_on=(service.today() + timedelta(days=1)).isoformat()))
    pid = expiring.json()["id"]
    r = await _post(c, world, _shift(pid, _at(1, 20), _at(2, 8)))
    assert r.status_code == 400 and r.json()["error"]["field"] == "practitioner_id"
    assert (await _post(c, world, _shift(pid, _at(1, 8), _at(1, 16)))).status_code == 201


async def test_roster_permissions(as_user, world: World, hub_admin) -> None:
    doc = world.practitioners["hub"]
    for user in (world.spoke_clinician, world.facility_admin, world.hub_specialist):
        c = await as_user(user)
        assert (await _post(c, world, _shift(doc.id, _at(3, 8), _at(3, 12)))).status_code == 403
        assert (await c.get(f"/api/v1/facilities/{world.hub_a.id}/roster")).status_code == 200
    c = await as_user(hub_admin)
    assert (await _post(c, world, _shift(doc.id, _at(3, 8), _at(3, 12)))).status_code == 201

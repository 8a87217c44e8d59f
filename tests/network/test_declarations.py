"""Remote-care declarations, declared_specialties and hubs_for."""

from __future__ import annotations

from datetime import timedelta

from telebridge.network import service
from tests.factories import World


async def _routing(sessionmaker, world: World) -> tuple[set[str], list[str]]:  # type: ignore[no-untyped-def]
    async with sessionmaker() as db:
        on = service.today()
        declared = await service.declared_specialties(db, facility_id=world.hub_a.id, on=on)
        hubs = await service.hubs_for(db, spoke_id=world.spoke_a.id, specialty_code="cardiology", on=on)
        return declared, [h.name for h in hubs]


async def _declare_and_publish(as_user, world: World, facility, admin) -> str:  # type: ignore[no-untyped-def]
    c = await as_user(admin)
    r = await c.post(f"/api/v1/facilities/{facility.id}/declarations",
                     json={"specialties": ["cardiology"], "modes": ["remote_consultation"]})
    assert r.status_code == 201, r.text
    sysadmin = await as_user(world.sysadmin)
    r = await sysadmin.post(f"/api/v1/declarations/{r.json()['id']}/publish",
                            json={"published_on": service.today().isoformat(), "authority": "Sở Y tế"})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def test_declare_publish_withdraw(as_user, world: World, hub_admin, sessionmaker) -> None:
    c = await as_user(hub_admin)
    r = await c.post(f"/api/v1/facilities/{world.hub_a.id}/declarations",
                     json={"specialties": ["cardiology", "paediatrics"], "modes": ["remote_consultation", "inter_facility_support"]})
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["status"] == "submitted" and d["declared_on"] == service.today().isoformat()
    assert d["publish_due"] == (service.today() + timedelta(days=10)).isoformat()
    assert await _routing(sessionmaker, world) == (set(), [])  # not published: nothing may be requested
    assert (await c.post(f"/api/v1/declarations/{d['id']}/publish",
                         json={"published_on": service.today().isoformat(), "authority": "Sở Y tế"})).status_code == 403
    sysadmin = await as_user(world.sysadmin)
    r = await sysadmin.post(f"/api/v1/declarations/{d['id']}/publish",
                            json={"published_on": (service.today() - timedelta(days=3)).isoformat(), "authority": "Sở Y tế"})
    assert r.status_code == 400  # before it was declared
    r = await sysadmin.post(f"/api/v1/declarations/{d['id']}/publish",
                            json={"published_on": service.today().isoformat(), "authority": "Sở Y tế Hà Nội"})
    assert r.status_code == 200 and r.json()["status"] == "published"
    assert await _routing(sessionmaker, world) == ({"cardiology", "paediatrics"}, [world.hub_a.name])
    assert (await sysadmin.post(f"/api/v1/declarations/{d['id']}/publish",
                                json={"published_on": service.today().isoformat(), "authority": "X"})).status_code == 409
    listed = (await (await as_user(world.spoke_clinician)).get(f"/api/v1/facilities/{world.hub_a.id}/declarations")).json()
    assert [x["id"] for x in listed] == [d["id"]]
    r = await c.post(f"/api/v1/declarations/{d['id']}/withdraw")
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    assert await _routing(sessionmaker, world) == (set(), [])


async def test_declaration_rules_and_rights(as_user, world: World) -> None:
    spoke_admin = await as_user(world.facility_admin)
    r = await spoke_admin.post(f"/api/v1/facilities/{world.hub_a.id}/declarations",
                               json={"specialties": ["cardiology"], "modes": ["remote_consultation"]})
    assert r.status_code == 403
    url = f"/api/v1/facilities/{world.spoke_a.id}/declarations"
    assert (await spoke_admin.post(url, json={"specialties": ["cardiology"], "modes": ["telepathy"]})).status_code == 400
    assert (await spoke_admin.post(url, json={"specialties": [], "modes": ["remote_consultation"]})).status_code == 400
    assert (await spoke_admin.post(url, json={"specialties": ["cardiology"], "modes": []})).status_code == 400
    assert (await spoke_admin.post(url, json={"specialties": ["cardiology"], "modes": ["direct_to_patient"]})).status_code == 201


async def test_hubs_for_orders_by_link_priority(as_user, world: World, sessionmaker) -> None:
    sysadmin = await as_user(world.sysadmin)
    r = await sysadmin.post("/api/v1/links", json={"hub_id": str(world.hub_b.id), "spoke_id": str(world.spoke_a.id),
                                                   "specialties": ["cardiology"], "priority": 2})
    assert r.status_code == 201
    await _declare_and_publish(as_user, world, world.hub_a, world.sysadmin)
    await _declare_and_publish(as_user, world, world.hub_b, world.sysadmin)
    assert (await _routing(sessionmaker, world))[1] == [world.hub_a.name, world.hub_b.name]
    r = await sysadmin.patch(f"/api/v1/links/{world.link_a.id}", json={"priority": 3})
    assert r.status_code == 200
    assert (await _routing(sessionmaker, world))[1] == [world.hub_b.name, world.hub_a.name]
    async with sessionmaker() as db:
        assert await service.hubs_for(db, spoke_id=world.spoke_a.id, specialty_code="paediatrics", on=service.today()) == []

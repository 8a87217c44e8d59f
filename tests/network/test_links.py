"""Hub↔spoke links: who may create them and the rules they obey."""

from __future__ import annotations

import httpx

from tests.factories import World
from tests.network.conftest import audit_rows


def _link(hub, spoke, **extra: object) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {"hub_id": str(hub.id), "spoke_id": str(spoke.id), "specialties": ["cardiology"], **extra}


async def _spokes_of(c: httpx.AsyncClient, hub) -> list[str]:  # type: ignore[no-untyped-def]
    r = await c.get("/api/v1/facilities", params={"hub": str(hub.id)})
    return sorted(i["name"] for i in r.json()["items"])


async def test_hub_admin_creates_edits_and_ends_a_link(as_user, world: World, hub_admin, sessionmaker) -> None:
    c = await as_user(hub_admin)
    r = await c.post("/api/v1/links", json=_link(world.hub_a, world.spoke_b, specialties=["neurology", "cardiology"],
                                                  priority=2, contract_ref="HĐ-07/2025", contract_signed_on="2025-07-01",
                                                  contract_terms="Trách nhiệm, hạ tầng, lưu trữ dữ liệu, chi phí"))
    assert r.status_code == 201, r.text
    link = r.json()
    assert link["specialties"] == ["cardiology", "neurology"] and link["priority"] == 2 and link["current"] is True
    assert link["spoke_name"] == world.spoke_b.name
    assert await _spokes_of(c, world.hub_a) == sorted([world.spoke_a.name, world.spoke_b.name])

    r = await c.patch(f"/api/v1/links/{link['id']}", json={"specialties": ["neurology"], "priority": 1})
    assert r.status_code == 200
    assert r.json()["specialties"] == ["neurology"] and r.json()["priority"] == 1

    r = await c.post(f"/api/v1/links/{link['id']}/end", json={})
    assert r.status_code == 200 and r.json()["current"] is False
    assert await _spokes_of(c, world.hub_a) == [world.spoke_a.name]
    assert (await c.post(f"/api/v1/links/{link['id']}/end", json={})).status_code == 409
    # A new contract renews the pair with a new link; the ended one stays as history.
    renewed = await c.post("/api/v1/links", json=_link(world.hub_a, world.spoke_b, contract_ref="HĐ-08/2026"))
    assert renewed.status_code == 201, renewed.text
    assert renewed.json()["id"] != link["id"]
    assert await _spokes_of(c, world.hub_a) == sorted([world.spoke_a.name, world.spoke_b.name])
    # While that one is current, a second one for the pair is refused.
    assert (await c.post("/api/v1/links", json=_link(world.hub_a, world.spoke_b))).status_code == 409
    rows = await audit_rows(sessionmaker, object_type="hub_link", object_id=link["id"])
    assert [r.action for r in rows] == ["create", "update", "update"]


async def test_link_rules(as_user, world: World) -> None:
    c = await as_user(world.sysadmin)
    r = await c.post("/api/v1/links", json=_link(world.hub_a, world.hub_a))
    assert r.status_code == 400 and r.json()["error"]["field"] == "spoke_id"
    r = await c.post("/api/v1/links", json=_link(world.hub_a, world.spoke_b, specialties=["astrology"]))
    assert r.status_code == 400 and r.json()["error"]["field"] == "specialties"
    r = await c.post("/api/v1/links", json=_link(world.hub_a, world.spoke_b, specialties=[]))
    assert r.status_code == 400 and r.json()["error"]["field"] == "specialties"
    r = await c.post("/api/v1/links", json=_link(world.hub_a, world.spoke_b, valid_from="2025-05-01", valid_to="2025-04-01"))
    assert r.status_code == 400
    r = await c.post("/api/v1/links", json=_link(world.hub_a, world.spoke_a))
    assert r.status_code == 409
    assert "đã" in r.json()["error"]["message"]
    # A spoke may itself be a hub for another facility: roles come from links only.
    r = await c.post("/api/v1/links", json=_link(world.spoke_b, world.spoke_a, priority=3))
    assert r.status_code == 201
    assert await _spokes_of(c, world.spoke_b) == [world.spoke_a.name]


async def test_only_admins_of_the_hub_manage_links(as_user, world: World, sessionmaker) -> None:
    spoke_admin = await as_user(world.facility_admin)  # admin of spoke_a, not of hub_a
    r = await spoke_admin.post("/api/v1/links", json=_link(world.hub_a, world.spoke_b))
    assert r.status_code == 403
    r = await spoke_admin.patch(f"/api/v1/links/{world.link_a.id}", json={"priority": 5})
    assert r.status_code == 403
    [denied] = await audit_rows(sessionmaker, object_type="hub_link", object_id=world.link_a.id, outcome="denied")
    assert denied.actor_user_id == world.facility_admin.id
    coordinator = await as_user(world.hub_coordinator)
    assert (await coordinator.post(f"/api/v1/links/{world.link_a.id}/end", json={})).status_code == 403
    r = await coordinator.get(f"/api/v1/links/{world.link_a.id}")
    assert r.status_code == 200 and r.json()["current"] is True

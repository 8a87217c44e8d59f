"""The facility directory: search, each filter, pagination, JSON shape."""

from __future__ import annotations

import httpx

from tests.factories import HCMC, World

ITEM_KEYS = {"id", "name", "name_en", "kind", "technical_level", "legacy_tier", "insurance_code", "gln_code",
             "province_code", "province_name", "commune_code", "commune_name", "is_hub"}


async def _names(c: httpx.AsyncClient, **params: object) -> list[str]:
    r = await c.get("/api/v1/facilities", params={k: str(v) for k, v in params.items()})
    assert r.status_code == 200, r.text
    return sorted(i["name"] for i in r.json()["items"])


async def test_search_is_diacritic_insensitive_and_shape_is_exact(as_user, world: World) -> None:
    c = await as_user(world.spoke_clinician)
    r = await c.get("/api/v1/facilities", params={"q": f"dong anh {world.tag}"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"items", "total", "page", "page_size"}
    assert body["total"] == 1 and body["page"] == 1 and body["page_size"] == 20
    [item] = body["items"]
    assert set(item) == ITEM_KEYS
    assert item["name"] == world.spoke_a.name and item["is_hub"] is False
    assert item["province_name"] and item["insurance_code"] == world.spoke_a.insurance_code
    # Upper case and diacritics in the query fold the same way.
    assert await _names(c, q=f"ĐÔNG ÂNH {world.tag}") == [world.spoke_a.name]
    assert await _names(c, q=f"dong bac {world.tag}") == []


async def test_search_by_exact_insurance_code_or_gln(as_user, world: World) -> None:
    c = await as_user(world.analyst_national)
    r = await c.get("/api/v1/facilities", params={"q": world.hub_a.insurance_code})
    items = r.json()["items"]
    assert [i["id"] for i in items] == [str(world.hub_a.id)]
    assert items[0]["is_hub"] is True
    assert await _names(c, q=world.spoke_b.gln_code) == [world.spoke_b.name]


async def test_filters(as_user, world: World) -> None:
    c = await as_user(world.hub_specialist)
    t = world.tag
    assert await _names(c, q=t, province=HCMC) == sorted([world.hub_b.name, world.spoke_b.name])
    assert await _names(c, q=t, level="primary") == [world.spoke_a.name]
    assert await _names(c, q=t, kind="medical_centre") == [world.spoke_b.name]
    assert await _names(c, q=t, role="hub") == sorted([world.hub_a.name, world.hub_b.name])
    assert await _names(c, q=t, role="spoke") == sorted([world.spoke_a.name, world.spoke_b.name])
    assert await _names(c, hub=world.hub_a.id) == [world.spoke_a.name]
    assert await _names(c, q=t, specialty="paediatrics") == sorted([world.hub_a.name, world.spoke_a.name])
    assert await _names(c, q=t, specialty="cardiology", province=HCMC) == sorted([world.hub_b.name, world.spoke_b.name])
    assert await _names(c, q=t, specialty="psychiatry") == []


async def test_pagination(as_user, world: World) -> None:
    c = await as_user(world.spoke_clinician)
    first = (await c.get("/api/v1/facilities", params={"q": world.tag, "page_size": 3})).json()
    second = (await c.get("/api/v1/facilities", params={"q": world.tag, "page_size": 3, "page": 2})).json()
    assert first["total"] == second["total"] == 4
    assert len(first["items"]) == 3 and len(second["items"]) == 1
    assert {i["id"] for i in first["items"]}.isdisjoint({i["id"] for i in second["items"]})
    names = [i["name"] for i in first["items"] + second["items"]]
    assert len(set(names)) == 4
    assert (await c.get("/api/v1/facilities", params={"page_size": 101})).status_code == 422


async def test_hub_role_comes_from_links_not_level(as_user, world: World, sessionmaker) -> None:
    from datetime import date

    from telebridge.network.models import HubLink

    async with sessionmaker() as db:
        link = await db.get(HubLink, world.link_a.id)
        link.valid_to = date(2025, 6, 1)  # ended: hub_a is a hub no more, despite its level
        await db.commit()
    c = await as_user(world.spoke_clinician)
    assert await _names(c, q=world.tag, role="hub") == [world.hub_b.name]
    r = await c.get("/api/v1/facilities", params={"q": world.hub_a.insurance_code})
    assert r.json()["items"][0]["is_hub"] is False

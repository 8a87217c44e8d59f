"""Reading the network: every staff role may; the patient role may not (and the refusal is audited)."""

from __future__ import annotations

import pytest

from tests.factories import World
from tests.network.conftest import audit_rows


@pytest.mark.parametrize("role", ["spoke_clinician", "hub_specialist", "hub_coordinator", "facility_admin",
                                  "analyst_province", "analyst_national", "sysadmin"])
async def test_staff_read_the_network(as_user, world: World, role: str) -> None:
    c = await as_user(world.users[role])
    for url in ("/api/v1/facilities", f"/api/v1/facilities/{world.spoke_a.id}", "/api/v1/practitioners",
                f"/api/v1/links/{world.link_a.id}", f"/api/v1/facilities/{world.hub_a.id}/roster",
                f"/api/v1/facilities/{world.hub_a.id}/declarations"):
        assert (await c.get(url)).status_code == 200, (role, url)


async def test_patient_role_is_refused_and_audited(as_user, world: World, sessionmaker) -> None:
    c = await as_user(world.patient_user)
    for url in ("/api/v1/facilities", f"/api/v1/facilities/{world.spoke_a.id}", "/api/v1/practitioners",
                f"/api/v1/practitioners/{world.practitioners['hub'].id}", f"/api/v1/links/{world.link_a.id}",
                f"/api/v1/facilities/{world.hub_a.id}/roster", f"/api/v1/facilities/{world.hub_a.id}/declarations"):
        r = await c.get(url)
        assert r.status_code == 403, url
        assert r.json()["error"]["code"] == "forbidden"
    denied = await audit_rows(sessionmaker, object_type="facility", outcome="denied", actor=world.patient_user.id)
    assert [d.action for d in denied] == ["read", "read"]


async def test_unauthenticated_is_401(client) -> None:
    assert (await client.get("/api/v1/facilities")).status_code == 401

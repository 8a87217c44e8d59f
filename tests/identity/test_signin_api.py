from __future__ import annotations

import httpx
import pytest

from tests.factories import World


async def test_token_needs_password_and_totp(client: httpx.AsyncClient, world: World) -> None:
    u = world.hub_specialist
    r = await client.post("/api/v1/auth/token", json={"username": u.username, "password": u.password})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "bad_credentials"
    r = await client.post("/api/v1/auth/token", json={"username": u.username, "password": u.password, "totp": u.totp_now()})
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    me = await client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["username"] == u.username
    assert [a["role"] for a in me.json()["assignments"]] == ["hub_specialist"]


async def test_revoked_token_is_refused(client: httpx.AsyncClient, world: World) -> None:
    u = world.spoke_clinician
    r = await client.post("/api/v1/auth/token", json={"username": u.username, "password": u.password, "totp": u.totp_now()})
    headers = {"authorization": f"Bearer {r.json()['access_token']}"}
    assert (await client.delete("/api/v1/auth/token", headers=headers)).status_code == 204
    r = await client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_token"


@pytest.mark.parametrize("lang,expected", [("vi", "Sai"), ("en", "Wrong")])
async def test_wrong_password_message_in_users_language(client: httpx.AsyncClient, world: World, lang: str, expected: str) -> None:
    r = await client.post(f"/api/v1/auth/token?lang={lang}", json={"username": world.sysadmin.username, "password": "nope-nope-nope"})
    assert r.status_code == 401
    assert r.json()["error"]["message"].startswith(expected)


async def test_lockout_after_repeated_failures(client: httpx.AsyncClient, world: World) -> None:
    u = world.facility_admin
    for _ in range(4):
        r = await client.post("/api/v1/auth/token", json={"username": u.username, "password": "wrong-password-1"})
        assert r.status_code == 401
    # The fifth failure locks the account and says so.
    r = await client.post("/api/v1/auth/token", json={"username": u.username, "password": "wrong-password-1"})
    assert r.status_code == 423
    # Even the right password is refused while locked.
    r = await client.post("/api/v1/auth/token", json={"username": u.username, "password": u.password, "totp": u.totp_now()})
    assert r.status_code == 423
    assert r.json()["error"]["code"] == "locked"


async def test_unauthenticated_api_is_401(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/me")
    assert r.status_code == 401
    r = await client.get("/api/v1/me", headers={"authorization": "Bearer tb_forged"})
    assert r.status_code == 401

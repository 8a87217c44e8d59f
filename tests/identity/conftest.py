from __future__ import annotations

import httpx

from tests import conftest
from tests.factories import UserRef


async def csrf_of(client: httpx.AsyncClient, path: str = "/login") -> str:
    """Open ``path`` with this client and return its forms' CSRF token."""
    return conftest.csrf_of((await client.get(path)).text)


async def sign_in(client: httpx.AsyncClient, user: UserRef) -> httpx.Response:
    """Password then TOTP through the pages; returns the final response."""
    token = await csrf_of(client)
    r = await client.post("/login", data={"username": user.username, "password": user.password, "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"].startswith("/login/totp"), r.text
    r = await client.post("/login/totp", data={"code": user.totp_now(), "csrf_token": token, "next": "/"})
    assert r.status_code == 303, r.text
    return r

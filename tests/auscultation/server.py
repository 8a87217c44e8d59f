"""A real Telebridge server on loopback (uvicorn subprocess, its own SQLite database and file
store) whose world's hubs have declared cardiology; and signing in over HTTP like a browser."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from telebridge.kit.db import make_engine, make_sessionmaker
from tests import factories
from tests.browser.conftest import serving
from tests.conftest import fresh_database

from .workflow import declare_cardiology


@dataclass
class Server:
    url: str
    database_url: str
    world: factories.World


@pytest.fixture(scope="module")
async def ausc_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    tmp = tmp_path_factory.mktemp("ausc-live")
    url = await fresh_database(tmp, "sqlite", "_ausc_live")
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    world = await factories.build_world(maker)
    await declare_cardiology(maker, world)
    await engine.dispose()
    async with serving(url, TELEBRIDGE_FILES_DIR=str(tmp / "files")) as base:
        yield Server(base, url, world)


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def sign_in(base: str, user: factories.UserRef) -> httpx.AsyncClient:
    """A client holding a signed-in session (password, then TOTP), as a browser would."""
    c = httpx.AsyncClient(base_url=base)
    page = await c.get("/login")
    found = _CSRF.search(page.text)
    assert found
    token = found.group(1)
    r = await c.post("/login", data={"username": user.username, "password": user.password, "next": "/", "csrf_token": token})
    assert r.status_code == 303, r.text
    r = await c.post("/login/totp", data={"code": user.totp_now(), "next": "/", "csrf_token": token})
    assert r.status_code == 303, r.text
    return c


def cookie_header(c: httpx.AsyncClient) -> str:
    return "; ".join(f"{k}={v}" for k, v in c.cookies.items())


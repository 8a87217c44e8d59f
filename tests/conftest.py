"""Shared fixtures.

The database is built by running the migrations. Every database test runs on SQLite and,
when ``TELEBRIDGE_TEST_POSTGRES_URL`` is set (CI sets it), on PostgreSQL as well. On CI
(``CI=true``) a missing PostgreSQL or Redis is a failure, never a skip.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

os.environ.setdefault("TELEBRIDGE_ENVIRONMENT", "test")
os.environ.setdefault("TELEBRIDGE_LOG_LEVEL", "WARNING")

from telebridge.app import create_app  # noqa: E402
from telebridge.config import Settings  # noqa: E402
from telebridge.kit.db import make_engine, make_sessionmaker  # noqa: E402
from telebridge.kit.migrate import upgrade  # noqa: E402
from tests import factories  # noqa: E402

ON_CI = os.environ.get("CI") == "true"
PG_URL = os.environ.get("TELEBRIDGE_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("TELEBRIDGE_TEST_REDIS_URL")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def need(condition: bool, reason: str) -> None:
    """Skip when a service is absent on a developer machine; fail on CI."""
    if condition:
        return
    if ON_CI:
        pytest.fail(f"{reason} (required on CI)")
    pytest.skip(reason)


def _pg_admin_url(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/postgres"


async def _recreate_pg(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    dsn = _pg_admin_url(url).replace("postgresql+asyncpg", "postgresql")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def fresh_database(tmp_path: Path, backend: str, suffix: str = "") -> str:
    """A new, migrated database of the given backend; returns its URL."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/telebridge{suffix}.db"
    else:
        need(PG_URL is not None, "PostgreSQL tests need TELEBRIDGE_TEST_POSTGRES_URL")
        assert PG_URL is not None
        url = PG_URL + suffix
        await _recreate_pg(url)
    import asyncio

    await asyncio.get_running_loop().run_in_executor(None, upgrade, url)
    return url


BACKENDS = ["sqlite", "postgresql"] if (PG_URL or ON_CI) else ["sqlite"]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
async def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return await fresh_database(tmp_path_factory.mktemp(f"db-{backend}"), backend, "_shared")


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(database_url)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


@pytest.fixture
async def db(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for arranging data; commit explicitly what the app must see."""
    async with sessionmaker() as session:
        yield session
        await session.rollback()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(environment="test", database_url=database_url, log_level="WARNING")


@pytest.fixture(scope="session")
def app(settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]):  # type: ignore[no-untyped-def]
    application = create_app(settings)
    application.state.engine = engine
    application.state.sessionmaker = sessionmaker
    return application


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def world(sessionmaker: async_sessionmaker[AsyncSession]) -> factories.World:
    """A small network of its own for one test (unique codes): see tests/factories.py."""
    return await factories.build_world(sessionmaker)


@pytest.fixture
async def as_user(app):  # type: ignore[no-untyped-def]
    """``await as_user(user)`` → an httpx client carrying a bearer token for that user."""
    clients: list[httpx.AsyncClient] = []

    async def make(user: factories.UserRef) -> httpx.AsyncClient:
        token = await factories.api_token(app.state.sessionmaker, user)
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50001))
        c = httpx.AsyncClient(transport=transport, base_url="http://testserver",
                              headers={"authorization": f"Bearer {token}"})
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


SignIn = Callable[[factories.UserRef], Awaitable[httpx.AsyncClient]]
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of a page's forms."""
    found = _CSRF_FIELD.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


@pytest.fixture
async def signed_in(app) -> AsyncIterator[SignIn]:  # type: ignore[no-untyped-def]
    """``await signed_in(user)`` → a browser-like client signed in through /login and /login/totp."""
    clients: list[httpx.AsyncClient] = []

    async def sign_in(user: factories.UserRef) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.20", 50002))
        c = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        clients.append(c)
        page = await c.get("/login")
        assert page.status_code == 200
        token = csrf_of(page.text)
        assert c.cookies.get("tb_csrf") == token
        r = await c.post("/login", data={"username": user.username, "password": user.password, "next": "/",
                                         "csrf_token": token})
        assert r.status_code == 303, r.text
        if user.totp_secret:
            r = await c.post("/login/totp", data={"code": user.totp_now(), "next": "/", "csrf_token": token})
            assert r.status_code == 303, r.text
        return c

    yield sign_in
    for c in clients:
        await c.aclose()


@pytest.fixture(scope="session")
def artifacts() -> Iterator[Path]:
    ARTIFACTS.mkdir(exist_ok=True)
    yield ARTIFACTS


def unique(prefix: str = "") -> str:
    return prefix + uuid.uuid4().hex[:8]

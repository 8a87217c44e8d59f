"""The short-lived subject cache never lets a change of identity go unseen: a revoked token,
a withdrawn role or a deactivated account takes effect on the very next request, in this
process and (through Redis) in another app process."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, update

from telebridge.identity import cache
from telebridge.identity.models import RoleAssignment, User
from telebridge.kit.db import make_engine, make_sessionmaker, utcnow
from telebridge.kit.subject import Subject
from tests import factories
from tests.browser.conftest import serving
from tests.conftest import PG_URL, REDIS_URL, fresh_database, need


async def test_revoked_token_is_refused_at_once(as_user, world: factories.World) -> None:  # type: ignore[no-untyped-def]
    client = await as_user(world.spoke_clinician)
    assert (await client.get("/api/v1/me")).status_code == 200  # now cached
    assert (await client.get("/api/v1/me")).status_code == 200
    assert (await client.delete("/api/v1/auth/token")).status_code == 204
    r = await client.get("/api/v1/me")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"


async def test_role_and_account_changes_are_seen_on_the_next_request(as_user, world: factories.World, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    client = await as_user(world.hub_specialist)
    roles = (await client.get("/api/v1/me")).json()["assignments"]
    assert roles, "the specialist holds a role"
    async with sessionmaker() as db:  # an ORM bulk delete, as an administrator's tool would do
        await db.execute(delete(RoleAssignment).where(RoleAssignment.user_id == world.hub_specialist.id))
        await db.commit()
    assert (await client.get("/api/v1/me")).json()["assignments"] == []
    async with sessionmaker() as db:  # a unit-of-work change of the account
        user = await db.get(User, world.hub_specialist.id)
        assert user is not None
        user.is_active = False
        await db.commit()
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_an_unrelated_identity_change_keeps_other_entries(as_user, world: factories.World, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    client = await as_user(world.spoke_clinician)
    await client.get("/api/v1/me")
    cached = len(cache.CACHE._entries)
    async with sessionmaker() as db:
        await db.execute(update(User).where(User.id == world.hub_specialist.id).values(display_name="Đổi tên"))
        await db.commit()  # a bulk statement cannot say whose rows it touched: everything goes
    assert len(cache.CACHE._entries) == 0 < cached
    await client.get("/api/v1/me")
    async with sessionmaker() as db:
        user = await db.get(User, world.hub_specialist.id)
        assert user is not None
        user.display_name = "BS Tim"
        await db.commit()  # only the specialist's entries go
    assert any(e.subject.user_id == world.spoke_clinician.id for e in cache.CACHE._entries.values())


def test_entries_never_outlive_what_they_stand_for() -> None:
    now = utcnow()
    grant_end, token_end = now + timedelta(seconds=3), now + timedelta(hours=1)
    assert cache.valid_until(now, token_end, grant_end) == grant_end
    assert cache.valid_until(now, token_end, None) == now + cache.TTL
    c = cache.SubjectCache(max_entries=2)
    s = Subject(user_id=uuid.uuid4(), username="a", display_name="A")
    c.put("k", s, grant_end, c.generation)
    assert c.get("k", now) is s
    assert c.get("k", grant_end) is None  # expired entries are not served
    started = c.generation
    c.drop([str(uuid.uuid4())])  # an identity change committed while "k" was being read
    c.put("k", s, grant_end, started)
    assert c.get("k", now) is None
    for key in ("a", "b", "c"):
        c.put(key, s, grant_end, c.generation)
    assert c.get("a", now) is None and c.get("c", now) is s  # bounded, oldest out first


@pytest.mark.postgres
@pytest.mark.redis
async def test_revocation_reaches_another_process(tmp_path: Path) -> None:
    need(PG_URL is not None and REDIS_URL is not None, "needs PostgreSQL and Redis (TELEBRIDGE_TEST_*_URL)")
    url = await fresh_database(tmp_path, "postgresql", "_idcache")
    engine = make_engine(url)
    world = await factories.build_world(make_sessionmaker(engine))
    token = await factories.api_token(make_sessionmaker(engine), world.spoke_clinician)
    await engine.dispose()
    env = {"TELEBRIDGE_REDIS_URL": str(REDIS_URL)}
    headers = {"authorization": f"Bearer {token}"}
    async with serving(url, **env) as a, serving(url, **env) as b:
        async with httpx.AsyncClient(base_url=a, headers=headers) as on_a, \
                httpx.AsyncClient(base_url=b, headers=headers) as on_b:
            assert (await on_b.get("/api/v1/me")).status_code == 200  # cached in b
            assert (await on_a.delete("/api/v1/auth/token")).status_code == 204
            for _ in range(50):  # pub/sub delivery: milliseconds, far below the entries' lifetime
                if (await on_b.get("/api/v1/me")).status_code == 401:
                    break
                await asyncio.sleep(0.02)
            else:
                pytest.fail("the other process still accepted the revoked token after 1 s")

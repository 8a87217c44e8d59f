"""The live-call fixture: a sealed namespace with Janus and the app, on a migrated SQLite file."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from telebridge.calls.models import LiveSession, LiveSessionSite
from telebridge.kit.db import make_engine, make_sessionmaker, utcnow
from telebridge.kit.subject import Role
from tests import factories
from tests.calls import harness
from tests.calls.helpers import consultation, extra_sites
from tests.conftest import fresh_database, need


@dataclass
class Live:
    ns: str
    base: str
    maker: object
    world: factories.World
    extra: list
    consultation_id: uuid.UUID
    janus: object

    async def session(self, sites: list[uuid.UUID], consultation_id: uuid.UUID | None = None) -> uuid.UUID:
        """A session scheduled directly (the scheduling rules have their own tests)."""
        async with self.maker() as db:  # type: ignore[attr-defined]
            ls = LiveSession(consultation_id=consultation_id or self.consultation_id,
                             host_facility_id=self.world.hub_a.id,
                             title="Phiên hội chẩn", starts_at=utcnow() + timedelta(minutes=5), duration_minutes=60,
                             status="scheduled", created_by=self.world.users["hub_specialist"].id)
            db.add(ls)
            await db.flush()
            db.add_all([LiveSessionSite(live_session_id=ls.id, facility_id=f) for f in sites])
            await db.commit()
            return ls.id

    async def new_user(self, facility_id: uuid.UUID, role: Role = Role.SPOKE_CLINICIAN) -> factories.UserRef:
        """A fresh clinician at a site (a TOTP code is accepted once per user, so browser tests use their own)."""
        async with self.maker() as db:  # type: ignore[attr-defined]
            user = await factories.add_user(db, f"call-{uuid.uuid4().hex[:8]}", [(role, facility_id, None)],
                                            display_name=f"BS {uuid.uuid4().hex[:4]}")
            await db.commit()
        return user

    async def bearers(self, users: list[factories.UserRef]) -> list[str]:
        return [await factories.api_token(self.maker, u) for u in users]  # type: ignore[arg-type]


@pytest.fixture(scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    ok, reason = harness.netns_supported()
    need(ok, reason)
    tmp = tmp_path_factory.mktemp("calls")
    url = await fresh_database(tmp, "sqlite", "_calls")
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    world = await factories.build_world(maker)
    extra = await extra_sites(maker, world, 4)
    c = await consultation(maker, world)
    with harness.netns() as ns, harness.janus(ns, tmp / "janus") as jp, \
            harness.app_server(ns, url, jp.config, tmp / "app.log") as server:
        yield Live(ns, server.base, maker, world, extra, c.id, jp)
    await engine.dispose()



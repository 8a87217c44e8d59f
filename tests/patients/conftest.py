"""Builders for the patients tests: signed-in browser sessions, valid citizen IDs, places, audit rows."""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telebridge.kit.audit import AuditEvent
from telebridge.network.models import Commune
from tests.conftest import csrf_of  # noqa: F401  (re-exported for the tests here)
from tests.factories import HANOI, HCMC

_serial = itertools.count(random.SystemRandom().randrange(0, 400_000) * 1000)



def citizen_id(born: date, sex: str = "female", province: int = 1) -> str:
    """A fresh, valid 12-digit citizen ID for someone born on ``born`` (unique per call)."""
    digit = (born.year - 1900) // 100 * 2 + (1 if sex == "female" else 0)
    return f"{province:03d}{digit}{born.year % 100:02d}{next(_serial) % 1_000_000:06d}"


@pytest.fixture
async def places(db: AsyncSession) -> dict[str, int]:
    """A commune of Hà Nội and one of TP Hồ Chí Minh (codes from the migrated reference data)."""
    hanoi = await db.scalar(select(Commune.code).where(Commune.province_code == HANOI).order_by(Commune.code).limit(1))
    hcmc = await db.scalar(select(Commune.code).where(Commune.province_code == HCMC).order_by(Commune.code).limit(1))
    assert hanoi and hcmc
    return {"hanoi_commune": hanoi, "hcmc_commune": hcmc}


AuditRows = Callable[..., Awaitable[list[AuditEvent]]]


@pytest.fixture
def audit_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> AuditRows:
    """``await audit_rows(actor=user_id, action=..., patient_id=...)`` → matching rows, oldest first."""

    async def rows(*, actor: uuid.UUID, **filters: object) -> list[AuditEvent]:
        async with sessionmaker() as s:
            stmt = select(AuditEvent).where(AuditEvent.actor_user_id == actor)
            for name, value in filters.items():
                stmt = stmt.where(getattr(AuditEvent, name) == value)
            return list((await s.scalars(stmt.order_by(AuditEvent.seq))).all())

    return rows

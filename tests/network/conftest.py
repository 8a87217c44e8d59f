"""Network test helpers: browser sign-in (password + TOTP), extra users and builders."""

from __future__ import annotations

import secrets
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telebridge.kit.audit import AuditEvent
from telebridge.kit.subject import Role
from tests import factories
from tests.conftest import SignIn, csrf_of  # noqa: F401  (re-exported for the tests here)

async def add_role_user(maker: async_sessionmaker[AsyncSession], role: Role, facility_id: uuid.UUID | None) -> factories.UserRef:
    async with maker() as db:
        user = await factories.add_user(db, f"{role.value[:6]}-{secrets.token_hex(4)}", [(role, facility_id, None)])
        await db.commit()
    return user


@pytest.fixture
async def hub_admin(sessionmaker: async_sessionmaker[AsyncSession], world: factories.World) -> factories.UserRef:
    """The facility administrator of world.hub_a."""
    return await add_role_user(sessionmaker, Role.FACILITY_ADMIN, world.hub_a.id)


async def audit_rows(maker: async_sessionmaker[AsyncSession], *, object_type: str, object_id: object = None,
                     outcome: str | None = None, actor: uuid.UUID | None = None) -> list[AuditEvent]:
    async with maker() as db:
        stmt = select(AuditEvent).where(AuditEvent.object_type == object_type)
        if object_id is not None:
            stmt = stmt.where(AuditEvent.object_id == str(object_id))
        if outcome is not None:
            stmt = stmt.where(AuditEvent.outcome == outcome)
        if actor is not None:
            stmt = stmt.where(AuditEvent.actor_user_id == actor)
        return list((await db.scalars(stmt.order_by(AuditEvent.seq))).all())


def facility_body(tag: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": f"Trạm Y tế xã Sóc Sơn {tag}", "kind": "health_station", "technical_level": "primary",
        "legacy_tier": "commune", "insurance_code": factories.next_insurance_code(factories.HANOI),
        "gln_code": factories.next_gln(), "province_code": factories.HANOI, "address_line": "Thôn 1",
        "phone": "024 3888 1234", "beds": 10,
    }
    body.update(overrides)
    return body


def practitioner_body(facility_id: uuid.UUID, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "full_name": f"Đặng Thị Lan {secrets.token_hex(3)}", "title": "BSCKI", "profession": "doctor",
        "licence_number": factories.next_licence(), "licence_issuer": "Sở Y tế Hà Nội",
        "licence_issued_on": "2021-03-01", "licence_expires_on": None, "scope_of_practice": "Khám bệnh, chữa bệnh nhi khoa",
        "specialties": ["paediatrics"],
        "registrations": [{"facility_id": str(facility_id), "hours": "T2-T6 07:00-16:30", "valid_from": "2024-01-01"}],
    }
    body.update(overrides)
    return body


def citizen_id() -> str:
    """A valid 12-digit citizen ID (Hà Nội, born 1985, male), unique per call."""
    return f"001085{secrets.randbelow(10**6):06d}"


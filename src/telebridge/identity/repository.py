"""Queries of the identity domain."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.identity.models import (
    ApiToken,
    RecoveryCode,
    RoleAssignment,
    User,
    UserSession,
)
from telebridge.patients.models import BreakGlassGrant


async def user_by_username(db: AsyncSession, username: str) -> User | None:
    return await db.scalar(select(User).where(User.username == username.strip().lower()))


async def assignments_of(db: AsyncSession, user_id: uuid.UUID) -> list[RoleAssignment]:
    return list((await db.scalars(select(RoleAssignment).where(RoleAssignment.user_id == user_id))).all())


async def active_break_glass(db: AsyncSession, user_id: uuid.UUID, now: datetime) -> list[tuple[uuid.UUID, datetime]]:
    """(patient, end) of the user's break-glass grants still running."""
    rows = await db.execute(
        select(BreakGlassGrant.patient_id, BreakGlassGrant.expires_at)
        .where(BreakGlassGrant.user_id == user_id, BreakGlassGrant.expires_at > now)
    )
    return [(r.patient_id, r.expires_at) for r in rows]


async def session_by_hash(db: AsyncSession, token_hash: str) -> UserSession | None:
    return await db.get(UserSession, token_hash)


async def token_by_hash(db: AsyncSession, token_hash: str) -> ApiToken | None:
    return await db.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))


async def unused_recovery_codes(db: AsyncSession, user_id: uuid.UUID) -> list[RecoveryCode]:
    rows = await db.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)))
    return list(rows.all())


async def delete_recovery_codes(db: AsyncSession, user_id: uuid.UUID) -> None:
    await db.execute(RecoveryCode.__table__.delete().where(RecoveryCode.user_id == user_id))


async def revoke_all_sessions(db: AsyncSession, user_id: uuid.UUID, now: datetime, *, keep: str | None = None) -> None:
    stmt = update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if keep:
        stmt = stmt.where(UserSession.token_hash != keep)
    await db.execute(stmt.values(revoked_at=now))

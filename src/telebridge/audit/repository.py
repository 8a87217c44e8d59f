"""Audit-trail queries, scoped to what the reader may see."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.audit import policy
from telebridge.kit.audit import AuditEvent
from telebridge.kit.subject import Role, Subject


@dataclass
class AuditFilter:
    actor_user_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    action: str | None = None
    outcome: str | None = None
    object_type: str | None = None
    break_glass: bool | None = None
    since: datetime | None = None
    until: datetime | None = None


def _scoped(subject: Subject, f: AuditFilter) -> Select[tuple[AuditEvent]]:
    stmt = select(AuditEvent)
    if not policy.can_read_all(subject):
        stmt = stmt.where(AuditEvent.actor_facility_id.in_(subject.facility_ids(Role.FACILITY_ADMIN)))
    for column, value in (
        (AuditEvent.actor_user_id, f.actor_user_id), (AuditEvent.patient_id, f.patient_id),
        (AuditEvent.action, f.action), (AuditEvent.outcome, f.outcome),
        (AuditEvent.object_type, f.object_type), (AuditEvent.break_glass, f.break_glass),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if f.since:
        stmt = stmt.where(AuditEvent.at >= f.since)
    if f.until:
        stmt = stmt.where(AuditEvent.at < f.until)
    return stmt


async def list_events(db: AsyncSession, subject: Subject, f: AuditFilter, *, limit: int, before_seq: int | None) -> list[AuditEvent]:
    stmt = _scoped(subject, f)
    if before_seq:
        stmt = stmt.where(AuditEvent.seq < before_seq)
    return list((await db.scalars(stmt.order_by(AuditEvent.seq.desc()).limit(limit))).all())


async def count_events(db: AsyncSession, subject: Subject, f: AuditFilter) -> int:
    return int(await db.scalar(select(func.count()).select_from(_scoped(subject, f).subquery())) or 0)

"""Every query of the teleconsultation domain. List queries take the acting subject and
return only the cases it may read (its facility asked, or its hub was asked)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.consultations import policy
from telebridge.consultations.models import (
    Consultation,
    ConsultationEvent,
    ConsultationOutcome,
    Minutes,
    MinutesAddendum,
    MinutesSignature,
)
from telebridge.consultations.states import AT_HUB
from telebridge.identity.models import RoleAssignment, User
from telebridge.kit.subject import Role, Subject
from telebridge.network.models import Facility, Practitioner
from telebridge.patients.models import Patient

URGENCY_RANK = {"emergency": 0, "urgent": 1, "routine": 2}
BUSY = tuple(s.value for s in AT_HUB if s.value != "concluded")


def readable_clause(subject: Subject) -> ColumnElement[bool]:
    spokes, hubs = policy.spoke_ids(subject), policy.hub_ids(subject)
    clauses = []
    if spokes:
        clauses.append(and_(Consultation.requesting_facility_id.in_(spokes),
                            or_(Consultation.status != "draft", Consultation.requested_by == subject.user_id)))
    if hubs:
        clauses.append(and_(Consultation.hub_facility_id.in_(hubs), Consultation.status != "draft"))
    return or_(*clauses) if clauses else false()


async def get(db: AsyncSession, consultation_id: uuid.UUID) -> Consultation | None:
    return await db.get(Consultation, consultation_id)


async def by_idempotency_key(db: AsyncSession, user_id: uuid.UUID, key: str) -> Consultation | None:
    return await db.scalar(select(Consultation).where(Consultation.requested_by == user_id,
                                                      Consultation.idempotency_key == key))


async def open_load(db: AsyncSession, hub_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not hub_ids:
        return {}
    q = (select(Consultation.hub_facility_id, func.count()).where(Consultation.hub_facility_id.in_(hub_ids),
                                                                 Consultation.status.in_(BUSY))
         .group_by(Consultation.hub_facility_id))
    return {h: int(n) for h, n in (await db.execute(q)).all()}


async def hub_users(db: AsyncSession, hub_id: uuid.UUID, roles: tuple[Role, ...]) -> list[User]:
    q = (select(User).join(RoleAssignment, RoleAssignment.user_id == User.id)
         .where(RoleAssignment.facility_id == hub_id, RoleAssignment.role.in_([r.value for r in roles]),
                User.is_active.is_(True)).distinct())
    return list((await db.scalars(q)).all())


async def hub_users_by_role(db: AsyncSession, hub_id: uuid.UUID, roles: tuple[Role, ...]) -> dict[Role, list[User]]:
    """``hub_users`` for several roles in one query: the active users holding each role at the hub."""
    q = (select(User, RoleAssignment.role).join(RoleAssignment, RoleAssignment.user_id == User.id)
         .where(RoleAssignment.facility_id == hub_id, RoleAssignment.role.in_([r.value for r in roles]),
                User.is_active.is_(True)).distinct())
    found: dict[Role, list[User]] = {}
    for user, role in (await db.execute(q)).all():
        found.setdefault(Role(role), []).append(user)
    return found


async def users_of_practitioners(db: AsyncSession, practitioner_ids: list[uuid.UUID]) -> list[User]:
    if not practitioner_ids:
        return []
    q = select(User).where(User.practitioner_id.in_(practitioner_ids), User.is_active.is_(True))
    return list((await db.scalars(q)).all())


async def events(db: AsyncSession, consultation_id: uuid.UUID) -> list[ConsultationEvent]:
    q = select(ConsultationEvent).where(ConsultationEvent.consultation_id == consultation_id).order_by(ConsultationEvent.at)
    return list((await db.scalars(q)).all())


async def minutes_of(db: AsyncSession, consultation_id: uuid.UUID) -> Minutes | None:
    return await db.scalar(select(Minutes).where(Minutes.consultation_id == consultation_id))


async def signatures(db: AsyncSession, minutes_id: uuid.UUID) -> list[MinutesSignature]:
    q = select(MinutesSignature).where(MinutesSignature.minutes_id == minutes_id).order_by(MinutesSignature.signed_at)
    return list((await db.scalars(q)).all())


async def addenda(db: AsyncSession, minutes_id: uuid.UUID) -> list[MinutesAddendum]:
    q = select(MinutesAddendum).where(MinutesAddendum.minutes_id == minutes_id).order_by(MinutesAddendum.signed_at)
    return list((await db.scalars(q)).all())


async def outcomes(db: AsyncSession, consultation_id: uuid.UUID) -> list[ConsultationOutcome]:
    q = select(ConsultationOutcome).where(ConsultationOutcome.consultation_id == consultation_id).order_by(ConsultationOutcome.checkpoint)
    return list((await db.scalars(q)).all())


async def facility_names(db: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return {i: n for i, n in (await db.execute(select(Facility.id, Facility.name).where(Facility.id.in_(ids)))).all()}


async def patient_names(db: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, Patient]:
    if not ids:
        return {}
    return {p.id: p for p in (await db.scalars(select(Patient).where(Patient.id.in_(ids)))).all()}


async def practitioner(db: AsyncSession, practitioner_id: uuid.UUID | None) -> Practitioner | None:
    return await db.get(Practitioner, practitioner_id) if practitioner_id else None


async def worklist(db: AsyncSession, subject: Subject, *, view: str, statuses: list[str] | None, urgency: str | None,
                   q: str | None, now: datetime, offset: int, limit: int) -> list[Consultation]:
    """``view``: mine (requests of my facilities), queue (waiting at my hubs), assigned (to me),
    open (every open case of my hubs, breaches first: the coordinator's view)."""
    stmt = select(Consultation).where(readable_clause(subject))
    if view == "mine":
        stmt = stmt.where(Consultation.requesting_facility_id.in_(policy.spoke_ids(subject) or [uuid.UUID(int=0)]))
    elif view == "queue":
        stmt = stmt.where(Consultation.hub_facility_id.in_(policy.hub_ids(subject) or [uuid.UUID(int=0)]),
                          Consultation.status.in_(("submitted", "info_requested")))
    elif view == "assigned":
        stmt = stmt.where(Consultation.assigned_user_id == subject.user_id, Consultation.status.in_(BUSY))
    elif view == "open":
        stmt = stmt.where(Consultation.hub_facility_id.in_(policy.hub_ids(subject) or [uuid.UUID(int=0)]),
                          Consultation.status.in_(BUSY))
    if statuses:
        stmt = stmt.where(Consultation.status.in_(statuses))
    if urgency:
        stmt = stmt.where(Consultation.urgency == urgency)
    if q:
        stmt = stmt.where(Consultation.reference.ilike(f"%{q.strip()}%"))
    urgency_rank = case(URGENCY_RANK, value=Consultation.urgency, else_=9)
    breached = or_(Consultation.ack_breached_at.is_not(None), Consultation.answer_breached_at.is_not(None))
    if view in ("queue", "open", "assigned"):
        stmt = stmt.order_by(breached.desc(), urgency_rank, Consultation.ack_due_at.nulls_last(), Consultation.submitted_at)
    else:
        stmt = stmt.order_by(Consultation.updated_at.desc())
    return list((await db.scalars(stmt.offset(offset).limit(limit))).all())


async def attendance(db: AsyncSession, consultation_id: uuid.UUID) -> list[tuple[Any, str]]:
    """Presences in the case's live sessions, with the person's name, in joining order."""
    from telebridge.calls.models import LiveSession, LiveSessionAttendance

    q = (select(LiveSessionAttendance, User.display_name)
         .join(LiveSession, LiveSession.id == LiveSessionAttendance.live_session_id)
         .join(User, User.id == LiveSessionAttendance.user_id)
         .where(LiveSession.consultation_id == consultation_id).order_by(LiveSessionAttendance.joined_at))
    return [(a, name) for a, name in (await db.execute(q)).all()]


async def live_sessions(db: AsyncSession, consultation_id: uuid.UUID) -> list[Any]:
    from telebridge.calls.models import LiveSession

    q = select(LiveSession).where(LiveSession.consultation_id == consultation_id).order_by(LiveSession.starts_at)
    return list((await db.scalars(q)).all())


async def users(db: AsyncSession, ids: list[uuid.UUID]) -> list[User]:
    if not ids:
        return []
    return list((await db.scalars(select(User).where(User.id.in_(ids)))).all())


async def practitioners(db: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, Practitioner]:
    if not ids:
        return {}
    return {p.id: p for p in (await db.scalars(select(Practitioner).where(Practitioner.id.in_(ids)))).all()}


async def specialties(db: AsyncSession) -> list[Any]:
    from telebridge.network.models import Specialty

    return list((await db.scalars(select(Specialty).order_by(Specialty.code))).all())


async def clinical_roles(db: AsyncSession, user_ids: set[uuid.UUID]) -> list[Any]:
    """(user_id, role, facility_id) of the given accounts."""
    q = select(RoleAssignment.user_id, RoleAssignment.role, RoleAssignment.facility_id).where(
        RoleAssignment.user_id.in_(user_ids))
    return list((await db.execute(q)).all())


async def due_ids(db: AsyncSession, now: datetime, limit: int = 500) -> list[uuid.UUID]:
    """Cases with a deadline or a follow-up reminder due at ``now`` (the SLA sweeper's work)."""
    ack = select(Consultation.id).where(Consultation.status == "submitted", Consultation.ack_due_at <= now)
    answer = select(Consultation.id).where(
        Consultation.status.in_(("submitted", "accepted", "info_requested")),
        Consultation.answer_due_at <= now, Consultation.answer_breached_at.is_(None))
    today = now.date()
    follow = select(Consultation.id).where(
        Consultation.status.in_(("concluded", "closed")),
        or_(and_(Consultation.follow_up_7_due <= today, Consultation.reminders_sent < 1),
            and_(Consultation.follow_up_30_due <= today, Consultation.reminders_sent < 2)))
    ids: list[uuid.UUID] = []
    for q in (ack, answer, follow):
        ids += list((await db.scalars(q.limit(limit))).all())
    return list(dict.fromkeys(ids))

"""The calls domain's queries: live sessions, their sites, invitees and attendance, and
recordings (lookups of one row by its primary key aside)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.calls.models import (
    LiveSession,
    LiveSessionAttendance,
    LiveSessionInvitee,
    LiveSessionRecording,
    LiveSessionSite,
)
from telebridge.identity.models import RoleAssignment, User
from telebridge.network.models import Facility


async def get_session(db: AsyncSession, session_id: uuid.UUID) -> LiveSession | None:
    return await db.get(LiveSession, session_id)


async def user_sites(db: AsyncSession, user_ids: Iterable[uuid.UUID], roles: Iterable[str]) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """(user, facility) pairs where these users hold one of ``roles``."""
    rows = (await db.execute(select(RoleAssignment.user_id, RoleAssignment.facility_id).where(
        RoleAssignment.user_id.in_(list(user_ids)), RoleAssignment.role.in_(list(roles))))).all()
    return {(u, f) for u, f in rows}


async def existing_facilities(db: AsyncSession, facility_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    return set((await db.scalars(select(Facility.id).where(Facility.id.in_(list(facility_ids))))).all())


async def sites_of(db: AsyncSession, session_id: uuid.UUID) -> list[uuid.UUID]:
    return list((await db.scalars(select(LiveSessionSite.facility_id).where(
        LiveSessionSite.live_session_id == session_id))).all())


async def invitees_of(db: AsyncSession, session_id: uuid.UUID) -> dict[uuid.UUID, uuid.UUID]:
    """Named invitees: user → the site they join from."""
    rows = (await db.execute(select(LiveSessionInvitee.user_id, LiveSessionInvitee.facility_id).where(
        LiveSessionInvitee.live_session_id == session_id))).all()
    return {u: f for u, f in rows}


async def guest_lists(db: AsyncSession, session_ids: list[uuid.UUID],
                      ) -> dict[uuid.UUID, tuple[list[uuid.UUID], dict[uuid.UUID, uuid.UUID]]]:
    """:func:`sites_of` and :func:`invitees_of` of several sessions in two queries."""
    sites: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    invitees: dict[uuid.UUID, dict[uuid.UUID, uuid.UUID]] = defaultdict(dict)
    if session_ids:
        for sid, f in (await db.execute(select(LiveSessionSite.live_session_id, LiveSessionSite.facility_id).where(
                LiveSessionSite.live_session_id.in_(session_ids)))).all():
            sites[sid].append(f)
        for sid, u, f in (await db.execute(select(
                LiveSessionInvitee.live_session_id, LiveSessionInvitee.user_id, LiveSessionInvitee.facility_id).where(
                LiveSessionInvitee.live_session_id.in_(session_ids)))).all():
            invitees[sid][u] = f
    return {sid: (sites[sid], invitees[sid]) for sid in session_ids}


async def roster(db: AsyncSession, session_id: uuid.UUID,
                 ) -> tuple[list[tuple[uuid.UUID, str]], list[tuple[uuid.UUID, str, uuid.UUID]]]:
    """Invited sites (id, name) by name, and named invitees (user id, name, site) by name."""
    sites = (await db.execute(select(Facility.id, Facility.name).join(
        LiveSessionSite, LiveSessionSite.facility_id == Facility.id).where(
        LiveSessionSite.live_session_id == session_id).order_by(Facility.name))).all()
    people = (await db.execute(select(User.id, User.display_name, LiveSessionInvitee.facility_id).join(
        LiveSessionInvitee, LiveSessionInvitee.user_id == User.id).where(
        LiveSessionInvitee.live_session_id == session_id).order_by(User.display_name))).all()
    return [(f, n) for f, n in sites], [(u, n, f) for u, n, f in people]


async def sessions_between(db: AsyncSession, *, start: datetime, end: datetime, user_id: uuid.UUID,
                           facility_ids: Iterable[uuid.UUID]) -> list[LiveSession]:
    """Sessions starting in [start, end) that name the user or invite one of the facilities."""
    named = select(LiveSessionInvitee.live_session_id).where(LiveSessionInvitee.user_id == user_id)
    via_site = select(LiveSessionSite.live_session_id).where(
        LiveSessionSite.facility_id.in_(list(facility_ids) or [uuid.UUID(int=0)]))
    return list((await db.scalars(select(LiveSession).where(
        LiveSession.starts_at >= start, LiveSession.starts_at < end,
        or_(LiveSession.id.in_(named), LiveSession.id.in_(via_site))).order_by(LiveSession.starts_at))).all())


async def get_attendance(db: AsyncSession, attendance_id: uuid.UUID) -> LiveSessionAttendance | None:
    return await db.get(LiveSessionAttendance, attendance_id)


async def attendance(db: AsyncSession, session_id: uuid.UUID) -> list[LiveSessionAttendance]:
    return list((await db.scalars(select(LiveSessionAttendance).where(
        LiveSessionAttendance.live_session_id == session_id).order_by(LiveSessionAttendance.joined_at))).all())


async def recordings_of(db: AsyncSession, live_session_id: uuid.UUID) -> list[LiveSessionRecording]:
    return list((await db.scalars(select(LiveSessionRecording).where(
        LiveSessionRecording.live_session_id == live_session_id).order_by(LiveSessionRecording.started_at))).all())


async def recordings_running(db: AsyncSession) -> list[LiveSessionRecording]:
    return list((await db.scalars(select(LiveSessionRecording).where(
        LiveSessionRecording.status == "recording"))).all())


async def claim_for_conversion(db: AsyncSession, recording_id: uuid.UUID) -> bool:
    """Move a stopped recording to ``converting``; False when another delivery of the job has it."""
    claimed = await db.execute(update(LiveSessionRecording).where(
        LiveSessionRecording.id == recording_id, LiveSessionRecording.status == "processing").values(
        status="converting"))
    return claimed.rowcount == 1  # type: ignore[attr-defined]

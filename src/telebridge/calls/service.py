"""Live sessions: scheduling by the hub, invitations, calendars, join authorization, room tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.calls import repository as repo
from telebridge.calls.models import MAX_SITES, LiveSession, LiveSessionAttendance, LiveSessionInvitee, LiveSessionSite
from telebridge.config import Settings
from telebridge.consultations import service as consultations
from telebridge.kit import audit
from telebridge.kit.access import authorize
from telebridge.kit.db import utcnow
from telebridge.kit.errors import BadInput, Conflict, Forbidden, NotFound, Unauthenticated
from telebridge.kit.i18n import N_
from telebridge.kit.subject import CLINICAL_ROLES, Subject

OBJECT = "live_session"
MAX_DURATION_MINUTES = 8 * 60
SITE_ROLES = tuple(r.value for r in CLINICAL_ROLES)


def _actor_facility(subject: Subject, session: LiveSession, sites: set[uuid.UUID]) -> uuid.UUID | None:
    mine = subject.clinical_facility_ids & sites
    if session.host_facility_id in mine:
        return session.host_facility_id
    return next(iter(sorted(mine, key=str)), None)


async def _check_users_at_sites(db: AsyncSession, invitees: dict[uuid.UUID, uuid.UUID]) -> None:
    """Every named invitee must hold a clinical role at the site they are invited for."""
    if not invitees:
        return
    works = await repo.user_sites(db, invitees, SITE_ROLES)
    for user_id, facility_id in invitees.items():
        if (user_id, facility_id) not in works:
            raise BadInput(N_("An invited person does not work at the site they are invited for."), field="invitees")


async def schedule(db: AsyncSession, subject: Subject, *, consultation_id: uuid.UUID, starts_at: datetime,
                   duration_minutes: int, title: str, facility_ids: list[uuid.UUID],
                   invitees: dict[uuid.UUID, uuid.UUID] | None = None) -> LiveSession:
    """The hub of the consultation schedules a session with up to six sites (itself included).

    ``invitees`` maps named users to the site they join from.
    """
    c = await consultations.readable(db, subject, consultation_id, action="schedule_session")
    hub = c.hub_facility_id
    authorize(hub is not None and hub in subject.clinical_facility_ids, action="schedule", object_type=OBJECT,
              patient_id=c.patient_id,
              message=N_("Only the hub's staff can schedule a live session for this consultation."))
    assert hub is not None
    if starts_at.tzinfo is None:
        raise BadInput(N_("Give the start time with its time zone."), field="starts_at")
    if not 5 <= duration_minutes <= MAX_DURATION_MINUTES:
        raise BadInput(N_("The duration must be between 5 minutes and 8 hours."), field="duration_minutes")
    if starts_at < utcnow() - timedelta(minutes=5):
        raise BadInput(N_("The start time is in the past."), field="starts_at")
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise BadInput(N_("Give the session a title of at most 200 characters."), field="title")
    sites = list(dict.fromkeys([hub, c.requesting_facility_id, *facility_ids]))
    if len(sites) > MAX_SITES:
        raise BadInput(N_("A live session joins at most {n} sites, the hub included."), field="facility_ids",
                       n=MAX_SITES)
    found = await repo.existing_facilities(db, sites)
    if len(found) != len(sites):
        raise BadInput(N_("One of the invited sites does not exist."), field="facility_ids")
    invitees = invitees or {}
    if any(f not in sites for f in invitees.values()):
        raise BadInput(N_("An invited person must join from one of the invited sites."), field="invitees")
    await _check_users_at_sites(db, invitees)
    ls = LiveSession(consultation_id=c.id, host_facility_id=hub, title=title, starts_at=starts_at,
                     duration_minutes=duration_minutes, status="scheduled", created_by=subject.user_id)
    db.add(ls)
    await db.flush()
    db.add_all([LiveSessionSite(live_session_id=ls.id, facility_id=f) for f in sites])
    db.add_all([LiveSessionInvitee(live_session_id=ls.id, facility_id=f, user_id=u) for u, f in invitees.items()])
    await db.flush()
    audit.record(db, subject, action="schedule", object_type=OBJECT, object_id=ls.id, patient_id=c.patient_id,
                 detail={"consultation_id": str(c.id), "sites": len(sites), "invitees": len(invitees)})
    return ls


async def invite(db: AsyncSession, subject: Subject, *, session_id: uuid.UUID, facility_id: uuid.UUID,
                 user_ids: list[uuid.UUID] | None = None) -> LiveSession:
    ls = await _get(db, session_id)
    if ls.host_facility_id not in subject.clinical_facility_ids:
        raise Forbidden(N_("Only the hub's staff can invite sites to this live session."))
    if ls.status in ("ended", "cancelled"):
        raise Conflict(N_("This live session is over; it cannot take new invitations."))
    sites = await repo.sites_of(db, ls.id)
    if facility_id not in sites:
        if len(sites) >= MAX_SITES:
            raise BadInput(N_("A live session joins at most {n} sites, the hub included."), field="facility_id",
                           n=MAX_SITES)
        if not await repo.existing_facilities(db, [facility_id]):
            raise BadInput(N_("One of the invited sites does not exist."), field="facility_id")
        db.add(LiveSessionSite(live_session_id=ls.id, facility_id=facility_id))
    current = await repo.invitees_of(db, ls.id)
    new = {u: facility_id for u in (user_ids or []) if u not in current}
    await _check_users_at_sites(db, new)
    db.add_all([LiveSessionInvitee(live_session_id=ls.id, facility_id=f, user_id=u) for u, f in new.items()])
    await db.flush()
    audit.record(db, subject, action="invite", object_type=OBJECT, object_id=ls.id,
                 detail={"facility_id": str(facility_id), "invitees": len(new)})
    return ls


async def _get(db: AsyncSession, session_id: uuid.UUID) -> LiveSession:
    ls = await repo.get_session(db, session_id)
    if ls is None:
        raise NotFound(N_("This live session does not exist."))
    return ls


async def join_site(db: AsyncSession, subject: Subject, ls: LiveSession) -> uuid.UUID | None:
    """The site the subject joins from, or None when not invited.

    Named invitees are invited; other clinical staff of an invited site are invited when no
    named person was invited for that site.
    """
    return _site_for(subject, ls, await repo.sites_of(db, ls.id), await repo.invitees_of(db, ls.id))


def _site_for(subject: Subject, ls: LiveSession, sites_list: list[uuid.UUID],
              invitees: dict[uuid.UUID, uuid.UUID]) -> uuid.UUID | None:
    if subject.user_id in invitees:
        return invitees[subject.user_id]
    sites = set(sites_list)
    named_sites = set(invitees.values())
    open_sites = (sites - named_sites) & subject.clinical_facility_ids
    if ls.host_facility_id in open_sites:
        return ls.host_facility_id
    return next(iter(sorted(open_sites, key=str)), None)


async def participant_view(db: AsyncSession, subject: Subject, session_id: uuid.UUID) -> tuple[LiveSession, uuid.UUID]:
    """The session for an invited participant (audited refusal otherwise); returns (session, site)."""
    ls = await _get(db, session_id)
    site = await join_site(db, subject, ls)
    authorize(site is not None, action="join", object_type=OBJECT, object_id=ls.id,
              message=N_("You are not invited to this live session."))
    assert site is not None
    return ls, site


@dataclass(frozen=True)
class Participant:
    user_id: uuid.UUID
    name: str
    facility_id: uuid.UUID
    site: str


async def roster(db: AsyncSession, ls: LiveSession) -> tuple[list[tuple[uuid.UUID, str]], list[Participant]]:
    """Invited sites (id, name) and named invitees, for the session page."""
    sites, people = await repo.roster(db, ls.id)
    names = dict(sites)
    return sites, [Participant(u, n, f, names.get(f, "")) for u, n, f in people]


async def calendar(db: AsyncSession, subject: Subject, *, start: datetime, days: int = 7) -> list[LiveSession]:
    """Sessions the subject is invited to (named, or through an open invited site) in [start, start+days)."""
    if days not in (1, 7, 31):
        raise BadInput(N_("Show a day, a week or a month."), field="days")
    end = start + timedelta(days=days)
    candidates = await repo.sessions_between(db, start=start, end=end, user_id=subject.user_id,
                                             facility_ids=subject.clinical_facility_ids)
    guests = await repo.guest_lists(db, [ls.id for ls in candidates])
    return [ls for ls in candidates if _site_for(subject, ls, *guests[ls.id]) is not None]


async def cancel(db: AsyncSession, subject: Subject, *, session_id: uuid.UUID) -> LiveSession:
    ls = await _get(db, session_id)
    if ls.host_facility_id not in subject.clinical_facility_ids:
        raise Forbidden(N_("Only the hub's staff can cancel this live session."))
    if ls.status in ("ended", "cancelled"):
        raise Conflict(N_("This live session is already over."))
    ls.status = "cancelled"
    audit.record(db, subject, action="cancel", object_type=OBJECT, object_id=ls.id)
    await db.flush()
    return ls


async def end(db: AsyncSession, subject: Subject, *, session_id: uuid.UUID) -> LiveSession:
    """The host ends the session for everyone (the room is closed; attendance is kept)."""
    ls = await _get(db, session_id)
    if ls.host_facility_id not in subject.clinical_facility_ids:
        raise Forbidden(N_("Only the hub's staff can end this live session."))
    if ls.status in ("ended", "cancelled"):
        raise Conflict(N_("This live session is already over."))
    ls.status = "ended"
    audit.record(db, subject, action="end", object_type=OBJECT, object_id=ls.id)
    await db.flush()
    return ls


def can_end(subject: Subject, ls: LiveSession) -> bool:
    return ls.host_facility_id in subject.clinical_facility_ids and ls.status in ("scheduled", "live")


# ------------------------------------------------------------------ room tokens, TURN


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(settings: Settings) -> bytes:
    return hmac.new(settings.secret_key.encode(), b"telebridge-call-room-token", hashlib.sha256).digest()


def issue_token(settings: Settings, *, session_id: uuid.UUID, user_id: uuid.UUID, facility_id: uuid.UUID,
                now: float | None = None) -> tuple[str, int]:
    """A short-lived room token bound to this user, session and site; returns (token, expiry epoch)."""
    exp = int((now if now is not None else time.time()) + settings.call_token_minutes * 60)
    body = _b64(json.dumps({"s": str(session_id), "u": str(user_id), "f": str(facility_id), "e": exp},
                           separators=(",", ":")).encode())
    sig = _b64(hmac.new(_key(settings), body.encode(), hashlib.sha256).digest())
    return f"{body}.{sig}", exp


def verify_token(settings: Settings, token: str, *, session_id: uuid.UUID, user_id: uuid.UUID,
                 now: float | None = None) -> uuid.UUID:
    """The site of a valid token for this session and user; raises Unauthenticated otherwise."""
    try:
        body, sig = token.split(".", 1)
        good = hmac.compare_digest(_unb64(sig), hmac.new(_key(settings), body.encode(), hashlib.sha256).digest())
        data: dict[str, Any] = json.loads(_unb64(body)) if good else {}
    except (ValueError, TypeError):
        data = {}
    if not data or data.get("s") != str(session_id) or data.get("u") != str(user_id):
        raise Unauthenticated(N_("This room link is not valid for you."), code="invalid_room_token")
    if int(data["e"]) <= (now if now is not None else time.time()):
        raise Unauthenticated(N_("This room link has expired; open the session page again."),
                              code="expired_room_token")
    return uuid.UUID(data["f"])


def turn_credentials(settings: Settings, user_id: uuid.UUID, now: float | None = None) -> list[dict[str, Any]]:
    """ICE servers for the browser: coturn REST API credentials (username "expiry:user", HMAC-SHA1)."""
    if not settings.turn_urls or not settings.turn_secret:
        return []
    expiry = int((now if now is not None else time.time()) + settings.turn_ttl_seconds)
    username = f"{expiry}:{user_id}"
    password = base64.b64encode(hmac.new(settings.turn_secret.encode(), username.encode(), hashlib.sha1).digest())
    return [{"urls": list(settings.turn_urls), "username": username, "credential": password.decode()}]


async def issue_join(db: AsyncSession, subject: Subject, settings: Settings, *, session_id: uuid.UUID
                     ) -> dict[str, Any]:
    ls, site = await participant_view(db, subject, session_id)
    if ls.status in ("ended", "cancelled"):
        raise Conflict(N_("This live session is over."))
    token, exp = issue_token(settings, session_id=ls.id, user_id=subject.user_id, facility_id=site)
    return {"token": token, "expires_at": exp, "ws_path": f"/calls/{ls.id}/ws",
            "ice_servers": turn_credentials(settings, subject.user_id)}


# ---------------------------------------------------------------- attendance


async def record_join(db: AsyncSession, subject: Subject, *, ls: LiveSession, facility_id: uuid.UUID
                      ) -> LiveSessionAttendance:
    row = LiveSessionAttendance(live_session_id=ls.id, user_id=subject.user_id, facility_id=facility_id,
                                joined_at=utcnow())
    db.add(row)
    if ls.status == "scheduled":
        ls.status = "live"
    await db.flush()
    audit.record(db, subject, action="join", object_type=OBJECT, object_id=ls.id,
                 detail={"facility_id": str(facility_id), "attendance_id": str(row.id)})
    return row


QUALITY_KEYS = ("bitrate_kbps", "packet_loss_pct", "rtt_ms", "frames_decoded", "audio_only")


async def record_leave(db: AsyncSession, subject: Subject, *, attendance_id: uuid.UUID,
                       quality: dict[str, Any] | None = None) -> None:
    row = await repo.get_attendance(db, attendance_id)
    if row is None or row.user_id != subject.user_id:
        return
    row.left_at = utcnow()
    if quality:
        row.quality = clean_quality(quality)
    await db.flush()
    audit.record(db, subject, action="leave", object_type=OBJECT, object_id=row.live_session_id,
                 detail={"facility_id": str(row.facility_id), "attendance_id": str(row.id),
                         "seconds": int((row.left_at - row.joined_at).total_seconds())})


def clean_quality(quality: dict[str, Any]) -> dict[str, Any]:
    """Only numbers under known keys (bitrate, loss, RTT from getStats) are kept."""
    out: dict[str, Any] = {}
    for k in QUALITY_KEYS:
        v = quality.get(k)
        if isinstance(v, bool):
            out[k] = v
        elif isinstance(v, int | float) and math.isfinite(v) and abs(v) < 1e9:
            out[k] = round(float(v), 2)
    return out


async def attendance(db: AsyncSession, ls: LiveSession) -> list[LiveSessionAttendance]:
    return await repo.attendance(db, ls.id)

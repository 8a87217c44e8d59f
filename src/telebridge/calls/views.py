"""Live-session pages: calendar, scheduling form, the session page and the call room."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from telebridge.calls import recording, service
from telebridge.consultations import policy as consultation_policy
from telebridge.consultations import service as consultations
from telebridge.consultations.models import Consultation
from telebridge.identity.deps import Db, PageSubject
from telebridge.kit.errors import BadInput, Conflict
from telebridge.kit.i18n import N_, gettext
from telebridge.kit.web import render
from telebridge.messaging import service as messaging

router = APIRouter(include_in_schema=False)
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
STATUS = {"scheduled": N_("Scheduled"), "live": N_("Live now"), "ended": N_("Ended"), "cancelled": N_("Cancelled")}


def _day_start(text: str | None) -> datetime:
    try:
        day = datetime.strptime(text, "%Y-%m-%d") if text else datetime.now(TZ).replace(tzinfo=None)
    except ValueError as exc:
        raise BadInput(N_("Give the date as YYYY-MM-DD."), field="start") from exc
    return day.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=TZ)


@router.get("/calls")
async def calendar(request: Request, db: Db, subject: PageSubject, start: str | None = None,
                   view: Annotated[str, Query(pattern="^(day|week)$")] = "week") -> Response:
    first = _day_start(start)
    days = 1 if view == "day" else 7
    sessions = await service.calendar(db, subject, start=first, days=days)
    by_day: dict[str, list[Any]] = {}
    for d in range(days):
        by_day[(first + timedelta(days=d)).strftime("%Y-%m-%d")] = []
    for ls in sessions:
        by_day.setdefault(ls.starts_at.astimezone(TZ).strftime("%Y-%m-%d"), []).append(ls)
    step = timedelta(days=days)
    return render(request, "calls/calendar.html", {
        "by_day": by_day, "view": view, "status": STATUS,
        "prev": (first - step).strftime("%Y-%m-%d"), "next": (first + step).strftime("%Y-%m-%d")})


@router.get("/consultations/{consultation_id}/sessions/new")
async def schedule_form(consultation_id: uuid.UUID, request: Request, db: Db, subject: PageSubject) -> Response:
    c = await consultations.readable(db, subject, consultation_id)
    return render(request, "calls/schedule.html", {"c": c, "error": None, "form": {}})


@router.post("/consultations/{consultation_id}/sessions")
async def schedule(consultation_id: uuid.UUID, request: Request, db: Db, subject: PageSubject) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        local = datetime.strptime(values.get("starts_at", ""), "%Y-%m-%dT%H:%M").replace(tzinfo=TZ)
        duration = int(values.get("duration_minutes", "0"))
        sites = [uuid.UUID(v) for v in form.getlist("facility_ids") if isinstance(v, str) and v.strip()]
        ls = await service.schedule(db, subject, consultation_id=consultation_id, starts_at=local,
                                    duration_minutes=duration, title=values.get("title", ""), facility_ids=sites)
    except (ValueError, ValidationError):
        c = await consultations.readable(db, subject, consultation_id)
        return render(request, "calls/schedule.html", {
            "c": c, "form": values, "error": gettext(N_("Check the start time, the duration and the sites."))}, 400)
    except BadInput as exc:
        await db.rollback()
        c = await consultations.readable(db, subject, consultation_id)
        return render(request, "calls/schedule.html", {"c": c, "form": values, "error": exc.translated()}, 400)
    return RedirectResponse(f"/calls/sessions/{ls.id}", status_code=303)


@router.get("/calls/sessions/{session_id}")
async def session_page(session_id: uuid.UUID, request: Request, db: Db, subject: PageSubject) -> Response:
    ls, _ = await service.participant_view(db, subject, session_id)
    sites, people = await service.roster(db, ls)
    rows = await service.attendance(db, ls)
    recordings = await recording.of_session(db, ls)
    return render(request, "calls/session.html", {
        "ls": ls, "sites": sites, "people": people, "attendance": rows, "site_names": dict(sites),
        "recordings": recordings, "players": await recording.playable(db, subject, ls, recordings),
        "rec_status": recording.STATUS,
        "status": STATUS, "can_join": ls.status in ("scheduled", "live"),
        "ends_at": ls.starts_at + timedelta(minutes=ls.duration_minutes)})


@router.get("/calls/sessions/{session_id}/room")
async def room(session_id: uuid.UUID, request: Request, db: Db, subject: PageSubject) -> Response:
    ls, site = await service.participant_view(db, subject, session_id)
    if ls.status not in ("scheduled", "live"):
        raise Conflict(N_("This live session is over."), code="session_over")
    sites, _ = await service.roster(db, ls)
    c = await db.get(Consultation, ls.consultation_id)
    thread: dict[str, object] = {}
    if c is not None and consultation_policy.can_read(subject, c):  # the case's thread beside the video
        await consultations.readable(db, subject, c.id, action="read_thread")
        thread = {"c": c, "messages": await messaging.messages(db, consultation_id=c.id),
                  "max_chars": request.app.state.settings.max_message_chars}
    return render(request, "calls/room.html", {"ls": ls, "site_name": dict(sites).get(site, ""),
                                               "patient_id": c.patient_id if c else "",
                                               "can_end": service.can_end(subject, ls),
                                               "can_record": recording.can_record(subject, ls), **thread})

"""JSON routes of live sessions, and the signaling WebSocket."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, WebSocket

from telebridge.calls import recording, service, signaling
from telebridge.calls.models import LiveSession
from telebridge.calls.schemas import InviteeOut, InviteIn, JoinOut, RecordingOut, ScheduleIn, SessionOut, SiteOut
from telebridge.identity.deps import ApiSubject, Db

router = APIRouter(prefix="/api/v1/calls", tags=["calls"])
ws_router = APIRouter()


async def _out(db: Db, ls: LiveSession) -> SessionOut:
    sites, people = await service.roster(db, ls)
    return SessionOut(id=ls.id, consultation_id=ls.consultation_id, host_facility_id=ls.host_facility_id,
                      title=ls.title, starts_at=ls.starts_at, duration_minutes=ls.duration_minutes, status=ls.status,
                      sites=[SiteOut(facility_id=f, name=n) for f, n in sites],
                      invitees=[InviteeOut(user_id=p.user_id, name=p.name, facility_id=p.facility_id, site=p.site)
                                for p in people])


@router.post("/sessions", response_model=SessionOut, status_code=201)
async def schedule(body: ScheduleIn, db: Db, subject: ApiSubject) -> SessionOut:
    ls = await service.schedule(db, subject, consultation_id=body.consultation_id, starts_at=body.starts_at,
                                duration_minutes=body.duration_minutes, title=body.title,
                                facility_ids=body.facility_ids,
                                invitees={i.user_id: i.facility_id for i in body.invitees})
    return await _out(db, ls)


@router.get("/sessions", response_model=list[SessionOut])
async def calendar(db: Db, subject: ApiSubject, start: datetime,
                   days: Annotated[int, Query()] = 7) -> list[SessionOut]:
    return [await _out(db, ls) for ls in await service.calendar(db, subject, start=start, days=days)]


@router.get("/sessions/{session_id}", response_model=SessionOut)
async def read(session_id: uuid.UUID, db: Db, subject: ApiSubject) -> SessionOut:
    ls, _ = await service.participant_view(db, subject, session_id)
    return await _out(db, ls)


@router.post("/sessions/{session_id}/invitations", response_model=SessionOut)
async def invite(session_id: uuid.UUID, body: InviteIn, db: Db, subject: ApiSubject) -> SessionOut:
    ls = await service.invite(db, subject, session_id=session_id, facility_id=body.facility_id, user_ids=body.user_ids)
    return await _out(db, ls)


@router.post("/sessions/{session_id}/cancel", response_model=SessionOut)
async def cancel(session_id: uuid.UUID, db: Db, subject: ApiSubject) -> SessionOut:
    return await _out(db, await service.cancel(db, subject, session_id=session_id))


@router.post("/sessions/{session_id}/end", response_model=SessionOut)
async def end(session_id: uuid.UUID, request: Request, db: Db, subject: ApiSubject) -> SessionOut:
    """The host ends the session for everyone: the room closes once this is committed."""
    ls = await service.end(db, subject, session_id=session_id)
    out = await _out(db, ls)
    await db.commit()
    await signaling.end_room(request.app, session_id)
    return out


@router.post("/sessions/{session_id}/join", response_model=JoinOut)
async def join(session_id: uuid.UUID, request: Request, db: Db, subject: ApiSubject) -> JoinOut:
    return JoinOut(**await service.issue_join(db, subject, request.app.state.settings, session_id=session_id))


@router.post("/sessions/{session_id}/recording", response_model=RecordingOut, status_code=201)
async def start_recording(session_id: uuid.UUID, request: Request, db: Db, subject: ApiSubject) -> RecordingOut:
    """The host starts recording (409 without the patient's recorded consent); everyone in the room is told."""
    row = await recording.start(db, subject, request.app, session_id=session_id)
    out = RecordingOut.model_validate(row)
    try:
        await db.commit()
    except BaseException:
        await recording.abandon(request.app, session_id, row.id,
                                recording.recordings_dir(request.app.state.settings) / row.id.hex)
        raise
    await recording.announce(request.app, session_id, on=True)
    return out


@router.post("/sessions/{session_id}/recording/stop", response_model=RecordingOut)
async def stop_recording(session_id: uuid.UUID, request: Request, db: Db, subject: ApiSubject) -> RecordingOut:
    """The host stops recording; the files appear in the consultation once processed."""
    out = RecordingOut.model_validate(await recording.stop(db, subject, request.app, session_id=session_id))
    await db.commit()
    await recording.announce(request.app, session_id, on=False)
    return out


@ws_router.websocket("/calls/{session_id}/ws")
async def signaling_ws(websocket: WebSocket, session_id: uuid.UUID, token: str = "") -> None:
    await signaling.serve(websocket, session_id, token)

"""Recording a live session: only after the patient's recorded consent, by Janus, kept as clinical files.

Who and when. The hub's staff start and stop a recording from the call room; the server
refuses unless the consultation's patient has a standing 'recording' consent on record
(CLINICAL-RULES: recording is optional and needs the patient's consent first). Everyone in
the room is told when recording starts and stops (and a late joiner learns it on joining).

The recorder is Janus (VideoRoom ``enable_recording``): the SFU already receives every
participant's media, so it writes each one's audio and video to .mjr files without any
extra upload from the browsers. A mesh room has no server in the media path, so a room is
opened through Janus whenever the session *may* be recorded (the patient has consented and
a Janus is configured), whatever its size: the Record button then works at once, without
moving a running call from mesh to SFU (which every participant would see as a break in
the picture). A session without consent stays a mesh of at most three, and cannot be recorded
(if consent is recorded while such a room is open, recording is possible once the room is
opened again). Without Janus nothing can be recorded and the host is told so.

What is kept. On Stop (or when the last person leaves) the recording is closed and a
background job (``calls.recording_process``, :mod:`telebridge.calls.tasks`) converts each
participant's .mjr files with ``janus-pp-rec`` and muxes them, stream-copied (no
re-encoding: an ultrasound feed keeps the exact picture that was sent), into one WebM per
participant, stored through the files domain as encrypted clinical files of the patient
linked to the consultation (same access rules, same retention, every playback audited as
a file read). The raw .mjr files are removed once the files are committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.calls import janus as jn
from telebridge.calls import repository as repo
from telebridge.calls import service, signaling
from telebridge.calls.models import LiveSession, LiveSessionRecording
from telebridge.consultations.models import Consultation
from telebridge.files import service as files
from telebridge.files.runtime import get_runtime
from telebridge.kit import audit, jobs
from telebridge.kit.access import authorize
from telebridge.kit.db import utcnow
from telebridge.kit.deps import bind
from telebridge.kit.errors import Conflict, NotFound
from telebridge.kit.i18n import N_
from telebridge.kit.subject import Subject
from telebridge.patients import service as patients

OBJECT = service.OBJECT
JOB = "calls.recording_process"
log = logging.getLogger("telebridge.calls.recording")
NO_CONSENT = N_("This session cannot be recorded: the patient's consent to recording is not on record. "
                "Record the patient's consent first (patient record, consents).")
NOT_HOST = N_("Only the hub's staff can record this session.")


@dataclass
class Active:
    """The recording of a room now running in Janus (held by the room in this process)."""

    id: uuid.UUID
    directory: Path
    feeds: dict[str, dict[str, str]] = field(default_factory=dict)


def recordings_dir(settings: Any) -> Path:
    base = settings.call_recordings_dir or Path(settings.files_dir).parent / "recordings"
    return Path(base).resolve()


async def _consultation(db: AsyncSession, ls: LiveSession) -> Consultation:
    c = await db.get(Consultation, ls.consultation_id)
    if c is None:
        raise NotFound(N_("This live session does not exist."))
    return c


async def may_be_recorded(db: AsyncSession, ls: LiveSession) -> bool:
    """Whether the consultation's patient has a standing consent to recording (decides the topology)."""
    c = await _consultation(db, ls)
    return await patients.has_consent(db, patient_id=c.patient_id, purpose="recording")


def can_record(subject: Subject, ls: LiveSession) -> bool:
    return service.can_end(subject, ls)


def note_feed(room: signaling.Room, peer: signaling.Peer) -> None:
    """Remember who publishes a feed (Janus names recordings by feed id only)."""
    if room.recording is not None and peer.feed:
        room.recording.feeds[peer.feed] = _who(peer)


def _who(peer: signaling.Peer) -> dict[str, str]:
    return {"user_id": str(peer.subject.user_id), "name": peer.subject.display_name, "site": peer.site}


async def _janus_record(room: signaling.Room, directory: Path | None) -> None:
    """Point the room's recordings at ``directory`` and start them, or stop them (``None``)."""
    assert room.control is not None
    handle = next(iter(room.control.handles.values()))
    if directory is not None:
        await handle.message({"request": "edit", "room": room.janus_room, "secret": room.janus_secret,
                              "new_rec_dir": str(directory)})
    await handle.message({"request": "enable_recording", "room": room.janus_room, "secret": room.janus_secret,
                          "record": directory is not None})


async def _open_session(db: AsyncSession, subject: Subject, session_id: uuid.UUID
                        ) -> tuple[LiveSession, Consultation]:
    ls, _site = await service.participant_view(db, subject, session_id)
    c = await _consultation(db, ls)
    authorize(ls.host_facility_id in subject.clinical_facility_ids, action="record", object_type=OBJECT,
              object_id=ls.id, patient_id=c.patient_id, message=NOT_HOST)
    if ls.status in ("ended", "cancelled"):
        raise Conflict(N_("This live session is over."), code="session_over")
    return ls, c


async def start(db: AsyncSession, subject: Subject, app: Any, *, session_id: uuid.UUID) -> LiveSessionRecording:
    """The host starts recording the room (refused without the patient's consent on record)."""
    ls, c = await _open_session(db, subject, session_id)
    if not await patients.has_consent(db, patient_id=c.patient_id, purpose="recording"):
        raise Conflict(NO_CONSENT, code="no_recording_consent")
    room = signaling.hub_of(app).rooms.get(ls.id)
    if room is None or not room.peers:
        raise Conflict(N_("Recording starts once the session is under way: join the call first."),
                       code="room_not_open")
    if room.mode != "sfu" or room.control is None:
        raise Conflict(N_("This call runs directly between the participants, without the video server, so it "
                          "cannot be recorded. Everyone leaving and joining again opens it through the video "
                          "server."), code="not_recordable")
    if room.recording is not None:
        raise Conflict(N_("This session is already being recorded."), code="already_recording")
    row = LiveSessionRecording(live_session_id=ls.id, started_by=subject.user_id, started_at=utcnow(),
                               status="recording")
    db.add(row)
    await db.flush()
    directory = recordings_dir(app.state.settings) / row.id.hex
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    active = room.recording = Active(row.id, directory, {p.feed: _who(p) for p in room.peers.values() if p.feed})
    try:
        await _janus_record(room, directory)
    except (TimeoutError, jn.JanusError):
        if room.recording is active:
            room.recording = None
        with contextlib.suppress(OSError):
            directory.rmdir()
        raise Conflict(N_("The video server did not start the recording; try again in a moment."),
                       code="media_error") from None
    audit.record(db, subject, action="record_start", object_type=OBJECT, object_id=ls.id, patient_id=c.patient_id,
                 detail={"recording_id": str(row.id)})
    return row


async def stop(db: AsyncSession, subject: Subject, app: Any, *, session_id: uuid.UUID) -> LiveSessionRecording:
    ls, c = await _open_session(db, subject, session_id)
    room = signaling.hub_of(app).rooms.get(ls.id)
    if room is None or room.recording is None:
        raise Conflict(N_("This session is not being recorded."), code="not_recording")
    return await _close(db, subject, room, c)


async def _close(db: AsyncSession, actor: audit.Actor, room: signaling.Room, c: Consultation, *,
                 reason: str | None = None) -> LiveSessionRecording:
    """Stop Janus recording the room and hand the files to the background job (after commit)."""
    active = room.recording
    assert active is not None
    room.recording = None
    try:
        await _janus_record(room, None)
    except (TimeoutError, jn.JanusError):  # the room is going away: Janus closes its recorders itself
        pass
    row = await db.get(LiveSessionRecording, active.id)
    if row is None:  # the start was never committed
        raise Conflict(N_("This session is not being recorded."), code="not_recording")
    row.stopped_at, row.status, row.feeds = utcnow(), "processing", dict(active.feeds)
    await db.flush()
    audit.record(db, actor, action="record_stop", object_type=OBJECT, object_id=room.session_id,
                 patient_id=c.patient_id, detail={"recording_id": str(row.id), "feeds": len(active.feeds),
                                                  **({"reason": reason} if reason else {})})
    jobs.enqueue_after_commit(db, get_runtime().jobs_for(db), JOB, {"recording_id": str(row.id)})
    return row


async def room_emptied(app: Any, room: signaling.Room) -> None:
    """The last participant left while recording: close the recording as the system."""
    if room.recording is None:
        return
    async with app.state.sessionmaker() as db:
        bind(db, app.state)
        ls = await db.get(LiveSession, room.session_id)
        assert ls is not None
        await _close(db, audit.SystemActor(display_name="live session"), room, await _consultation(db, ls))
        await db.commit()


async def consent_withdrawn(app: Any, patient_id: uuid.UUID) -> int:
    """The patient withdrew (or refused) consent to recording: every recording of their sessions
    that this process runs stops now, as the system; what was recorded before the withdrawal is
    kept (it was made with consent) and prepared as usual. Returns how many stopped."""
    stopped = 0
    for room in list(signaling.hub_of(app).rooms.values()):
        if room.recording is None:
            continue
        async with app.state.sessionmaker() as db:
            bind(db, app.state)
            ls = await db.get(LiveSession, room.session_id)
            if ls is None:
                continue
            c = await _consultation(db, ls)
            if c.patient_id != patient_id or room.recording is None:
                continue
            await _close(db, audit.SystemActor(display_name="consent withdrawn"), room, c, reason="consent_withdrawn")
            await db.commit()
        await announce(app, room.session_id, on=False)
        stopped += 1
    return stopped


@contextlib.asynccontextmanager
async def listening(app: Any) -> AsyncIterator[None]:
    """Stop recordings in this process when a patient's recording consent goes (from any process)."""

    async def listen() -> None:
        while True:
            try:
                async with app.state.bus.subscribe(patients.CONSENTS) as events:
                    async for ev in events:
                        if ev.payload.get("purpose") == "recording":
                            await consent_withdrawn(app, uuid.UUID(ev.payload["patient_id"]))
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a lost bus must not stop the app; retried
                log.warning("recording: consent events lost, retrying", exc_info=True)
                await asyncio.sleep(1)

    task = asyncio.get_running_loop().create_task(listen())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def announce(app: Any, session_id: uuid.UUID, *, on: bool) -> None:
    """Tell everyone in the room (wherever their socket is held) that recording is on or off."""
    hub = signaling.hub_of(app)
    room = hub.rooms.get(session_id)
    if room is not None:
        await hub.deliver(room, {"type": "recording", "on": on})


STATUS = {"recording": N_("Recording now"), "processing": N_("Being prepared"),
          "converting": N_("Being prepared"), "ready": N_("Ready"),
          "empty": N_("Nothing was recorded"), "failed": N_("Could not be prepared; the operator has been told")}


async def of_session(db: AsyncSession, ls: LiveSession) -> list[LiveSessionRecording]:
    return await repo.recordings_of(db, ls.id)


async def playable(db: AsyncSession, subject: Subject, ls: LiveSession, rows: list[LiveSessionRecording]
                   ) -> dict[uuid.UUID, list[tuple[Any, str]]]:
    """Each recording's files ``subject`` may read, with a short-lived signed link: playing one is an
    audited file read (the files domain's content route); listing them is audited as a list."""
    if not any(r.file_ids for r in rows):
        return {}
    visible = {str(f.id): f for f in await files.list_for_context(db, subject, context_type="consultation",
                                                                   context_id=ls.consultation_id)}
    return {r.id: [(visible[i], files.signed_url(visible[i].id, subject.user_id)) for i in r.file_ids or []
                   if i in visible] for r in rows}


from telebridge.calls import tasks  # noqa: E402,F401  (registers the job; it needs the names above)


async def recover(app: Any) -> int:
    """At start-up: hand to the job the recordings a stopped app process left running.

    A room does not outlive its process, so a recording still marked as running whose room has
    nobody in it on any process was cut off (a crash, a restart): it is closed as the system and
    converted from the files Janus wrote, like any other. Returns how many were recovered."""
    hub = signaling.hub_of(app)
    async with app.state.sessionmaker() as db:
        bind(db, app.state)
        rows = await repo.recordings_running(db)
        recovered = 0
        for row in rows:
            if await hub.directory.members(row.live_session_id):
                continue  # still live on another process
            ls = await db.get(LiveSession, row.live_session_id)
            c = await _consultation(db, ls) if ls is not None else None
            row.stopped_at, row.status = utcnow(), "processing"
            audit.record(db, audit.SystemActor(display_name="live session"), action="record_stop",
                         object_type=OBJECT, object_id=row.live_session_id, patient_id=c.patient_id if c else None,
                         detail={"recording_id": str(row.id), "recovered": True})
            jobs.enqueue_after_commit(db, get_runtime().jobs_for(db), JOB, {"recording_id": str(row.id)})
            recovered += 1
        await db.commit()
    return recovered

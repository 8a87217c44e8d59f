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

Several app processes. A room may be served by several processes (Redis): the recording under
way (row id, directory) and who publishes each Janus feed are kept by the room directory
(``directory.py``), not by one process. Start and Stop work from any process (the Janus
requests need only a handle on the room: this process's, or a transient session); every
process adds its own publishers to the feeds; whoever closes (Stop, the last participant
leaving on any process, a consent withdrawn, recovery at start-up) first takes the shared
state in one step, so exactly one process closes a recording.

What is kept. On Stop (or when the last person leaves) the recording is closed and a
background job (``calls.recording_process``, :mod:`telebridge.calls.tasks`) converts each
participant's .mjr files with ``janus-pp-rec`` and muxes them, stream-copied (no
re-encoding: an ultrasound feed keeps the exact picture that was sent), into one WebM per
participant, stored through the files domain as encrypted clinical files of the patient
linked to the consultation (same access rules, same retention, every playback audited as
a file read). The raw .mjr files are removed once the files are committed.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import uuid
from collections.abc import AsyncIterator
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
from telebridge.kit import audit, events, jobs
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


async def note_feed(hub: signaling.CallHub, room: signaling.Room, peer: signaling.Peer) -> None:
    """Remember who publishes a feed while the room is recorded (Janus names recordings by feed id only)."""
    if peer.feed:
        await hub.directory.add_feeds(room.session_id, {peer.feed: peer.who()})


@contextlib.asynccontextmanager
async def _control(hub: signaling.CallHub, session_id: uuid.UUID) -> AsyncIterator[jn.Handle]:
    """A handle on the room's Janus room: this process's control session, else a transient one."""
    room = hub.rooms.get(session_id)
    if room is not None and room.control is not None and room.control.handles:
        yield next(iter(room.control.handles.values()))
        return
    if hub.janus is None:
        raise jn.JanusError("no Janus is configured in this process")
    control = await hub.janus.create_session()
    try:
        yield await control.attach()
    finally:
        await control.destroy()


async def _janus_record(hub: signaling.CallHub, session_id: uuid.UUID, directory: Path | None) -> None:
    """Point the room's recordings at ``directory`` and start them, or stop them (``None``)."""
    room, secret = session_id.hex, hub.janus_secret(session_id)
    async with _control(hub, session_id) as handle:
        if directory is not None:
            await handle.message({"request": "edit", "room": room, "secret": secret, "new_rec_dir": str(directory)})
        await handle.message({"request": "enable_recording", "room": room, "secret": secret,
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
    """The host starts recording the room, from whichever app process serves the request (refused
    without the patient's consent on record). The recording's state is shared by the directory."""
    ls, c = await _open_session(db, subject, session_id)
    if not await patients.has_consent(db, patient_id=c.patient_id, purpose="recording"):
        raise Conflict(NO_CONSENT, code="no_recording_consent")
    hub = signaling.hub_of(app)
    if not await hub.directory.members(ls.id):
        raise Conflict(N_("Recording starts once the session is under way: join the call first."),
                       code="room_not_open")
    meta = await hub.directory.meta(ls.id)
    if meta is None or meta.get("mode") != "sfu" or hub.janus is None:
        raise Conflict(N_("This call runs directly between the participants, without the video server, so it "
                          "cannot be recorded. Everyone leaving and joining again opens it through the video "
                          "server."), code="not_recordable")
    row = LiveSessionRecording(live_session_id=ls.id, started_by=subject.user_id, started_at=utcnow(),
                               status="recording")
    db.add(row)
    await db.flush()
    directory = recordings_dir(app.state.settings) / row.id.hex
    if not await hub.directory.start_recording(ls.id, {"id": str(row.id), "directory": str(directory)}):
        raise Conflict(N_("This session is already being recorded."), code="already_recording")
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        await hub.share_feeds(ls.id)  # every process adds its participants' feeds
        await _janus_record(hub, ls.id, directory)
    except BaseException as exc:
        await hub.directory.take_recording(ls.id, str(row.id))
        with contextlib.suppress(OSError):
            directory.rmdir()
        if isinstance(exc, OSError | TimeoutError | jn.JanusError):
            raise Conflict(N_("The video server did not start the recording; try again in a moment."),
                           code="media_error") from None
        raise
    audit.record(db, subject, action="record_start", object_type=OBJECT, object_id=ls.id, patient_id=c.patient_id,
                 detail={"recording_id": str(row.id)})
    return row


async def abandon(app: Any, session_id: uuid.UUID, recording_id: uuid.UUID, directory: Path) -> None:
    """A start whose row could not be committed (the database failed at that moment): let go of the
    room's recording, stop Janus and delete what it wrote. Nothing unaccounted for is kept, and the
    host can press Record again at once."""
    hub = signaling.hub_of(app)
    if await hub.directory.take_recording(session_id, str(recording_id)) is not None:
        with contextlib.suppress(OSError, TimeoutError, jn.JanusError):
            await _janus_record(hub, session_id, None)
    shutil.rmtree(directory, ignore_errors=True)


async def stop(db: AsyncSession, subject: Subject, app: Any, *, session_id: uuid.UUID) -> LiveSessionRecording:
    ls, c = await _open_session(db, subject, session_id)
    row = await close(db, subject, app, ls.id, c)
    if row is None:
        raise Conflict(N_("This session is not being recorded."), code="not_recording")
    return row


async def close(db: AsyncSession, actor: audit.Actor, app: Any, session_id: uuid.UUID, c: Consultation | None, *,
                recording_id: uuid.UUID | None = None, **detail: Any) -> LiveSessionRecording | None:
    """Close the room's recording (only ``recording_id`` if given), from any process: the shared state is
    taken in one step, so of several closers exactly one goes on; Janus stops recording, the row gets
    the feeds every process noted, and the files go to the background job (after commit). The caller
    commits, then tells the room (``announce``). None if no recording was running."""
    hub = signaling.hub_of(app)
    taken = await hub.directory.take_recording(session_id, str(recording_id) if recording_id else None)
    if taken is None and recording_id is None:
        return None
    state, feeds = taken or ({"id": str(recording_id)}, {})
    if taken is not None:
        try:
            await _janus_record(hub, session_id, None)
        except (OSError, TimeoutError, jn.JanusError):  # the room is going away: Janus closes its recorders itself
            pass
    row = await db.get(LiveSessionRecording, uuid.UUID(state["id"]))
    if row is None or row.status != "recording":  # the start was never committed, or closed already
        return None
    row.stopped_at, row.status = utcnow(), "processing"
    if feeds:
        row.feeds = feeds
    await db.flush()
    audit.record(db, actor, action="record_stop", object_type=OBJECT, object_id=session_id,
                 patient_id=c.patient_id if c else None,
                 detail={"recording_id": str(row.id), "feeds": len(feeds), **detail})
    jobs.enqueue_after_commit(db, get_runtime().jobs_for(db), JOB, {"recording_id": str(row.id)})
    return row


async def _close_as_system(app: Any, session_id: uuid.UUID, who: str, **detail: Any) -> bool:
    async with app.state.sessionmaker() as db:
        bind(db, app.state)
        ls = await db.get(LiveSession, session_id)
        c = await _consultation(db, ls) if ls is not None else None
        row = await close(db, audit.SystemActor(display_name=who), app, session_id, c, **detail)
        await db.commit()
    if row is not None:
        await announce(app, session_id, on=False)
    return row is not None


async def room_emptied(app: Any, session_id: uuid.UUID) -> None:
    """A participant left: once nobody is in the room on any process, close its recording as the system."""
    hub = signaling.hub_of(app)
    if await hub.directory.recording(session_id) is None or await hub.directory.members(session_id):
        return
    await _close_as_system(app, session_id, "live session")


async def consent_withdrawn(app: Any, patient_id: uuid.UUID) -> int:
    """The patient withdrew (or refused) consent to recording: every recording of their sessions
    stops now, as the system; what was recorded before the withdrawal is kept (it was made with
    consent) and prepared as usual. Every process with participants of a room gets here; the one
    that takes the shared state closes it. Returns how many this process stopped."""
    hub = signaling.hub_of(app)
    stopped = 0
    for session_id in list(hub.rooms):
        if await hub.directory.recording(session_id) is None:
            continue
        async with app.state.sessionmaker() as db:
            bind(db, app.state)
            ls = await db.get(LiveSession, session_id)
            if ls is None or (await _consultation(db, ls)).patient_id != patient_id:
                continue
        if await _close_as_system(app, session_id, "consent withdrawn", reason="consent_withdrawn"):
            stopped += 1
    return stopped


def listening(app: Any) -> contextlib.AbstractAsyncContextManager[None]:
    """Stop recordings when a patient's recording consent goes (announced by any process)."""

    async def handle(event: Any) -> None:
        if event.payload.get("purpose") == "recording":
            await consent_withdrawn(app, uuid.UUID(event.payload["patient_id"]))

    return events.listening(app.state.bus, patients.CONSENTS, handle, name="recording consent")


async def announce(app: Any, session_id: uuid.UUID, *, on: bool) -> None:
    """Tell everyone in the room (wherever their socket is held) that recording is on or off."""
    await signaling.hub_of(app).tell(session_id, {"type": "recording", "on": on})


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

    A room does not outlive its processes, so a recording still marked as running whose room has
    nobody in it on any process was cut off (a crash, a restart): it is closed as the system and
    converted from the files Janus wrote, like any other. Returns how many were recovered."""
    hub = signaling.hub_of(app)
    async with app.state.sessionmaker() as db:
        bind(db, app.state)
        recovered = 0
        for row in await repo.recordings_running(db):
            if await hub.directory.members(row.live_session_id):
                continue  # still live on another process
            ls = await db.get(LiveSession, row.live_session_id)
            c = await _consultation(db, ls) if ls is not None else None
            if await close(db, audit.SystemActor(display_name="live session"), app, row.live_session_id, c,
                           recording_id=row.id, recovered=True) is not None:
                recovered += 1
        await db.commit()
    return recovered

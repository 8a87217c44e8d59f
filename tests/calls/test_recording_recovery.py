"""A recording cut off by a stopped app process (crash, restart) is not lost: at start-up it is
closed as the system and handed to the conversion job, unless its room is still live."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from telebridge.calls import recording
from telebridge.calls.models import LiveSession, LiveSessionRecording
from telebridge.kit.audit import AuditEvent
from telebridge.kit.db import utcnow
from tests.calls.helpers import consultation
from tests.files.conftest import files_rt  # noqa: F401  (fixture: the files runtime of a test)


async def test_a_recording_left_running_is_recovered_at_start(app, world, sessionmaker, files_rt) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c = await consultation(sessionmaker, world)
    async with sessionmaker() as db:
        ls = LiveSession(consultation_id=c.id, host_facility_id=world.hub_a.id, title="Hội chẩn",
                         starts_at=utcnow() - timedelta(minutes=5), duration_minutes=30, status="scheduled",
                         created_by=world.hub_specialist.id)
        db.add(ls)
        await db.flush()
        row = LiveSessionRecording(live_session_id=ls.id, started_by=world.hub_specialist.id,
                                   started_at=utcnow() - timedelta(minutes=2), status="recording")
        db.add(row)
        await db.commit()
    assert await recording.recover(app) >= 1
    async with sessionmaker() as db:
        after = await db.get(LiveSessionRecording, row.id)
        assert after is not None and after.stopped_at is not None
        assert after.status != "recording"  # handed to the job (no files were written: it ends empty)
        stop = (await db.scalars(select(AuditEvent).where(
            AuditEvent.action == "record_stop", AuditEvent.object_id == str(ls.id)))).one()
        assert stop.actor_role == "system" and '"recovered": true' in (stop.detail or "")
    assert await recording.recover(app) == 0  # nothing left running


async def test_a_start_whose_row_was_not_committed_is_abandoned(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The database failed as a Start committed: the room's recording is let go at once (the host
    can press Record again), what Janus had written is deleted, and another recording is untouched."""
    import types
    import uuid

    from telebridge.calls.rooms import CallHub

    hub = CallHub(None, None, None)  # no Janus here: stopping it is skipped, the rest is the same
    app = types.SimpleNamespace(state=types.SimpleNamespace(calls_hub=hub))
    session, started, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    written = tmp_path / started.hex
    written.mkdir()
    (written / "feed-1-video.mjr").write_bytes(b"MJR00002")
    assert await hub.directory.start_recording(session, {"id": str(started), "directory": str(written)})
    await recording.abandon(app, session, other, tmp_path / other.hex)  # not this room's recording
    assert (await hub.directory.recording(session) or {}).get("id") == str(started)

    await recording.abandon(app, session, started, written)
    assert await hub.directory.recording(session) is None and not written.exists()
    assert await hub.directory.start_recording(session, {"id": str(other), "directory": str(tmp_path)})
    await hub.close()

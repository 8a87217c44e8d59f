"""Recording a live session: refused without the patient's consent; with it, Janus records real
media from aiortc peers, the job stores one WebM per participant as clinical files of the
consultation, the raw files are removed, and every playback is an audited file read."""

from __future__ import annotations

import asyncio
import html
import json
import re
import secrets
import shutil
import uuid
from pathlib import Path

import av
import pytest
from sqlalchemy import select

from telebridge.calls.models import LiveSession, LiveSessionRecording, LiveSessionSite
from telebridge.consultations.models import Consultation
from telebridge.files import service as files_service
from telebridge.files.models import ClinicalFile
from telebridge.identity.models import User
from telebridge.identity.service import subject_for
from telebridge.kit.audit import AuditEvent
from telebridge.kit.db import utcnow
from telebridge.kit.subject import Role
from telebridge.patients.models import CareRelationship, Consent
from tests.calls import harness
from tests.calls.conftest import Live
from tests.calls.helpers import consultation
from tests.calls.test_browser_call import _join, _until, chromium  # noqa: F401  (chromium: a fixture)
from tests.conftest import need
from tests.files.conftest import files_rt  # noqa: F401  (fixture: the files runtime of a test)

FRAMES = 10
SECONDS = 3


async def _drive(live: Live, spec: dict) -> dict:
    spec = {"base": live.base, "frames": FRAMES, "timeout": 120, **spec}
    return await asyncio.get_running_loop().run_in_executor(
        None, lambda: harness.run_peers(live.ns, spec, module="tests.calls.record_peers"))


def _rec(sid: uuid.UUID, action: str = "") -> str:
    return f"/api/v1/calls/sessions/{sid}/recording{action}"


async def _recordings(live: Live, sid: uuid.UUID) -> list[LiveSessionRecording]:
    async with live.maker() as db:  # type: ignore[attr-defined]
        return list((await db.execute(select(LiveSessionRecording).where(
            LiveSessionRecording.live_session_id == sid))).scalars())


async def test_recording_is_refused_without_the_patients_consent(live: Live) -> None:
    w = live.world
    async with live.maker() as db:  # type: ignore[attr-defined]
        assert w.patient_b is not None
        c = Consultation(reference=f"HC-REC-{secrets.token_hex(4)}", patient_id=w.patient_b.id,
                         requesting_facility_id=w.spoke_b.id, requested_by=w.users["other_clinician"].id,
                         hub_facility_id=w.hub_a.id, specialty_code="cardiology", urgency="urgent",
                         status="accepted", summary={}, declined_hub_ids=[], submitted_at=utcnow())
        db.add(c)
        await db.commit()
    sid = await live.session([w.hub_a.id, w.spoke_b.id], consultation_id=c.id)
    host, spoke = await live.bearers([w.users["hub_specialist"], w.users["other_clinician"]])
    report = await _drive(live, {"session_id": str(sid), "bearers": [host, spoke], "steps": [
        {"as": host, "post": _rec(sid)}, {"as": spoke, "post": _rec(sid)}, {"as": host, "post": _rec(sid, "/stop")}]})
    assert report["ok"], report
    assert [p["mode"] for p in report["participants"]] == ["mesh", "mesh"]  # no consent: no need for the SFU
    no_consent, not_host, not_recording = report["answers"]
    assert no_consent["status"] == 409 and no_consent["body"]["error"]["code"] == "no_recording_consent"
    assert "đồng ý" in no_consent["body"]["error"]["message"]  # in the user's language (Vietnamese default)
    assert not_host["status"] == 403
    assert not_recording["status"] == 409 and not_recording["body"]["error"]["code"] == "not_recording"
    assert all(p["notices"] == [False] for p in report["participants"])
    assert await _recordings(live, sid) == []


async def test_consented_recording_is_stored_as_clinical_files_and_played_back_audited(live: Live) -> None:
    need(shutil.which("janus-pp-rec") is not None, "recording needs janus-pp-rec (janus-tools; make system-deps)")
    w = live.world
    host_user, spoke_user, outsider = w.users["hub_specialist"], w.users["spoke_clinician"], w.users["other_clinician"]
    assert w.patient_a is not None
    async with live.maker() as db:  # type: ignore[attr-defined]
        db.add(Consent(patient_id=w.patient_a.id, purpose="recording", granted=True, text_version="2025-01",
                       method="written", given_by="Bệnh nhân", recorded_by=spoke_user.id, recorded_at=utcnow()))
        # as when the consultation was asked of the hub: the hub cares for the patient
        db.add(CareRelationship(patient_id=w.patient_a.id, facility_id=w.hub_a.id, basis="consultation_request",
                                basis_ref=str(live.consultation_id), created_at=utcnow()))
        await db.commit()
    sid = await live.session([w.hub_a.id, w.spoke_a.id])  # two sites: a mesh without consent, Janus with it
    host, spoke, other = await live.bearers([host_user, spoke_user, outsider])
    report = await _drive(live, {"session_id": str(sid), "bearers": [host, spoke], "steps": [
        {"as": spoke, "post": _rec(sid)},
        {"as": host, "post": _rec(sid), "sleep": SECONDS},
        {"as": host, "post": _rec(sid)},
        {"as": host, "post": _rec(sid, "/stop")},
        {"as": host, "post": _rec(sid), "sleep": 2}]})  # … and everyone leaves while recording
    assert report["ok"], report
    assert [p["mode"] for p in report["participants"]] == ["sfu", "sfu"]
    not_host, started, again, stopped, restarted = report["answers"]
    assert not_host["status"] == 403, not_host
    assert started["status"] == 201 and started["body"]["status"] == "recording", started
    assert again["status"] == 409 and again["body"]["error"]["code"] == "already_recording"
    assert stopped["status"] == 200 and stopped["body"]["status"] == "processing", stopped
    assert restarted["status"] == 201, restarted
    for p in report["participants"]:  # everyone was told recording went on, off, and on again
        assert p["notices"] == [False, True, False, True], p

    rows: list[LiveSessionRecording] = []
    for _ in range(900):  # the background job converts and stores (the second once the room emptied)
        rows = sorted(await _recordings(live, sid), key=lambda r: r.started_at)
        if len(rows) == 2 and all(r.status in ("ready", "empty", "failed") for r in rows):
            break
        await asyncio.sleep(0.2)
    assert [(r.status, r.error) for r in rows] == [("ready", None)] * 2
    row, closed_by_leaving = rows
    assert len(closed_by_leaving.file_ids or []) == 2 and closed_by_leaving.stopped_at is not None
    assert {f["user_id"] for f in (row.feeds or {}).values()} == {str(host_user.id), str(spoke_user.id)}
    assert len(row.file_ids or []) == 2
    tmp = Path(live.janus.config.directory).parent  # type: ignore[attr-defined]
    assert (tmp / "recordings").is_dir()
    assert not any((tmp / "recordings" / r.id.hex).exists() for r in rows)  # the raw .mjr files are gone

    async with live.maker() as db:  # type: ignore[attr-defined]
        files = list((await db.execute(select(ClinicalFile).where(
            ClinicalFile.id.in_([uuid.UUID(i) for i in row.file_ids or []])))).scalars())
    assert len(files) == 2
    for f in files:
        assert (f.patient_id, f.context_type, f.context_id, f.kind) == (w.patient_a.id, "consultation",
                                                                        live.consultation_id, "webm")
        assert f.uploaded_by == host_user.id and f.retention_until.year >= utcnow().year + 10

    # playback: through the audited file read (signed link), refused to a clinician unrelated to the patient
    fid = files[0].id
    detail = await _drive(live, {"session_id": str(sid), "steps": [
        {"as": host, "get": f"/api/v1/files/{fid}"}, {"as": other, "get": f"/api/v1/files/{fid}"}]})
    mine, refused = detail["answers"]
    assert refused["status"] == 403, refused
    saved = tmp / "played.webm"
    played = await _drive(live, {"session_id": str(sid), "steps": [
        {"get": mine["body"]["download_url"], "save": str(saved)}]})
    assert played["answers"][0]["status"] == 200 and played["answers"][0]["type"] == "video/webm", played
    with av.open(str(saved)) as container:
        kinds = {s.type for s in container.streams}
        frames = {"video": 0, "audio": 0}
        corner = []  # the synthetic camera paints its sender's shade there (tests.calls.peers.Video)
        for frame in container.decode(*container.streams):
            frames["video" if isinstance(frame, av.VideoFrame) else "audio"] += 1
            if isinstance(frame, av.VideoFrame):
                corner.append(int(frame.to_ndarray(format="gray")[-1, -1]))
    assert kinds == {"video", "audio"}
    assert frames["video"] > 0 and frames["audio"] > 0, frames
    sender = 0 if host_user.username in files[0].filename else 1  # the file is named after its participant
    assert abs(sorted(corner)[len(corner) // 2] - (40 + 30 * sender)) < 12, (files[0].filename, corner[:5])

    async with live.maker() as db:  # type: ignore[attr-defined]
        events = list((await db.execute(select(AuditEvent).where(AuditEvent.object_id.in_(
            [str(fid), str(sid)])))).scalars())
    actions = {(e.action, e.outcome, e.actor_user_id) for e in events}
    assert ("download", "ok", host_user.id) in actions
    assert ("read", "denied", outsider.id) in actions
    assert {"record_start", "record_stop", "record_store"} <= {e.action for e in events if e.outcome == "ok"}
    stops = sorted((e for e in events if e.action == "record_stop"), key=lambda e: e.at)
    assert [e.actor_user_id for e in stops] == [host_user.id, None]  # the host, then the system (room emptied)
    assert all(e.patient_id == w.patient_a.id for e in events if e.action.startswith("record_"))


async def test_a_consent_withdrawn_during_a_recording_stops_it(live: Live) -> None:
    """CLINICAL-RULES: recording needs the patient's consent. Withdrawn while the recording runs,
    it stops at once (as the system, reason given); what was recorded with consent is kept."""
    need(shutil.which("janus-pp-rec") is not None, "recording needs janus-pp-rec (janus-tools; make system-deps)")
    w = live.world
    host_user, spoke_user = w.users["hub_specialist"], w.users["other_clinician"]
    assert w.patient_b is not None
    async with live.maker() as db:  # type: ignore[attr-defined]
        c = Consultation(reference=f"HC-REC-{secrets.token_hex(4)}", patient_id=w.patient_b.id,
                         requesting_facility_id=w.spoke_b.id, requested_by=spoke_user.id,
                         hub_facility_id=w.hub_a.id, specialty_code="cardiology", urgency="urgent",
                         status="accepted", summary={}, declined_hub_ids=[], submitted_at=utcnow())
        consent = Consent(patient_id=w.patient_b.id, purpose="recording", granted=True, text_version="2025-01",
                          method="written", given_by="Bệnh nhân", recorded_by=spoke_user.id, recorded_at=utcnow())
        db.add_all([c, consent, CareRelationship(patient_id=w.patient_b.id, facility_id=w.hub_a.id,
                                                 basis="consultation_request", basis_ref="rec", created_at=utcnow())])
        await db.commit()
    sid = await live.session([w.hub_a.id, w.spoke_b.id], consultation_id=c.id)
    host, spoke = await live.bearers([host_user, spoke_user])
    withdraw = f"/api/v1/patients/{w.patient_b.id}/consents/{consent.id}/withdraw"
    report = await _drive(live, {"session_id": str(sid), "bearers": [host, spoke], "steps": [
        {"as": host, "post": _rec(sid), "sleep": SECONDS},
        {"as": spoke, "post": withdraw, "sleep": 2},
        {"as": host, "post": _rec(sid, "/stop")},
        {"as": host, "post": _rec(sid)}]})
    assert report["ok"], report
    assert [p["mode"] for p in report["participants"]] == ["sfu", "sfu"]
    started, withdrawn, not_recording, refused = report["answers"]
    assert started["status"] == 201, started
    assert withdrawn["status"] == 200 and withdrawn["body"] == {"withdrawn": 1}, withdrawn
    assert not_recording["status"] == 409 and not_recording["body"]["error"]["code"] == "not_recording"
    assert refused["status"] == 409 and refused["body"]["error"]["code"] == "no_recording_consent"
    for p in report["participants"]:  # everyone saw the recording go on, then off when consent went
        assert p["notices"] == [False, True, False], p

    rows: list[LiveSessionRecording] = []
    for _ in range(900):
        rows = await _recordings(live, sid)
        if rows and all(r.status in ("ready", "empty", "failed") for r in rows):
            break
        await asyncio.sleep(0.2)
    assert [(r.status, len(r.file_ids or [])) for r in rows] == [("ready", 2)]  # recorded with consent: kept
    async with live.maker() as db:  # type: ignore[attr-defined]
        stop = (await db.execute(select(AuditEvent).where(AuditEvent.object_id == str(sid),
                                                          AuditEvent.action == "record_stop"))).scalar_one()
    assert stop.actor_user_id is None and json.loads(stop.detail)["reason"] == "consent_withdrawn"
    assert stop.patient_id == w.patient_b.id


def _webm() -> bytes:
    """A short VP8 WebM, as the recording job makes."""
    import io

    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, "w", format="webm") as out:
        stream = out.add_stream("libvpx", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


async def test_session_page_plays_recordings_through_the_audited_file_read(  # type: ignore[no-untyped-def]
        world, signed_in, sessionmaker, files_rt) -> None:
    c = await consultation(sessionmaker, world)
    hub_user = world.users["hub_specialist"]
    data = _webm()
    async with sessionmaker() as db:
        db.add(CareRelationship(patient_id=c.patient_id, facility_id=world.hub_a.id, basis="consultation_request",
                                basis_ref=str(c.id), created_at=utcnow()))
        ls = LiveSession(consultation_id=c.id, host_facility_id=world.hub_a.id, title="Hội chẩn", starts_at=utcnow(),
                         duration_minutes=60, status="live", created_by=hub_user.id)
        db.add(ls)
        await db.flush()
        db.add_all([LiveSessionSite(live_session_id=ls.id, facility_id=f) for f in (world.hub_a.id, world.spoke_a.id)])
        subject = await subject_for(db, await db.get(User, hub_user.id), None)
        f = await files_service.store_bytes(db, subject, patient_id=c.patient_id, data=data, filename="phien.webm",
                                            context_type="consultation", context_id=c.id)
        db.add(LiveSessionRecording(live_session_id=ls.id, started_by=hub_user.id, started_at=utcnow(),
                                    stopped_at=utcnow(), status="ready", file_ids=[str(f.id)]))
        db.add(LiveSessionRecording(live_session_id=ls.id, started_by=hub_user.id, started_at=utcnow(),
                                    status="processing"))
        await db.commit()

    hub = await signed_in(hub_user)
    page = await hub.get(f"/calls/sessions/{ls.id}")
    assert page.status_code == 200, page.text
    assert "Đang xử lý" in page.text  # the second recording is still being prepared
    players = re.findall(r'<video controls preload="none" src="([^"]+)"', page.text)
    assert len(players) == 1 and players[0].startswith(f"/files/{f.id}/content?")
    played = await hub.get(html.unescape(players[0]))
    assert played.status_code == 200 and played.headers["content-type"] == "video/webm"
    assert played.content == data
    async with sessionmaker() as db:
        reads = (await db.execute(select(AuditEvent).where(AuditEvent.object_id == str(f.id),
                                                           AuditEvent.action == "download"))).scalars().all()
    assert [(e.actor_user_id, e.outcome) for e in reads] == [(hub_user.id, "ok")]

    room = await hub.get(f"/calls/sessions/{ls.id}/room")
    assert 'id="btn-record"' in room.text and 'id="rec-indicator"' in room.text
    spoke_room = await (await signed_in(world.users["spoke_clinician"])).get(f"/calls/sessions/{ls.id}/room")
    assert spoke_room.status_code == 200 and 'id="btn-record"' not in spoke_room.text  # only the hub records


@pytest.mark.browser
async def test_in_the_call_room_the_host_records_and_everyone_sees_it(  # type: ignore[no-untyped-def]
        live: Live, chromium) -> None:
    w = live.world
    assert w.patient_a is not None
    host, person = await live.new_user(w.hub_a.id, Role.HUB_SPECIALIST), await live.new_user(w.spoke_a.id)
    async with live.maker() as db:  # type: ignore[attr-defined]
        db.add(Consent(patient_id=w.patient_a.id, purpose="recording", granted=True, text_version="2025-01",
                       method="written", given_by="Bệnh nhân", recorded_by=person.id, recorded_at=utcnow()))
        await db.commit()
    sid = await live.session([w.hub_a.id, w.spoke_a.id])
    pages = [await _join(chromium, live, u, sid) for u in (host, person)]
    for page in pages:
        await _until(page, "() => !!window.__tbCall && window.__tbCall.mode === 'sfu'"
                           " && window.__tbCall.stats.framesDecoded > 0", 60)
    assert await pages[1].locator("#btn-record").count() == 0  # only the hub's staff record

    await pages[0].click("#btn-record")
    for page in pages:  # the indicator is on for everyone
        await _until(page, "() => !document.getElementById('rec-indicator').hidden")
    assert await pages[1].locator("#call-status").inner_text() == "Phiên này đang được ghi hình."
    assert await pages[0].locator("#btn-record").inner_text() == "Dừng ghi hình"
    await asyncio.sleep(2)
    await pages[0].click("#btn-record")
    for page in pages:
        await _until(page, "() => document.getElementById('rec-indicator').hidden")
    assert await pages[1].locator("#call-status").inner_text() == "Đã dừng ghi hình."
    [row] = await _recordings(live, sid)
    assert row.started_by == host.id and row.stopped_at is not None

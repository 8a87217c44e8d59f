"""Scheduling, invitations, calendar, join authorization, room tokens and TURN credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from telebridge.calls import service
from telebridge.config import Settings
from telebridge.kit.audit import AuditEvent
from telebridge.kit.db import utcnow
from telebridge.kit.errors import Unauthenticated
from tests.calls.helpers import consultation, extra_sites


def _body(c, sites, **kw):  # type: ignore[no-untyped-def]
    body = {"consultation_id": str(c.id), "title": "Hội chẩn trực tuyến", "duration_minutes": 60,
            "starts_at": (utcnow() + timedelta(hours=2)).isoformat(), "facility_ids": [str(s) for s in sites]}
    body.update(kw)
    return body


async def test_hub_schedules_six_sites_and_invitees_see_it(app, world, as_user, sessionmaker) -> None:
    c = await consultation(sessionmaker, world)
    extra = await extra_sites(sessionmaker, world, 4)
    hub = await as_user(world.users["hub_specialist"])
    r = await hub.post("/api/v1/calls/sessions", json=_body(
        c, [s.facility.id for s in extra],
        invitees=[{"user_id": str(extra[0].user.id), "facility_id": str(extra[0].facility.id)}]))
    assert r.status_code == 201, r.text
    out = r.json()
    assert len(out["sites"]) == 6  # hub + requesting spoke + 4
    assert {s["facility_id"] for s in out["sites"]} >= {str(world.hub_a.id), str(world.spoke_a.id)}
    assert out["invitees"][0]["site"] == extra[0].facility.name
    sid = out["id"]

    start = (utcnow() - timedelta(hours=1)).isoformat()
    for user in (world.users["spoke_clinician"], extra[0].user, extra[3].user):
        cal = await (await as_user(user)).get("/api/v1/calls/sessions", params={"start": start, "days": 7})
        assert cal.status_code == 200, cal.text
        assert [s["id"] for s in cal.json()] == [sid]
    outsider = await as_user(world.users["other_clinician"])
    cal = await outsider.get("/api/v1/calls/sessions", params={"start": start, "days": 7})
    assert cal.json() == []
    assert (await outsider.get(f"/api/v1/calls/sessions/{sid}")).status_code == 403
    assert (await outsider.post(f"/api/v1/calls/sessions/{sid}/join")).status_code == 403

    joined = await (await as_user(extra[0].user)).post(f"/api/v1/calls/sessions/{sid}/join")
    assert joined.status_code == 200, joined.text
    assert joined.json()["ws_path"] == f"/calls/{sid}/ws"
    site = service.verify_token(app.state.settings, joined.json()["token"], session_id=uuid.UUID(sid),
                                user_id=extra[0].user.id)
    assert site == extra[0].facility.id

    async with sessionmaker() as db:
        denied = (await db.execute(select(AuditEvent).where(
            AuditEvent.object_id == sid, AuditEvent.outcome == "denied"))).scalars().all()
        assert denied, "refusals of the uninvited are audited"


async def test_named_invitees_close_their_site_to_colleagues(world, as_user, sessionmaker) -> None:
    c = await consultation(sessionmaker, world)
    extra = await extra_sites(sessionmaker, world, 1)
    hub = await as_user(world.users["hub_specialist"])
    r = await hub.post("/api/v1/calls/sessions", json=_body(
        c, [extra[0].facility.id],
        invitees=[{"user_id": str(world.users["spoke_clinician"].id), "facility_id": str(world.spoke_a.id)}]))
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    async with sessionmaker() as db:
        from telebridge.kit.subject import Role
        from tests import factories

        colleague = await factories.add_user(db, f"colleague-{uuid.uuid4().hex[:6]}",
                                             [(Role.SPOKE_CLINICIAN, world.spoke_a.id, None)])
        await db.commit()
    assert (await (await as_user(colleague)).post(f"/api/v1/calls/sessions/{sid}/join")).status_code == 403
    assert (await (await as_user(world.users["spoke_clinician"])).post(
        f"/api/v1/calls/sessions/{sid}/join")).status_code == 200
    # The calendar agrees, with a second session that leaves the spoke's site open alongside.
    other = await hub.post("/api/v1/calls/sessions", json=_body(c, [extra[0].facility.id]))
    assert other.status_code == 201, other.text
    start = (utcnow() - timedelta(hours=1)).isoformat()
    cal = await (await as_user(colleague)).get("/api/v1/calls/sessions", params={"start": start, "days": 7})
    assert [s["id"] for s in cal.json()] == [other.json()["id"]]
    cal = await (await as_user(world.users["spoke_clinician"])).get("/api/v1/calls/sessions",
                                                                    params={"start": start, "days": 7})
    assert sorted(s["id"] for s in cal.json()) == sorted([sid, other.json()["id"]])


async def test_scheduling_rules(world, as_user, sessionmaker) -> None:
    c = await consultation(sessionmaker, world)
    extra = await extra_sites(sessionmaker, world, 5)
    hub = await as_user(world.users["hub_specialist"])
    too_many = await hub.post("/api/v1/calls/sessions", json=_body(c, [s.facility.id for s in extra]),
                              headers={"accept-language": "vi"})
    assert too_many.status_code == 400
    assert too_many.json()["error"]["message"] == "Một phiên trực tuyến kết nối tối đa 6 điểm cầu, kể cả bệnh viện chủ trì."
    past = await hub.post("/api/v1/calls/sessions", json=_body(
        c, [], starts_at=(utcnow() - timedelta(days=1)).isoformat()), headers={"accept-language": "en"})
    assert past.status_code == 400 and past.json()["error"]["message"] == "The start time is in the past."
    # the requesting spoke can read the consultation but may not schedule its session
    spoke = await as_user(world.users["spoke_clinician"])
    assert (await spoke.post("/api/v1/calls/sessions", json=_body(c, []))).status_code == 403
    # someone with no relationship to the consultation learns nothing
    outsider = await as_user(world.users["other_clinician"])
    assert (await outsider.post("/api/v1/calls/sessions", json=_body(c, []))).status_code in (403, 404)
    # an invitee who does not work at the site they are invited for
    wrong = await hub.post("/api/v1/calls/sessions", json=_body(
        c, [extra[0].facility.id],
        invitees=[{"user_id": str(extra[1].user.id), "facility_id": str(extra[0].facility.id)}]))
    assert wrong.status_code == 400
    ok = await hub.post("/api/v1/calls/sessions", json=_body(c, [s.facility.id for s in extra[:3]]))
    assert ok.status_code == 201
    sid = ok.json()["id"]
    inv = await hub.post(f"/api/v1/calls/sessions/{sid}/invitations", json={"facility_id": str(extra[3].facility.id)})
    assert inv.status_code == 200 and len(inv.json()["sites"]) == 6
    full = await hub.post(f"/api/v1/calls/sessions/{sid}/invitations", json={"facility_id": str(extra[4].facility.id)})
    assert full.status_code == 400
    cancelled = await hub.post(f"/api/v1/calls/sessions/{sid}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    assert (await (await as_user(extra[0].user)).post(f"/api/v1/calls/sessions/{sid}/join")).status_code == 409


def test_room_tokens_expire_and_bind_user_and_session() -> None:
    s = Settings(environment="test", secret_key="k" * 40, call_token_minutes=10)
    sid, uid, fid = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    token, exp = service.issue_token(s, session_id=sid, user_id=uid, facility_id=fid, now=1000.0)
    assert exp == 1600
    assert service.verify_token(s, token, session_id=sid, user_id=uid, now=1599.0) == fid
    with pytest.raises(Unauthenticated) as e:
        service.verify_token(s, token, session_id=sid, user_id=uid, now=1600.0)
    assert e.value.code == "expired_room_token"
    for kwargs in ({"session_id": uuid.uuid4(), "user_id": uid}, {"session_id": sid, "user_id": uuid.uuid4()}):
        with pytest.raises(Unauthenticated):
            service.verify_token(s, token, now=1000.0, **kwargs)  # type: ignore[arg-type]
    body, sig = token.split(".")
    with pytest.raises(Unauthenticated):
        service.verify_token(s, body[:-2] + "AA." + sig, session_id=sid, user_id=uid, now=1000.0)
    other = Settings(environment="test", secret_key="z" * 40)
    with pytest.raises(Unauthenticated):
        service.verify_token(other, token, session_id=sid, user_id=uid, now=1000.0)


def test_turn_credentials_follow_coturn_rest_scheme() -> None:
    assert service.turn_credentials(Settings(environment="test"), uuid.uuid4()) == []
    s = Settings(environment="test", turn_urls=["turn:turn.example.vn:3478?transport=udp"], turn_secret="shh",
                 turn_ttl_seconds=600)
    uid = uuid.uuid4()
    (server,) = service.turn_credentials(s, uid, now=time.time())
    expiry, user = server["username"].split(":")
    assert user == str(uid) and int(expiry) > time.time() + 590
    expected = base64.b64encode(hmac.new(b"shh", server["username"].encode(), hashlib.sha1).digest()).decode()
    assert server["credential"] == expected
    assert server["urls"] == ["turn:turn.example.vn:3478?transport=udp"]


def test_quality_summary_keeps_only_known_numbers() -> None:
    q = service.clean_quality({"bitrate_kbps": 812.456, "packet_loss_pct": float("nan"), "rtt_ms": "<b>",
                               "note": "x", "audio_only": True})
    assert q == {"bitrate_kbps": 812.46, "audio_only": True}


async def test_host_ends_the_session_for_everyone(app, world, as_user, sessionmaker) -> None:
    """Only the hub's staff end a session; everyone in the room is told and disconnected; the
    session is over for joining; ending twice is refused."""
    from telebridge.calls.signaling import Peer, hub_of
    from telebridge.kit.subject import Subject

    c = await consultation(sessionmaker, world)
    hub = await as_user(world.users["hub_specialist"])
    sid = (await hub.post("/api/v1/calls/sessions", json=_body(c, []))).json()["id"]

    class FakeSocket:  # stands in for a participant's open WebSocket
        def __init__(self) -> None:
            self.sent: list[str] = []
            self.closed: int | None = None

        async def send_text(self, text: str) -> None:
            self.sent.append(text)

        async def close(self, code: int, reason: str = "") -> None:
            self.closed = code

    room = await hub_of(app).room_for(await _session(sessionmaker, sid), sites=2)
    sockets = [FakeSocket(), FakeSocket()]
    for i, s in enumerate(sockets):
        room.peers[f"p{i}"] = Peer(f"p{i}", s, Subject(uuid.uuid4(), f"u{i}", f"U{i}"), world.hub_a.id, "BV A")  # type: ignore[arg-type]
    spoke = await as_user(world.users["spoke_clinician"])
    assert (await spoke.post(f"/api/v1/calls/sessions/{sid}/end")).status_code == 403
    r = await hub.post(f"/api/v1/calls/sessions/{sid}/end", headers={"accept-language": "vi"})
    assert r.status_code == 200 and r.json()["status"] == "ended"
    assert all(s.closed == 4410 for s in sockets), [s.closed for s in sockets]
    told = [json.loads(s.sent[-1]) for s in sockets]
    assert all(m["type"] == "ended" and "kết thúc" in m["message"] for m in told), told
    assert (await hub.post(f"/api/v1/calls/sessions/{sid}/end")).status_code == 409
    assert (await spoke.post(f"/api/v1/calls/sessions/{sid}/join")).status_code == 409
    async with sessionmaker() as db:
        actions = (await db.scalars(select(AuditEvent.action).where(AuditEvent.object_id == sid))).all()
    assert "end" in actions


async def _session(sessionmaker, sid: str):  # type: ignore[no-untyped-def]
    from telebridge.calls.models import LiveSession

    async with sessionmaker() as db:
        return await db.get(LiveSession, uuid.UUID(sid))


async def test_room_shows_the_case_thread_to_the_two_sites_only(world, as_user, signed_in, sessionmaker) -> None:
    c = await consultation(sessionmaker, world)
    extra = await extra_sites(sessionmaker, world, 1)
    hub = await as_user(world.users["hub_specialist"])
    sid = (await hub.post("/api/v1/calls/sessions", json=_body(c, [extra[0].facility.id]))).json()["id"]
    page = await (await signed_in(world.users["hub_specialist"])).get(f"/calls/sessions/{sid}/room")
    assert page.status_code == 200 and 'id="thread"' in page.text and "/static/js/thread.js" in page.text
    guest = await (await signed_in(extra[0].user)).get(f"/calls/sessions/{sid}/room")
    assert guest.status_code == 200 and 'id="thread"' not in guest.text  # another bridge point: video, not the case

"""Room state through the real app processes: a second tab of the same person replaces the
first, in one process without Redis; and with Redis the participants of one room may be
connected to different app processes sharing PostgreSQL and Redis (signaling only, no media);
a Janus room recorded across two such processes (real media from aiortc peers, in the sealed
network namespace with Janus, as in test_recording)."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from telebridge.calls.models import (
    LiveSession,
    LiveSessionAttendance,
    LiveSessionRecording,
    LiveSessionSite,
)
from telebridge.files.models import ClinicalFile
from telebridge.kit.audit import AuditEvent
from telebridge.kit.db import make_engine, make_sessionmaker, utcnow
from telebridge.patients.models import CareRelationship, Consent
from tests import factories
from tests.browser.conftest import serving
from tests.calls import harness
from tests.calls.helpers import consultation, extra_sites
from tests.conftest import PG_URL, REDIS_URL, fresh_database, need

HTTP = 30  # seconds: generous, other suites may load the machine (timing never decides here)
OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"  # the server relays SDP untouched


@dataclass
class Tab:
    """One browser tab's signaling socket."""

    ws: ClientConnection
    peer_id: str
    welcome: dict[str, Any]
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def next(self, kind: str, timeout: float = 30) -> dict[str, Any]:
        """The next message of ``kind`` (others are kept in ``seen``)."""
        async def wait() -> dict[str, Any]:
            while True:
                msg = json.loads(await self.ws.recv())
                self.seen.append(msg)
                if msg["type"] == kind:
                    return msg
        return await asyncio.wait_for(wait(), timeout)

    async def send(self, msg: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(msg))


async def open_tab(base: str, sid: uuid.UUID, bearer: str) -> Tab:
    async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {bearer}"}, timeout=HTTP) as http:
        r = await http.post(f"/api/v1/calls/sessions/{sid}/join")
        assert r.status_code == 200, r.text
        grant = r.json()
    url = base.replace("http", "ws", 1) + grant["ws_path"] + "?token=" + grant["token"]
    ws = await connect(url, additional_headers={"authorization": f"Bearer {bearer}"})
    welcome = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert welcome["type"] == "welcome", welcome
    return Tab(ws, welcome["peer_id"], welcome)


async def closed(tab: Tab, timeout: float = 30) -> tuple[int | None, str | None]:
    """Wait until the server closes the tab's socket; its close code and reason."""
    try:
        while True:
            tab.seen.append(json.loads(await asyncio.wait_for(tab.ws.recv(), timeout)))
    except ConnectionClosed:
        pass
    return tab.ws.close_code, tab.ws.close_reason


@dataclass
class Setup:
    maker: Any
    world: factories.World
    extra: list
    bearers: dict[str, str]

    async def session(self, sites: list[uuid.UUID]) -> uuid.UUID:
        async with self.maker() as db:
            c = await consultation(self.maker, self.world)
            ls = LiveSession(consultation_id=c.id, host_facility_id=self.world.hub_a.id, title="Phiên hội chẩn",
                             starts_at=utcnow() + timedelta(minutes=5), duration_minutes=60, status="scheduled",
                             created_by=self.world.users["hub_specialist"].id)
            db.add(ls)
            await db.flush()
            db.add_all([LiveSessionSite(live_session_id=ls.id, facility_id=f) for f in sites])
            await db.commit()
            return ls.id


async def build(url: str, extra: int) -> tuple[Setup, Any]:
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    world = await factories.build_world(maker)
    sites = await extra_sites(maker, world, extra)
    users = {"hub": world.users["hub_specialist"], "spoke": world.users["spoke_clinician"],
             **{f"site{i}": s.user for i, s in enumerate(sites)}}
    bearers = {k: await factories.api_token(maker, u) for k, u in users.items()}
    return Setup(maker, world, sites, bearers), engine


async def test_second_tab_replaces_the_first_in_one_process(tmp_path: Path) -> None:
    url = await fresh_database(tmp_path, "sqlite", "_tabs")
    s, engine = await build(url, 1)
    w = s.world
    sid = await s.session([w.hub_a.id, w.spoke_a.id, s.extra[0].facility.id])
    async with serving(url) as base:  # no Redis: the room lives in this one process
        first = await open_tab(base, sid, s.bearers["hub"])
        spoke = await open_tab(base, sid, s.bearers["spoke"])
        assert [p["peer_id"] for p in spoke.welcome["peers"]] == [first.peer_id]

        second = await open_tab(base, sid, s.bearers["hub"])  # the same person, another tab
        told = await first.next("replaced")
        assert told["code"] == "replaced" and told["message"] == "Bạn đã tham gia phiên này từ một cửa sổ khác."
        assert await closed(first) == (4409, "replaced")
        assert [p["peer_id"] for p in second.welcome["peers"]] == [spoke.peer_id]  # not its own old tab

        left = await spoke.next("peer-left")
        joined = await spoke.next("peer-joined")
        assert left["peer_id"] == first.peer_id and joined["peer"]["peer_id"] == second.peer_id
        assert [m["type"] for m in spoke.seen] == ["peer-left", "peer-joined"]  # gone before back, never twice

        # the second tab works: its offer reaches the spoke, the answer comes back
        await second.send({"type": "signal", "to": spoke.peer_id, "data": {"type": "offer", "sdp": OFFER}})
        got = await spoke.next("signal")
        assert got["from"] == second.peer_id and got["data"]["type"] == "offer"
        await spoke.send({"type": "signal", "to": second.peer_id, "data": {"type": "answer", "sdp": OFFER}})
        assert (await second.next("signal"))["from"] == spoke.peer_id

        # a newcomer sees the person once
        third = await open_tab(base, sid, s.bearers["site0"])
        people = third.welcome["peers"]
        assert sorted(p["peer_id"] for p in people) == sorted([second.peer_id, spoke.peer_id])
        assert [p["user_id"] for p in people].count(str(w.users["hub_specialist"].id)) == 1
        for tab in (second, spoke, third):
            await tab.ws.close()

    async with s.maker() as db:  # the replaced tab's attendance was closed
        rows = (await db.execute(select(LiveSessionAttendance).where(
            LiveSessionAttendance.live_session_id == sid,
            LiveSessionAttendance.user_id == w.users["hub_specialist"].id))).scalars().all()
        assert len(rows) == 2 and all(r.left_at is not None for r in rows)
    await engine.dispose()


@pytest.mark.postgres
@pytest.mark.redis
async def test_participants_on_different_processes_share_one_room(tmp_path: Path) -> None:
    need(PG_URL is not None and REDIS_URL is not None, "needs PostgreSQL and Redis (TELEBRIDGE_TEST_*_URL)")
    url = await fresh_database(tmp_path, "postgresql", "_callsx")
    s, engine = await build(url, 2)
    w = s.world
    sid = await s.session([w.hub_a.id, w.spoke_a.id, *(x.facility.id for x in s.extra)])  # no Janus: a mesh
    env = {"TELEBRIDGE_REDIS_URL": str(REDIS_URL)}
    async with serving(url, **env) as a, serving(url, **env) as b:
        hub = await open_tab(a, sid, s.bearers["hub"])
        spoke = await open_tab(b, sid, s.bearers["spoke"])
        assert spoke.welcome["mode"] == "mesh"
        assert [p["peer_id"] for p in spoke.welcome["peers"]] == [hub.peer_id]  # in the list across processes
        assert (await hub.next("peer-joined"))["peer"]["peer_id"] == spoke.peer_id

        # the newcomer offers; answer and ICE candidates cross the processes both ways
        await spoke.send({"type": "signal", "to": hub.peer_id, "data": {"type": "offer", "sdp": OFFER}})
        got = await hub.next("signal")
        assert got == {"type": "signal", "from": spoke.peer_id, "data": {"type": "offer", "sdp": OFFER}}
        await hub.send({"type": "signal", "to": spoke.peer_id, "data": {"type": "answer", "sdp": OFFER}})
        assert (await spoke.next("signal"))["data"]["type"] == "answer"
        cand = {"type": "candidate", "candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.2 5000 typ host",
                                                   "sdpMid": "0", "sdpMLineIndex": 0}}
        await spoke.send({"type": "signal", "to": hub.peer_id, "data": cand})
        await hub.send({"type": "signal", "to": spoke.peer_id, "data": cand})
        assert (await hub.next("signal"))["data"] == cand
        assert (await spoke.next("signal"))["data"] == cand

        # a third on process A sees both; the room is full across processes for a fourth
        site0 = await open_tab(a, sid, s.bearers["site0"])
        assert sorted(p["peer_id"] for p in site0.welcome["peers"]) == sorted([hub.peer_id, spoke.peer_id])
        assert (await spoke.next("peer-joined"))["peer"]["peer_id"] == site0.peer_id
        async with httpx.AsyncClient(base_url=b, headers={"authorization": f"Bearer {s.bearers['site1']}"},
                                     timeout=HTTP) as http:
            grant = (await http.post(f"/api/v1/calls/sessions/{sid}/join")).json()
        async with connect(b.replace("http", "ws", 1) + grant["ws_path"] + "?token=" + grant["token"],
                           additional_headers={"authorization": f"Bearer {s.bearers['site1']}"}) as ws:
            refused = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert refused["code"] == "room_full", refused

        # a leave on process B is seen on process A
        await spoke.send({"type": "leave"})
        for tab in (hub, site0):
            assert (await tab.next("peer-left"))["peer_id"] == spoke.peer_id

        # the same person's second tab on process B replaces the first one held by process A
        again = await open_tab(b, sid, s.bearers["hub"])
        assert (await hub.next("replaced"))["code"] == "replaced"
        assert await closed(hub) == (4409, "replaced")
        assert [p["peer_id"] for p in again.welcome["peers"]] == [site0.peer_id]
        assert (await site0.next("peer-left"))["peer_id"] == hub.peer_id
        assert (await site0.next("peer-joined"))["peer"]["peer_id"] == again.peer_id
        await again.send({"type": "signal", "to": site0.peer_id, "data": {"type": "offer", "sdp": OFFER}})
        assert (await site0.next("signal"))["from"] == again.peer_id

        # the host ends the session through process B: the participant held by A is told
        async with httpx.AsyncClient(base_url=b, headers={"authorization": f"Bearer {s.bearers['hub']}"},
                                     timeout=HTTP) as http:
            r = await http.post(f"/api/v1/calls/sessions/{sid}/end")
            assert r.status_code in (200, 204), r.text
        assert (await site0.next("ended"))["code"] == "ended"
        assert (await closed(site0))[0] == 4410
        await again.ws.close()
    await engine.dispose()


@pytest.mark.redis
async def test_redis_directory_orders_joins_and_forgets_a_dead_process() -> None:
    need(REDIS_URL is not None, "needs Redis (TELEBRIDGE_TEST_REDIS_URL)")
    from telebridge.calls.directory import RedisDirectory

    sid = uuid.uuid4()
    a, b = RedisDirectory(str(REDIS_URL), "node-a"), RedisDirectory(str(REDIS_URL), "node-b")
    try:
        assert await a.claim(sid, {"mode": "sfu", "degraded": False}) == {"mode": "sfu", "degraded": False}
        assert (await b.claim(sid, {"mode": "mesh", "degraded": True}))["mode"] == "sfu"  # the first decides
        first = await a.join(sid, {"peer_id": "p1", "user_id": "u1", "feed": None})
        second = await b.join(sid, {"peer_id": "p2", "user_id": "u2", "feed": None})
        assert second > first
        await b.update(sid, {"peer_id": "p2", "user_id": "u2", "feed": "f2"})
        await b.update(sid, {"peer_id": "gone", "user_id": "u3", "feed": None})  # never re-adds someone who left
        members = {m["peer_id"]: m for m in await a.members(sid)}
        assert set(members) == {"p1", "p2"} and members["p2"]["feed"] == "f2" and members["p2"]["seq"] == second
        assert "_node" not in members["p1"]

        assert b._beat is not None
        b._beat.cancel()  # process B dies: its presence key is no longer renewed and expires
        await a._redis.delete(b._node_key("node-b"))
        assert [m["peer_id"] for m in await a.members(sid)] == ["p1"]
        assert not await a.remove(sid, "p2")  # already dropped from the room's list
        assert await a.remove(sid, "p1") and await a.members(sid) == []
        await a.release(sid)
        assert await a.meta(sid) is None
    finally:
        await a.close()
        await b.close()



@pytest.mark.parametrize("kind", ["local", pytest.param("redis", marks=pytest.mark.redis)])
async def test_a_rooms_recording_has_one_starter_and_one_closer(kind: str) -> None:
    """The recording state shared by a room's processes: of two Starts one wins, every process adds
    its feeds while it runs, and of several closers exactly one takes it (with all the feeds)."""
    from telebridge.calls.directory import LocalDirectory, RedisDirectory

    if kind == "redis":
        need(REDIS_URL is not None, "needs Redis (TELEBRIDGE_TEST_REDIS_URL)")
        a, b = RedisDirectory(str(REDIS_URL), "node-a"), RedisDirectory(str(REDIS_URL), "node-b")
    else:
        a = b = LocalDirectory()  # type: ignore[assignment]  # one process
    sid = uuid.uuid4()
    who = {"user_id": "u1", "name": "BS A", "site": "Hub"}
    try:
        await a.add_feeds(sid, {"f0": who})  # not recording: nothing is kept
        won = await asyncio.gather(a.start_recording(sid, {"id": "r1", "directory": "/rec/r1"}),
                                   b.start_recording(sid, {"id": "r2", "directory": "/rec/r2"}))
        assert sorted(won) == [False, True]
        winner = "r1" if won[0] else "r2"
        assert await a.recording(sid) == await b.recording(sid) == {"id": winner, "directory": f"/rec/{winner}"}
        await a.add_feeds(sid, {"f1": who})
        await b.add_feeds(sid, {"f2": {**who, "user_id": "u2"}})
        assert await a.take_recording(sid, "r3") is None  # only the given recording
        taken = await asyncio.gather(a.take_recording(sid), b.take_recording(sid), a.take_recording(sid))
        assert [t for t in taken if t is not None] == [
            ({"id": winner, "directory": f"/rec/{winner}"}, {"f1": who, "f2": {**who, "user_id": "u2"}})]
        assert await b.recording(sid) is None
        await b.add_feeds(sid, {"f3": who})  # after the close: not kept for the next recording
        assert await b.start_recording(sid, {"id": "r4", "directory": "/rec/r4"})
        assert await a.take_recording(sid, "r4") == ({"id": "r4", "directory": "/rec/r4"}, {})
    finally:
        await a.close()
        if b is not a:
            await b.close()


# ---------------------------------------------------------------- recording across app processes


@dataclass
class JanusPair:
    """Two app processes in the sealed namespace, one Janus, PostgreSQL and Redis (forwarded in)."""

    ns: str
    a: str
    b: str
    setup: Setup

    async def recordable_session(self) -> uuid.UUID:
        """A session of a new consultation whose patient consented to recording (so its room is a Janus room)."""
        w = self.setup.world
        assert w.patient_a is not None
        sid = await self.setup.session([w.hub_a.id, w.spoke_a.id])
        async with self.setup.maker() as db:
            ls = await db.get(LiveSession, sid)
            assert ls is not None
            db.add(Consent(patient_id=w.patient_a.id, purpose="recording", granted=True, text_version="2025-01",
                           method="written", given_by="Bệnh nhân", recorded_by=w.users["spoke_clinician"].id,
                           recorded_at=utcnow()))
            db.add(CareRelationship(patient_id=w.patient_a.id, facility_id=w.hub_a.id, basis="consultation_request",
                                    basis_ref=str(ls.consultation_id), created_at=utcnow()))
            await db.commit()
        return sid

    def cast(self) -> tuple[Any, Any, str, str]:
        """The host and the spoke clinician (users), and their bearer tokens."""
        users = self.setup.world.users
        return (users["hub_specialist"], users["spoke_clinician"], self.setup.bearers["hub"],
                self.setup.bearers["spoke"])

    async def kept_for_both(self, sid: uuid.UUID) -> LiveSessionRecording:
        """The session's one recording, converted: one WebM for each of the two participants."""
        host_user, spoke_user, _, _ = self.cast()
        [row] = await self.finished(sid)
        assert (row.status, row.error, len(row.file_ids or [])) == ("ready", None, 2)
        assert sorted(f["user_id"] for f in (row.feeds or {}).values()) == sorted([str(host_user.id),
                                                                                 str(spoke_user.id)])
        return row

    async def drive(self, spec: dict[str, Any]) -> dict[str, Any]:
        spec = {"base": self.a, "frames": 10, "timeout": 120, **spec}
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: harness.run_peers(self.ns, spec, module="tests.calls.record_peers"))

    async def finished(self, sid: uuid.UUID) -> list[LiveSessionRecording]:
        """The session's recordings once the conversion job is done with all of them."""
        rows: list[LiveSessionRecording] = []
        for _ in range(900):
            async with self.setup.maker() as db:
                rows = list((await db.execute(select(LiveSessionRecording).where(
                    LiveSessionRecording.live_session_id == sid))).scalars())
            if rows and all(r.status in ("ready", "empty", "failed") for r in rows):
                break
            await asyncio.sleep(0.2)
        return rows

    async def stops(self, sid: uuid.UUID) -> list[AuditEvent]:
        async with self.setup.maker() as db:
            return list((await db.execute(select(AuditEvent).where(
                AuditEvent.object_id == str(sid), AuditEvent.action.in_(["record_start", "record_stop"]))
                .order_by(AuditEvent.at))).scalars())


@pytest.fixture(scope="module")
async def janus_pair(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[JanusPair]:
    need(PG_URL is not None and REDIS_URL is not None, "needs PostgreSQL and Redis (TELEBRIDGE_TEST_*_URL)")
    ok, reason = harness.netns_supported()
    need(ok, reason)
    need(shutil.which("janus-pp-rec") is not None, "recording needs janus-pp-rec (janus-tools; make system-deps)")
    tmp = tmp_path_factory.mktemp("callsrec")
    url = await fresh_database(tmp, "postgresql", "_callsrec")
    s, engine = await build(url, 0)
    pg, redis = make_url(url), urlsplit(str(REDIS_URL))
    env = {"TELEBRIDGE_REDIS_URL": str(REDIS_URL)}
    with harness.netns() as ns, \
            harness.forward(ns, pg.host or "127.0.0.1", pg.port or 5432, tmp), \
            harness.forward(ns, redis.hostname or "127.0.0.1", redis.port or 6379, tmp), \
            harness.janus(ns, tmp / "janus") as jp, \
            harness.app_server(ns, url, jp.config, tmp / "a.log", **env) as a, \
            harness.app_server(ns, url, jp.config, tmp / "b.log", **env) as b:  # same files and recordings
        yield JanusPair(ns, a.base, b.base, s)
    await engine.dispose()


def _rec(sid: uuid.UUID, action: str = "") -> str:
    return f"/api/v1/calls/sessions/{sid}/recording{action}"


@pytest.mark.postgres
@pytest.mark.redis
async def test_a_room_on_two_processes_is_recorded_from_either(janus_pair: JanusPair) -> None:
    """Start through one process, Stop through the other: everyone is told, and each participant's
    media is kept, wherever their socket is held."""
    jp = janus_pair
    host_user, spoke_user, host, spoke = jp.cast()
    sid = await jp.recordable_session()
    report = await jp.drive({"session_id": str(sid), "bearers": [host, spoke], "bases": [jp.a, jp.b], "steps": [
        {"as": host, "base": jp.b, "post": _rec(sid), "sleep": 3},
        {"as": host, "base": jp.a, "post": _rec(sid)},
        {"as": host, "base": jp.a, "post": _rec(sid, "/stop")},
        {"as": host, "base": jp.b, "post": _rec(sid, "/stop")}]})
    assert report["ok"], report
    assert [p["mode"] for p in report["participants"]] == ["sfu", "sfu"]
    started, again, stopped, not_recording = report["answers"]
    assert started["status"] == 201 and started["body"]["status"] == "recording", started
    assert again["status"] == 409 and again["body"]["error"]["code"] == "already_recording", again
    assert stopped["status"] == 200 and stopped["body"]["status"] == "processing", stopped
    assert not_recording["status"] == 409 and not_recording["body"]["error"]["code"] == "not_recording"
    for p in report["participants"]:  # the host (on A) and the spoke (on B) saw it go on, then off
        assert p["notices"] == [False, True, False], p

    row = await jp.kept_for_both(sid)
    async with jp.setup.maker() as db:
        names = [f.filename for f in (await db.execute(select(ClinicalFile).where(
            ClinicalFile.id.in_([uuid.UUID(i) for i in row.file_ids or []])))).scalars()]
    for user in (host_user, spoke_user):  # each WebM named after its participant
        assert sum(user.username in n for n in names) == 1, names
    assert [(e.action, e.actor_user_id) for e in await jp.stops(sid)] == [("record_start", host_user.id),
                                                                          ("record_stop", host_user.id)]


@pytest.mark.postgres
@pytest.mark.redis
async def test_a_recording_runs_until_the_room_is_empty_on_every_process(janus_pair: JanusPair) -> None:
    """The participant on A leaves: B's participant is still in the room, so the recording goes on
    (and A still knows it); once B's leaves too, the recording closes as the system."""
    jp = janus_pair
    host_user, _, host, spoke = jp.cast()
    sid = await jp.recordable_session()
    report = await jp.drive({"session_id": str(sid), "bearers": [host, spoke], "bases": [jp.a, jp.b], "steps": [
        {"as": host, "base": jp.a, "post": _rec(sid), "sleep": 2},
        {"leave": 0, "sleep": 2},
        {"as": host, "base": jp.a, "post": _rec(sid), "sleep": 1},
        {"leave": 1, "sleep": 3},
        {"as": host, "base": jp.b, "post": _rec(sid, "/stop")}]})
    assert report["ok"], report
    started, _, still, _, closed_already = report["answers"]
    assert started["status"] == 201, started
    assert still["status"] == 409 and still["body"]["error"]["code"] == "already_recording", still
    assert closed_already["status"] == 409 and closed_already["body"]["error"]["code"] == "not_recording"
    for p in report["participants"]:  # nobody was told it stopped while they were in the room
        assert p["notices"] == [False, True], p

    await jp.kept_for_both(sid)
    assert [(e.action, e.actor_user_id) for e in await jp.stops(sid)] == [("record_start", host_user.id),
                                                                          ("record_stop", None)]  # the system


@pytest.mark.postgres
@pytest.mark.redis
async def test_a_process_without_participants_starts_and_stops_the_recording(janus_pair: JanusPair) -> None:
    """Start and Stop reach a process holding nobody of the room (a load balancer's choice): it asks
    Janus through a session of its own, and the other process adds its participants' feeds."""
    jp = janus_pair
    _, _, host, spoke = jp.cast()
    sid = await jp.recordable_session()
    empty = await jp.drive({"session_id": str(sid), "steps": [{"as": host, "base": jp.a, "post": _rec(sid)}]})
    [not_open] = empty["answers"]
    assert not_open["status"] == 409 and not_open["body"]["error"]["code"] == "room_not_open", not_open

    report = await jp.drive({"session_id": str(sid), "bearers": [host, spoke], "bases": [jp.b, jp.b], "steps": [
        {"as": host, "base": jp.a, "post": _rec(sid), "sleep": 3},
        {"as": host, "base": jp.a, "post": _rec(sid, "/stop")}]})
    assert report["ok"], report
    started, stopped = report["answers"]
    assert started["status"] == 201 and stopped["status"] == 200, report["answers"]
    for p in report["participants"]:
        assert p["notices"] == [False, True, False], p
    await jp.kept_for_both(sid)

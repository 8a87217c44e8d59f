"""Real media through the real signaling: aiortc peers, the app and Janus in a sealed namespace."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from telebridge.calls import service
from telebridge.calls.models import LiveSessionAttendance
from telebridge.config import Settings
from telebridge.kit.audit import AuditEvent
from tests.calls import harness
from tests.calls.conftest import Live
from tests.conftest import need

FRAMES = 10


def _assert_everyone_sees_everyone(report: dict, n: int, mode: str) -> None:
    assert report["ok"], report
    parts = report["participants"]
    assert len(parts) == n
    ids = {p["peer_id"] for p in parts}
    for p in parts:
        assert p["mode"] == mode
        full = {r for r, c in p["counts"].items() if c["audio"] >= FRAMES and c["video"] >= FRAMES}
        assert full == ids - {p["peer_id"]}, p
        # the decoded pictures carry their sender's clock stamp: real frames from the right sender
        assert p["latency_ms"] and min(p["latency_ms"]) >= 0, p


async def _peers(live: Live, spec: dict) -> dict:
    spec = {"base": live.base, "frames": FRAMES, "timeout": 120, **spec}
    return await asyncio.get_running_loop().run_in_executor(None, harness.run_peers, live.ns, spec)


async def test_mesh_room_of_three_exchanges_audio_and_video(live: Live) -> None:
    w = live.world
    sid = await live.session([w.hub_a.id, w.spoke_a.id, live.extra[0].facility.id])
    users = [w.users["hub_specialist"], w.users["spoke_clinician"], live.extra[0].user]
    report = await _peers(live, {"session_id": str(sid), "bearers": await live.bearers(users)})
    _assert_everyone_sees_everyone(report, 3, "mesh")

    # every join and leave is recorded with its site, and audited
    assert harness.wait_for(lambda: True)
    async with live.maker() as db:  # type: ignore[attr-defined]
        for _ in range(50):
            rows = (await db.execute(select(LiveSessionAttendance).where(
                LiveSessionAttendance.live_session_id == sid))).scalars().all()
            if len(rows) == 3 and all(r.left_at for r in rows):
                break
            await asyncio.sleep(0.2)
            db.expire_all()
        assert {r.user_id for r in rows} == {u.id for u in users}
        assert all(r.left_at is not None and r.left_at >= r.joined_at for r in rows)
        assert {r.facility_id for r in rows} == {w.hub_a.id, w.spoke_a.id, live.extra[0].facility.id}
        events = (await db.execute(select(AuditEvent).where(AuditEvent.object_id == str(sid)))).scalars().all()
        assert sorted(e.action for e in events if e.outcome == "ok") == ["join"] * 3 + ["leave"] * 3
        assert all('"facility_id"' in (e.detail or "") for e in events)


async def test_janus_room_of_six_everyone_receives_the_five_others(live: Live) -> None:
    w = live.world
    sites = [w.hub_a.id, w.spoke_a.id, *(s.facility.id for s in live.extra)]
    sid = await live.session(sites)
    users = [w.users["hub_specialist"], w.users["spoke_clinician"], *(s.user for s in live.extra)]
    cpu0 = live.janus.cpu_seconds()  # type: ignore[attr-defined]
    report = await _peers(live, {"session_id": str(sid), "bearers": await live.bearers(users), "timeout": 150})
    _assert_everyone_sees_everyone(report, 6, "sfu")
    assert live.janus.cpu_seconds() > cpu0  # type: ignore[attr-defined]  # the media went through Janus


@pytest.mark.parametrize("sites", [3, 6], ids=["mesh", "janus"])
async def test_dropped_participant_rejoins_and_is_seen_again(live: Live, sites: int) -> None:
    w = live.world
    all_sites = [w.hub_a.id, w.spoke_a.id, *(s.facility.id for s in live.extra)]
    all_users = [w.users["hub_specialist"], w.users["spoke_clinician"], *(s.user for s in live.extra)]
    n = 3 if sites == 3 else 4  # a Janus room (6 invited sites) with 4 people present
    sid = await live.session(all_sites[:sites])
    report = await _peers(live, {"session_id": str(sid), "bearers": await live.bearers(all_users[:n]),
                                 "rejoin": 1, "timeout": 150})
    _assert_everyone_sees_everyone(report, n, "mesh" if sites == 3 else "sfu")
    dropped = report["participants"][1]
    assert dropped["rejoined"] and len(dropped["peer_ids"]) == 2
    for p in report["participants"]:  # nobody still counts the dropped connection
        assert dropped["peer_ids"][0] not in p["counts"]


async def test_uninvited_and_expired_tokens_are_refused(live: Live) -> None:
    w = live.world
    sid = await live.session([w.hub_a.id, w.spoke_a.id])
    settings = Settings(environment="test")  # the namespace app runs with the same (test) secret
    invited, outsider = w.users["spoke_clinician"], w.users["other_clinician"]
    b_invited, b_outsider = await live.bearers([invited, outsider])

    forged, _ = service.issue_token(settings, session_id=sid, user_id=outsider.id, facility_id=w.spoke_b.id)
    r = await _peers(live, {"session_id": str(sid), "probe": {"bearer": b_outsider, "token": forged}})
    assert r["first"]["code"] == "forbidden" and r["close_code"] == 4403, r

    stolen, _ = service.issue_token(settings, session_id=sid, user_id=invited.id, facility_id=w.spoke_a.id)
    r = await _peers(live, {"session_id": str(sid), "probe": {"bearer": b_outsider, "token": stolen}})
    assert r["first"]["code"] == "invalid_room_token", r

    expired, _ = service.issue_token(settings, session_id=sid, user_id=invited.id, facility_id=w.spoke_a.id,
                                     now=time.time() - 3600)
    r = await _peers(live, {"session_id": str(sid), "probe": {"bearer": b_invited, "token": expired}})
    assert r["first"]["code"] == "expired_room_token" and r["close_code"] == 4401, r
    assert "hết hạn" in r["first"]["message"]

    r = await _peers(live, {"session_id": str(sid), "probe": {"bearer": None, "token": stolen}})
    assert r["first"]["code"] == "unauthenticated", r

    async with live.maker() as db:  # type: ignore[attr-defined]
        denied = (await db.execute(select(AuditEvent).where(
            AuditEvent.object_id == str(sid), AuditEvent.outcome == "denied"))).scalars().all()
        assert [e.actor_user_id for e in denied] == [outsider.id]


def test_harness_namespace_is_sealed(tmp_path: Path) -> None:
    ok, reason = harness.netns_supported()
    need(ok, reason)
    with harness.netns() as ns:
        out = harness._ns_python(ns, "import socket\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                                     "try:\n    s.connect(('192.0.2.1', 9)); print('route')\n"
                                     "except OSError: print('no-route')\n")
        assert out.stdout.strip() == "no-route"

"""Join → first decoded remote video frame, for mesh rooms of 3 and Janus rooms of 6.

Usage (root: it builds a private network namespace):
    .venv/bin/python bench/first_frame.py [--mesh-rounds 3] [--janus-rounds 2] [--frames 50]

Everything runs on this machine inside one sealed namespace (see tests/calls/harness.py):
Janus, the app (uvicorn, SQLite) and aiortc participants that join through the real
signaling one after another (0.3 s apart). For each participant the time from opening
the join request to its first decoded remote video frame is recorded. Janus CPU per
participant is Janus's user+system CPU during the Janus rounds divided by their wall
time and by the 6 participants (160x120 VP8 at 10 fps + Opus per participant).
Media latency is estimated from RTCP round-trip times is not reported: aiortc does not
expose it per frame. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telebridge.calls.models import LiveSession, LiveSessionSite
from telebridge.kit.db import make_engine, make_sessionmaker, utcnow
from tests import factories
from tests.calls import harness
from tests.calls.helpers import consultation, extra_sites
from tests.conftest import fresh_database


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, round(q * (len(v) - 1)))], 1)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mesh-rounds", type=int, default=3)
    ap.add_argument("--janus-rounds", type=int, default=2)
    ap.add_argument("--frames", type=int, default=50)
    args = ap.parse_args()
    ok, reason = harness.netns_supported()
    if not ok:
        print(json.dumps({"error": reason}))
        return
    tmp = Path(tempfile.mkdtemp(prefix="tb-first-frame-"))
    url = await fresh_database(tmp, "sqlite", "_bench")
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    world = await factories.build_world(maker)
    extra = await extra_sites(maker, world, 4)
    c = await consultation(maker, world)
    users6 = [world.users["hub_specialist"], world.users["spoke_clinician"], *(s.user for s in extra)]
    sites6 = [world.hub_a.id, world.spoke_a.id, *(s.facility.id for s in extra)]

    async def session(sites: list) -> str:  # type: ignore[type-arg]
        async with maker() as db:
            ls = LiveSession(consultation_id=c.id, host_facility_id=world.hub_a.id, title="bench",
                             starts_at=utcnow() + timedelta(minutes=5), duration_minutes=60, status="scheduled",
                             created_by=world.users["hub_specialist"].id)
            db.add(ls)
            await db.flush()
            db.add_all([LiveSessionSite(live_session_id=ls.id, facility_id=f) for f in sites])
            await db.commit()
            return str(ls.id)

    mesh: list[float] = []
    sfu: list[float] = []
    lat_mesh: list[float] = []
    lat_sfu: list[float] = []
    failures = 0
    cpu = wall = 0.0
    with harness.netns() as ns, harness.janus(ns, tmp / "janus") as jp, \
            harness.app_server(ns, url, jp.config, tmp / "app.log") as server:
        loop = asyncio.get_running_loop()

        async def run(users: list, sites: list, timeout: int) -> dict:  # type: ignore[type-arg]
            bearers = [await factories.api_token(maker, u) for u in users]
            spec = {"base": server.base, "session_id": await session(sites), "bearers": bearers,
                    "frames": args.frames, "timeout": timeout}
            return await loop.run_in_executor(None, harness.run_peers, ns, spec, timeout + 60)

        for _ in range(args.mesh_rounds):
            r = await run(users6[:3], sites6[:3], 90)
            failures += not r["ok"]
            mesh += [p["first_frame_ms"] for p in r["participants"] if p["first_frame_ms"] is not None]
            lat_mesh += [x for p in r["participants"] for x in p["latency_ms"]]
        for _ in range(args.janus_rounds):
            c0, t0 = jp.cpu_seconds(), time.monotonic()
            r = await run(users6, sites6, 150)
            cpu += jp.cpu_seconds() - c0
            wall += time.monotonic() - t0
            failures += not r["ok"]
            sfu += [p["first_frame_ms"] for p in r["participants"] if p["first_frame_ms"] is not None]
            lat_sfu += [x for p in r["participants"] for x in p["latency_ms"]]
    await engine.dispose()
    print(json.dumps({
        "mesh3_first_frame_ms": {"p50": pct(mesh, 0.5), "p95": pct(mesh, 0.95), "n": len(mesh)},
        "janus6_first_frame_ms": {"p50": pct(sfu, 0.5), "p95": pct(sfu, 0.95), "n": len(sfu)},
        "janus_cpu_pct_per_participant": round(100 * cpu / wall / 6, 2) if wall else None,
        "mesh_vs_janus_p50_ratio": round(statistics.median(sfu) / statistics.median(mesh), 2) if mesh and sfu else None,
        "media": "aiortc 160x120 VP8 10 fps + Opus tone per participant",
        "failed_rooms": failures,
        "media_latency_ms": {"mesh3_p50": pct(lat_mesh, 0.5), "mesh3_p95": pct(lat_mesh, 0.95),
                             "janus6_p50": pct(lat_sfu, 0.5), "janus6_p95": pct(lat_sfu, 0.95)},
    }))


if __name__ == "__main__":
    asyncio.run(main())

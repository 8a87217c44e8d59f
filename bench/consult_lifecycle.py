"""Complete teleconsultation lifecycles per second through the HTTP API of one app process.

Usage: .venv/bin/python bench/consult_lifecycle.py [--database sqlite|postgresql] [--lifecycles 200]
       [--concurrency 16] [--workers 1] [--redis-url URL] [--postgres-url URL]
uvicorn (``--workers`` processes; with more than one, events cross them through Redis as in
production) serves a fresh, migrated database holding a small hub-and-spoke world;
``--concurrency`` clients each run lifecycles: create (emergency, submitted) → accept →
10 messages → minutes → chair signs (password re-authentication, argon2) → close →
7-day outcome. Prints one JSON line: lifecycles_per_s and the p50/p99 of every step (ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from telebridge.kit.db import make_engine, make_sessionmaker
from tests import factories
from tests.browser.conftest import serving
from tests.conftest import fresh_database
from tests.consultations.conftest import build_case_world, request_body


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else 0.0


async def lifecycle(spoke: httpx.AsyncClient, hub: httpx.AsyncClient, cw, hub_password: str, i: int,
                    steps: dict[str, list[float]]) -> None:
    async def step(name: str, call):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        r = await call
        steps.setdefault(name, []).append((time.perf_counter() - t) * 1000)
        assert r.status_code < 300, (name, r.status_code, r.text[:300])
        return r

    body = request_body(cw, hub_facility_id=str(cw.w.hub_a.id))
    c = (await step("create", spoke.post("/api/v1/consultations", json=body, headers={"idempotency-key": f"b{i}"}))).json()
    cid = c["id"]
    await step("accept", hub.post(f"/api/v1/consultations/{cid}/accept"))
    for n in range(10):
        who = hub if n % 2 else spoke
        await step("message", who.post(f"/api/v1/consultations/{cid}/messages", json={"body": f"Trao đổi {n}", "client_key": f"{i}-{n}"}))
    minutes = {"participants": [{"user_id": str(cw.w.hub_specialist.id), "name": "BS Trần Thị Tim", "role": "chair"}],
               "discussion": "Thảo luận", "conclusions": [{"issue": "Chẩn đoán", "conclusion": "Theo dõi"}],
               "diagnoses": ["I10"], "recommendation": "treat_locally"}
    await step("minutes", hub.put(f"/api/v1/consultations/{cid}/minutes", json=minutes))
    await step("sign", hub.post(f"/api/v1/consultations/{cid}/minutes/sign", json={"password": hub_password}))
    await step("close", spoke.post(f"/api/v1/consultations/{cid}/close"))
    await step("outcome", spoke.post(f"/api/v1/consultations/{cid}/outcomes",
                                     json={"checkpoint": 7, "action_taken": "Điều trị tại chỗ", "outcome": "treated_locally"}))


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--lifecycles", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--redis-url", default=os.environ.get("TELEBRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    ap.add_argument("--postgres-url", default=os.environ.get("TELEBRIDGE_TEST_POSTGRES_URL",
                                                              "postgresql+asyncpg://postgres@127.0.0.1:5432/telebridge_bench"))
    args = ap.parse_args()
    if args.database == "postgresql":
        os.environ["TELEBRIDGE_TEST_POSTGRES_URL"] = args.postgres_url
        import tests.conftest as tc

        tc.PG_URL = args.postgres_url
    url = await fresh_database(Path(tempfile.mkdtemp()), args.database, "_lifecycle")
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    cw = await build_case_world(maker)
    spoke_token = await factories.api_token(maker, cw.w.spoke_clinician)
    hub_token = await factories.api_token(maker, cw.w.hub_specialist)
    await engine.dispose()
    steps: dict[str, list[float]] = {}
    env = {"TELEBRIDGE_SLA_SWEEP_SECONDS": "0"}
    if args.workers > 1:
        env["TELEBRIDGE_REDIS_URL"] = args.redis_url
    async with serving(url, workers=args.workers, **env) as base:
        limits = httpx.Limits(max_connections=args.concurrency * 2)
        async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {spoke_token}"}, limits=limits, timeout=60) as spoke, \
                httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {hub_token}"}, limits=limits, timeout=60) as hub:
            await lifecycle(spoke, hub, cw, cw.w.hub_specialist.password, -1, {})  # warm up
            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(args.lifecycles):
                queue.put_nowait(i)

            async def worker() -> None:
                while not queue.empty():
                    await lifecycle(spoke, hub, cw, cw.w.hub_specialist.password, queue.get_nowait(), steps)

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            elapsed = time.perf_counter() - started
    print(json.dumps({
        "database": args.database, "lifecycles": args.lifecycles, "concurrency": args.concurrency,
        "lifecycles_per_s": round(args.lifecycles / elapsed, 2),
        "requests_per_s": round(sum(len(v) for v in steps.values()) / elapsed, 1),
        "step_ms": {k: {"p50": pct(v, 0.5), "p99": pct(v, 0.99)} for k, v in steps.items()},
        "server_processes": args.workers, "cpu_count": os.cpu_count(),
    }))


if __name__ == "__main__":
    asyncio.run(main())

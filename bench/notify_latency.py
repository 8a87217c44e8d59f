"""Notification latency with many idle live connections on one app process.

Usage: .venv/bin/python bench/notify_latency.py [--clients 10000] [--requests 100]
One uvicorn process (embedded SQLite, in-process bus) serves a small hub-and-spoke world.
``--clients`` idle browsers hold Server-Sent-Events connections (/events, signed in as a
clinician of an unrelated facility: they receive nothing); the on-call hub specialist holds
one more. Emergency requests are then created through the API one after another; each
notification carries the time its transaction committed (``sent_at``), and the specialist's
connection notes when it arrived. Prints one JSON line: clients, p50_ms, p99_ms, max_ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from telebridge.kit.db import make_engine, make_sessionmaker
from tests import factories
from tests.browser.conftest import serving
from tests.conftest import fresh_database
from tests.consultations.conftest import build_case_world, request_body
from tests.consultations.test_cross_process import sign_in


async def sse(base: str, cookie: str, ready: asyncio.Event) -> None:
    """A minimal SSE client on a raw socket (10,000 of them must be cheap)."""
    u = urlsplit(base)
    reader, writer = await asyncio.open_connection(u.hostname, u.port)
    writer.write(f"GET /events HTTP/1.1\r\nHost: {u.netloc}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    status = await reader.readline()
    assert b" 200 " in status, status
    ready.set()
    while await reader.readline():  # idle: keepalives only
        pass


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=100)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.clients * 2 + 1000)), hard))
    url = await fresh_database(Path(tempfile.mkdtemp()), "sqlite", "_notify")
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    cw = await build_case_world(maker)
    token = await factories.api_token(maker, cw.w.spoke_clinician)
    await engine.dispose()
    async with serving(url, TELEBRIDGE_SLA_SWEEP_SECONDS="0") as base:
        cookies = {}
        for role, user in (("idle", cw.w.other_clinician), ("oncall", cw.w.hub_specialist)):
            async with httpx.AsyncClient(base_url=base, timeout=30) as c:
                await sign_in(c, user)
                cookies[role] = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
        tasks = []
        started = time.perf_counter()
        for i in range(0, args.clients, 100):  # connect in waves
            batch = [asyncio.Event() for _ in range(min(100, args.clients - i))]
            tasks += [asyncio.create_task(sse(base, cookies["idle"], ready=e)) for e in batch]
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in batch)), 300)
        connect_s = time.perf_counter() - started
        latencies: list[float] = []
        got: asyncio.Queue = asyncio.Queue()  # type: ignore[type-arg]
        oncall_ready = asyncio.Event()
        oncall = asyncio.create_task(_oncall(base, cookies["oncall"], got, oncall_ready))
        await oncall_ready.wait()
        async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {token}"}, timeout=60) as api:
            for n in range(args.requests):
                r = await api.post("/api/v1/consultations", json=request_body(cw), headers={"idempotency-key": f"n{n}"})
                assert r.status_code == 201, r.text
                while True:
                    arrived, payload = await asyncio.wait_for(got.get(), 30)
                    if payload.get("kind") == "notification":
                        latencies.append((arrived - payload["sent_at"]) * 1000)
                        break
                # cancelled again, so the next request goes to the same (least loaded) hub
                r = await api.post(f"/api/v1/consultations/{r.json()['id']}/cancel", json={"reason": "bench"})
                assert r.status_code == 200, r.text
        oncall.cancel()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, oncall, return_exceptions=True)
    latencies.sort()
    print(json.dumps({
        "clients": args.clients, "requests": args.requests,
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2),
        "max_ms": round(latencies[-1], 2), "connect_s": round(connect_s, 1),
        "server_processes": 1, "bus": "in-process", "database": "sqlite",
    }))


async def _oncall(base: str, cookie: str, got: asyncio.Queue, ready: asyncio.Event) -> None:  # type: ignore[type-arg]
    u = urlsplit(base)
    reader, writer = await asyncio.open_connection(u.hostname, u.port)
    writer.write(f"GET /events HTTP/1.1\r\nHost: {u.netloc}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    assert b" 200 " in await reader.readline()
    ready.set()
    while True:
        line = await reader.readline()
        if not line:
            return
        if line.startswith(b"data: "):
            got.put_nowait((time.time(), json.loads(line[6:])))


if __name__ == "__main__":
    asyncio.run(main())

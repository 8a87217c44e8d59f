"""Demo seeding speed and facility-directory search latency at the national scale.

Usage: .venv/bin/python bench/seed.py [--facilities-small 1000] [--facilities-large 14000]
       [--queries 300] [--postgres-url URL]
Seeds fresh, migrated databases (temporary SQLite files; a freshly created PostgreSQL
database), timing each seeding (migrations excluded), then sends ``--queries`` realistic
GET /api/v1/facilities requests through the real app in-process against the large
databases and reports per-request wall-time percentiles. Prints one JSON line; the
PostgreSQL figures are "unavailable" when the server cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from telebridge.app import create_app
from telebridge.config import Settings
from telebridge.demo.seed import run_demo
from telebridge.identity.models import ApiToken, User
from telebridge.identity.service import sha256
from telebridge.kit.db import make_engine, make_sessionmaker, utcnow
from telebridge.kit.migrate import upgrade
from telebridge.kit.validators import fold
from telebridge.network.models import Facility, Province
from telebridge.network.reference import SPECIALTY_CODES, TECHNICAL_LEVELS

DEFAULT_PG = os.environ.get("TELEBRIDGE_TEST_POSTGRES_URL",
                            "postgresql+asyncpg://postgres@127.0.0.1:5432/telebridge_bench")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def migrate(url: str) -> None:
    await asyncio.to_thread(upgrade, url)


async def timed_seed(url: str, facilities: int) -> float:
    await migrate(url)
    started = time.perf_counter()
    result = await run_demo(url, facilities=facilities, seed=2025)
    elapsed = time.perf_counter() - started
    assert result.created and result.totals["bridge_points"] == facilities, result.totals
    log(f"seeded {facilities} facilities into {url.split('@')[-1]} in {elapsed:.1f} s")
    return round(elapsed, 2)


async def recreate_pg(url: str) -> None:
    import asyncpg

    base, name = url.rsplit("/", 1)
    conn = await asyncpg.connect(base.replace("postgresql+asyncpg", "postgresql") + "/postgres", timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _fragment(rng: random.Random, names: list[str]) -> str:
    """3-8 letters cut from a word of a real facility name, without diacritics."""
    words = [w for w in fold(rng.choice(names)).split() if len(w) >= 3]
    word = rng.choice(words)
    size = rng.randint(3, min(8, len(word)))
    start = rng.randrange(len(word) - size + 1)
    return word[start:start + size]


def query_mix(rng: random.Random, n: int, names: list[str], provinces: list[int]) -> list[dict[str, Any]]:
    """Text search, filters and their combinations, pages 1-3."""
    specialties = sorted(SPECIALTY_CODES)
    shapes = [
        (35, lambda: {"q": _fragment(rng, names)}),
        (12, lambda: {"province": rng.choice(provinces)}),
        (8, lambda: {"level": rng.choice(TECHNICAL_LEVELS)}),
        (8, lambda: {"role": "hub"}),
        (12, lambda: {"q": _fragment(rng, names), "province": rng.choice(provinces)}),
        (8, lambda: {"role": "spoke", "province": rng.choice(provinces), "level": rng.choice(TECHNICAL_LEVELS)}),
        (9, lambda: {"role": "hub", "specialty": rng.choice(specialties)}),
        (8, lambda: {"q": _fragment(rng, names), "role": rng.choice(("hub", "spoke"))}),
    ]
    weights = [w for w, _f in shapes]
    queries = []
    for _ in range(n):
        params = rng.choices(shapes, weights=weights)[0][1]()
        params["page"] = rng.choices((1, 2, 3), weights=(70, 20, 10))[0]
        queries.append(params)
    return queries


async def _bearer(maker: Any, username: str) -> str:
    token = "tb_bench_" + secrets.token_urlsafe(24)
    async with maker() as db:
        user_id = await db.scalar(select(User.id).where(User.username == username))
        db.add(ApiToken(token_hash=sha256(token), user_id=user_id, label="bench", created_at=utcnow(),
                        expires_at=utcnow() + timedelta(hours=1)))
        await db.commit()
    return token


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


async def search_latency(url: str, queries: int) -> dict[str, Any]:
    """p50/p99 in ms of directory requests through the app in-process, as the demo 'bs.xa'."""
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    try:
        async with maker() as db:
            names = list((await db.scalars(select(Facility.name).limit(3000))).all())
            provinces = list((await db.scalars(select(Province.code))).all())
        token = await _bearer(maker, "bs.xa")
        app = create_app(Settings(database_url=url, log_level="WARNING"))
        app.state.engine, app.state.sessionmaker = engine, maker
        mix = query_mix(random.Random(42), queries, names, provinces)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                     headers={"authorization": f"Bearer {token}"}) as client:
            probe = await client.get("/api/v1/facilities", params={"page": 1})
            if probe.status_code != 200:
                return {"error": f"GET /api/v1/facilities answered {probe.status_code}"}
            for params in mix[:10]:  # warm-up
                await client.get("/api/v1/facilities", params=params)
            times, failures = [], 0
            for params in mix:
                started = time.perf_counter()
                r = await client.get("/api/v1/facilities", params=params)
                times.append((time.perf_counter() - started) * 1000)
                failures += r.status_code != 200 or "items" not in r.json()
        return {"p50_ms": round(statistics.median(times), 2), "p99_ms": round(_percentile(times, 99), 2),
                "failures": failures}
    finally:
        await engine.dispose()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="telebridge-bench-") as tmp:
        small = f"sqlite+aiosqlite:///{Path(tmp) / 'small.db'}"
        large = f"sqlite+aiosqlite:///{Path(tmp) / 'large.db'}"
        out[f"seed_{args.facilities_small}_s"] = await timed_seed(small, args.facilities_small)
        out[f"seed_{args.facilities_large}_s"] = await timed_seed(large, args.facilities_large)
        sqlite = await search_latency(large, args.queries)
        for key, value in sqlite.items():
            out[f"search_sqlite_{key}"] = value
    try:
        await recreate_pg(args.postgres_url)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means "unavailable"
        log(f"PostgreSQL unavailable: {exc!r}")
        out["postgres"] = "unavailable"
    else:
        out[f"seed_{args.facilities_large}_postgres_s"] = await timed_seed(args.postgres_url, args.facilities_large)
        for key, value in (await search_latency(args.postgres_url, args.queries)).items():
            out[f"search_postgres_{key}"] = value
    out["queries"] = args.queries
    out["facilities"] = args.facilities_large
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--facilities-small", type=int, default=1000)
    parser.add_argument("--facilities-large", type=int, default=14000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()

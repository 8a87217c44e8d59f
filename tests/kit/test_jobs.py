"""Background jobs: released after commit only; in-process and Redis (reliable list queue)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from telebridge.config import Settings
from telebridge.kit import jobs
from telebridge.kit.audit import SystemActor  # noqa: F401  (imports the models' listeners)
from tests.conftest import REDIS_URL, need

RAN: list[tuple[str, Any]] = []
FLAKY: dict[str, int] = {}


@jobs.job("test.record")
async def _record(ctx: jobs.JobContext, payload: dict[str, Any]) -> None:
    RAN.append(("record", payload["n"]))


@jobs.job("test.flaky")
async def _flaky(ctx: jobs.JobContext, payload: dict[str, Any]) -> None:
    FLAKY[payload["key"]] = FLAKY.get(payload["key"], 0) + 1
    if FLAKY[payload["key"]] < payload["succeed_on"]:
        raise RuntimeError("not yet")
    RAN.append(("flaky", payload["key"]))


def _ctx(sessionmaker) -> jobs.JobContext:  # type: ignore[no-untyped-def]
    return jobs.JobContext(sessionmaker=sessionmaker, settings=Settings())


async def test_in_process_jobs_run_after_commit_only(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    q = jobs.InProcessJobs(_ctx(sessionmaker))
    a, b = uuid.uuid4().hex, uuid.uuid4().hex
    async with sessionmaker() as s:
        jobs.enqueue_after_commit(s, q, "test.record", {"n": a})
        await s.rollback()
    async with sessionmaker() as s:
        jobs.enqueue_after_commit(s, q, "test.record", {"n": b})
        await q.drain()
        assert ("record", b) not in RAN  # not before the commit
        await s.commit()
    await asyncio.sleep(0)
    await q.drain()
    assert ("record", b) in RAN and ("record", a) not in RAN


async def test_in_process_jobs_retry_then_give_up(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    q = jobs.InProcessJobs(_ctx(sessionmaker), max_attempts=3)
    ok, bad = uuid.uuid4().hex, uuid.uuid4().hex
    await q.enqueue("test.flaky", {"key": ok, "succeed_on": 2})
    await q.enqueue("test.flaky", {"key": bad, "succeed_on": 9})
    await q.drain()
    assert ("flaky", ok) in RAN and FLAKY[ok] == 2
    assert FLAKY[bad] == 3 and [f["payload"]["key"] for f in q.failed] == [bad]


async def test_unknown_job_is_refused_at_enqueue(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LookupError):
        await jobs.InProcessJobs(_ctx(sessionmaker)).enqueue("test.nope", {})


@pytest.fixture
async def redis_jobs(sessionmaker):  # type: ignore[no-untyped-def]
    need(REDIS_URL is not None, "Redis job tests need TELEBRIDGE_TEST_REDIS_URL")
    q = jobs.RedisJobs(REDIS_URL, _ctx(sessionmaker), prefix=f"test:jobs:{uuid.uuid4().hex}:")  # type: ignore[arg-type]
    yield q
    keys = [k async for k in q._redis.scan_iter(match=q.prefix + "*")]
    if keys:
        await q._redis.delete(*keys)
    await q.close()


@pytest.mark.redis
async def test_redis_jobs_after_commit_and_worker(redis_jobs: jobs.RedisJobs, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    a, b = uuid.uuid4().hex, uuid.uuid4().hex
    async with sessionmaker() as s:
        jobs.enqueue_after_commit(s, redis_jobs, "test.record", {"n": a})
        await s.rollback()
    async with sessionmaker() as s:
        jobs.enqueue_after_commit(s, redis_jobs, "test.record", {"n": b})
        assert await redis_jobs.pending() == 0
        await s.commit()
    for _ in range(100):  # the after-commit task runs on the loop
        if await redis_jobs.pending():
            break
        await asyncio.sleep(0.01)
    assert await redis_jobs.pending() == 1
    assert await redis_jobs.work(max_jobs=1, idle_timeout=0.2) == 1
    assert ("record", b) in RAN and ("record", a) not in RAN
    assert await redis_jobs.pending() == 0


@pytest.mark.redis
async def test_redis_jobs_retry_and_dead_letter(redis_jobs: jobs.RedisJobs) -> None:
    ok, bad = uuid.uuid4().hex, uuid.uuid4().hex
    await redis_jobs.enqueue("test.flaky", {"key": ok, "succeed_on": 2})
    await redis_jobs.enqueue("test.flaky", {"key": bad, "succeed_on": 9})
    await redis_jobs.work(max_jobs=5, idle_timeout=0.2)
    assert ("flaky", ok) in RAN
    dead = await redis_jobs.dead_jobs()
    assert [d["payload"]["key"] for d in dead] == [bad] and dead[0]["error"] == "RuntimeError"
    assert await redis_jobs.pending() == 0


@pytest.mark.redis
async def test_redis_jobs_of_a_dead_worker_are_recovered(redis_jobs: jobs.RedisJobs) -> None:
    n = uuid.uuid4().hex
    # A worker took the job and died: its processing list holds it, its heartbeat is gone.
    message = json.dumps({"id": "x", "name": "test.record", "payload": {"n": n}, "attempt": 0})
    await redis_jobs._redis.lpush(redis_jobs._processing("dead-worker"), message)
    await redis_jobs._redis.sadd(redis_jobs.workers, "dead-worker")
    # A live worker's in-flight job is left alone.
    await redis_jobs._redis.lpush(redis_jobs._processing("busy-worker"), message)
    await redis_jobs._redis.sadd(redis_jobs.workers, "busy-worker")
    await redis_jobs._redis.set(redis_jobs._alive("busy-worker"), "1", ex=60)
    assert await redis_jobs.work(max_jobs=1, idle_timeout=0.2) == 1  # recovers, then runs it
    assert ("record", n) in RAN
    assert await redis_jobs._redis.llen(redis_jobs._processing("busy-worker")) == 1

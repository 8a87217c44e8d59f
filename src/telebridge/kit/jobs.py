"""One background-job API, two backends: in-process (embedded default) and Redis (workers at scale).

A job is a registered async function ``handler(ctx, payload)`` taking a :class:`JobContext`
(sessionmaker, settings, shared resources) and a small JSON payload (ids, never clinical
content). Domains declare handlers with ``@job("files.preview")`` in their ``tasks.py`` and
enqueue with :func:`enqueue_after_commit`, so a job is released only once the transaction
that asked for it is durable (a rollback drops it), as :func:`telebridge.kit.events.publish_after_commit`
does for events.

Backends:

* :class:`InProcessJobs` runs each job as an asyncio task of the app process (bounded
  concurrency); ``drain()`` waits for the queue to empty (tests, shutdown).
* :class:`RedisJobs` is a small *reliable* list queue: ``LPUSH`` to ``<prefix>queue``; a
  worker moves one job atomically to its own processing list with ``BLMOVE``, runs it, then
  ``LREM``s it. A worker that dies mid-job leaves the job in its processing list; the next
  worker start (:meth:`RedisJobs.recover`) puts the jobs of workers whose heartbeat key has
  expired back in the queue. Each app instance runs one worker loop (the lifespan starts it);
  more worker processes can be added at scale. Failures are
  retried up to ``max_attempts`` and then parked in ``<prefix>dead`` with the error type.

Why not arq: arq would bring its own worker settings class, pickled job payloads and
result keys, and a second way of naming functions, for what the platform needs here
(at-least-once delivery of a few idempotent job kinds, payloads as JSON, after-commit
release). The list queue above is ~100 lines on the ``redis`` client the event bus already
uses, with the same crash-recovery guarantee (``BLMOVE`` + processing list) and nothing
to pickle. Handlers must be idempotent (at-least-once).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telebridge.kit.db import after_commit

log = logging.getLogger("telebridge.jobs")

Handler = Callable[["JobContext", dict[str, Any]], Awaitable[None]]
_HANDLERS: dict[str, Handler] = {}


def job(name: str) -> Callable[[Handler], Handler]:
    """Register ``handler`` under ``name`` (``<domain>.<verb>``)."""

    def register(handler: Handler) -> Handler:
        if name in _HANDLERS and _HANDLERS[name] is not handler:
            raise ValueError(f"job {name!r} is registered twice")
        _HANDLERS[name] = handler
        return handler

    return register


def handler_of(name: str) -> Handler:
    try:
        return _HANDLERS[name]
    except KeyError:
        raise LookupError(f"no job handler named {name!r}") from None


@dataclass
class JobContext:
    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Any
    resources: dict[str, Any] = field(default_factory=dict)


class Jobs(Protocol):
    async def enqueue(self, name: str, payload: dict[str, Any]) -> str: ...

    async def close(self) -> None: ...


def _message(name: str, payload: dict[str, Any], attempt: int = 0, job_id: str | None = None) -> dict[str, Any]:
    handler_of(name)  # fail at enqueue time on a typo, not in a worker
    return {"id": job_id or uuid.uuid4().hex, "name": name, "payload": payload, "attempt": attempt}


async def _run(ctx: JobContext, message: dict[str, Any]) -> None:
    await handler_of(message["name"])(ctx, message["payload"])


class InProcessJobs:
    """Jobs as asyncio tasks of this process; at most ``concurrency`` run at once."""

    def __init__(self, ctx: JobContext, *, concurrency: int = 2, max_attempts: int = 3) -> None:
        self.ctx = ctx
        self._sem = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self.max_attempts = max_attempts
        self.failed: list[dict[str, Any]] = []

    async def enqueue(self, name: str, payload: dict[str, Any]) -> str:
        message = _message(name, payload)
        task = asyncio.get_running_loop().create_task(self._execute(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return message["id"]

    async def _execute(self, message: dict[str, Any]) -> None:
        async with self._sem:
            for attempt in range(1, self.max_attempts + 1):
                try:
                    await _run(self.ctx, message)
                    return
                except Exception as exc:  # noqa: BLE001 - a job failure must not kill the app
                    log.warning("job failed", extra={"fields": {"job": message["name"], "attempt": attempt,
                                                                "error": type(exc).__name__}})
            self.failed.append({**message, "attempt": self.max_attempts})

    async def drain(self) -> None:
        """Wait until every job released so far (including after-commit releases in flight) has run."""
        from telebridge.kit import db as kit_db

        while self._tasks or kit_db._background:
            await asyncio.gather(*list(self._tasks), *list(kit_db._background), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()


class RedisJobs:
    """A reliable Redis list queue shared by every app instance and worker process."""

    def __init__(self, url: str, ctx: JobContext | None = None, *, prefix: str = "telebridge:jobs:",
                 max_attempts: int = 3) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self.ctx = ctx
        self.prefix = prefix
        self.max_attempts = max_attempts
        self.queue = prefix + "queue"
        self.dead = prefix + "dead"
        self.workers = prefix + "workers"
        self.heartbeat_seconds = 60  # longer than any job: previews of a few seconds

    async def enqueue(self, name: str, payload: dict[str, Any]) -> str:
        message = _message(name, payload)
        await self._redis.lpush(self.queue, json.dumps(message, separators=(",", ":")))
        return message["id"]

    def _processing(self, worker: str) -> str:
        return f"{self.prefix}processing:{worker}"

    def _alive(self, worker: str) -> str:
        return f"{self.prefix}alive:{worker}"

    async def recover(self) -> int:
        """Put back the jobs of workers that are gone (their heartbeat key has expired)."""
        moved = 0
        for raw in await self._redis.smembers(self.workers):
            worker = raw.decode()
            if await self._redis.exists(self._alive(worker)):
                continue
            while await self._redis.lmove(self._processing(worker), self.queue, "RIGHT", "LEFT") is not None:
                moved += 1
            await self._redis.srem(self.workers, worker)
        return moved

    async def work(self, *, worker: str | None = None, stop: asyncio.Event | None = None,
                   idle_timeout: float = 1.0, max_jobs: int | None = None) -> int:
        """Run jobs until ``stop`` is set (or ``max_jobs`` ran); returns how many ran."""
        assert self.ctx is not None, "a worker needs a JobContext"
        worker = worker or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        processing = self._processing(worker)
        await self._redis.set(self._alive(worker), "1", ex=self.heartbeat_seconds)
        await self._redis.sadd(self.workers, worker)
        await self.recover()
        done = 0
        try:
            while not (stop and stop.is_set()) and (max_jobs is None or done < max_jobs):
                await self._redis.set(self._alive(worker), "1", ex=self.heartbeat_seconds)
                raw = await self._redis.blmove(self.queue, processing, idle_timeout, "RIGHT", "LEFT")
                if raw is None:
                    continue
                message = json.loads(raw)
                try:
                    await _run(self.ctx, message)
                except Exception as exc:  # noqa: BLE001 - the queue decides: retry or park
                    message["attempt"] += 1
                    message["error"] = type(exc).__name__
                    target = self.dead if message["attempt"] >= self.max_attempts else self.queue
                    log.warning("job failed", extra={"fields": {"job": message["name"], "attempt": message["attempt"],
                                                                "error": type(exc).__name__}})
                    async with self._redis.pipeline(transaction=True) as pipe:
                        pipe.lpush(target, json.dumps(message, separators=(",", ":")))
                        pipe.lrem(processing, 1, raw)
                        await pipe.execute()
                else:
                    await self._redis.lrem(processing, 1, raw)
                done += 1
        finally:
            if await self._redis.llen(processing) == 0:
                await self._redis.srem(self.workers, worker)
                await self._redis.delete(self._alive(worker))
        return done

    async def dead_jobs(self) -> list[dict[str, Any]]:
        return [json.loads(r) for r in await self._redis.lrange(self.dead, 0, -1)]

    async def pending(self) -> int:
        return int(await self._redis.llen(self.queue))

    async def close(self) -> None:
        await self._redis.aclose()


def make_jobs(redis_url: str | None, ctx: JobContext) -> InProcessJobs | RedisJobs:
    return RedisJobs(redis_url, ctx) if redis_url else InProcessJobs(ctx)


def enqueue_after_commit(session: AsyncSession, jobs: Jobs, name: str, payload: dict[str, Any]) -> None:
    """Enqueue once ``session`` commits; nothing is enqueued if it rolls back."""
    handler_of(name)

    async def send() -> None:
        await jobs.enqueue(name, payload)

    after_commit(session, send)

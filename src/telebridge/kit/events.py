"""One event-bus API, two backends: in-process (embedded default) and Redis pub/sub (across
app instances). Events are published only after the writing transaction commits:
``publish_after_commit(session, topic, payload)``; a rollback drops them.

Subscribers receive ``Event`` objects from ``async with bus.subscribe(topic) as events:
async for event in events``. A topic is a plain string such as ``facility:<id>`` or
``user:<id>``; payloads are small JSON objects (ids and kinds, never clinical content).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.kit.db import after_commit

log = logging.getLogger("telebridge.events")


@dataclass(frozen=True)
class Event:
    topic: str
    payload: dict[str, Any]


class Bus(Protocol):
    async def publish(self, topic: str, payload: dict[str, Any]) -> None: ...

    def subscribe(self, *topics: str) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Event]]: ...

    async def close(self) -> None: ...


class InProcessBus:
    """Fan-out to the subscribers of this process. Slow subscribers drop oldest events."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._subs: dict[str, set[asyncio.Queue[Event]]] = {}
        self._size = queue_size

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        event = Event(topic, payload)
        for queue in list(self._subs.get(topic, ())):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(self, *topics: str) -> AsyncIterator[AsyncIterator[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._size)
        for t in topics:
            self._subs.setdefault(t, set()).add(queue)
        try:
            yield _drain(queue)
        finally:
            for t in topics:
                self._subs.get(t, set()).discard(queue)
                if not self._subs.get(t):
                    self._subs.pop(t, None)

    async def close(self) -> None:
        self._subs.clear()


async def _drain(queue: asyncio.Queue[Event]) -> AsyncIterator[Event]:
    while True:
        yield await queue.get()


class RedisBus:
    """Redis pub/sub: every app instance subscribed to a topic receives its events."""

    def __init__(self, url: str, prefix: str = "telebridge:") -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self._prefix = prefix

    async def publish(self, topic: str, payload: dict[str, Any]) -> None:
        await self._redis.publish(self._prefix + topic, json.dumps(payload, separators=(",", ":")))

    @contextlib.asynccontextmanager
    async def subscribe(self, *topics: str) -> AsyncIterator[AsyncIterator[Event]]:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(*(self._prefix + t for t in topics))
        confirmed = 0
        while confirmed < len(topics):  # the server has registered us once it confirms
            message = await pubsub.get_message(timeout=5.0)
            if message is None:
                raise TimeoutError("Redis did not confirm the subscription")
            confirmed += message.get("type") == "subscribe"
        try:
            yield self._listen(pubsub)
        finally:
            await pubsub.unsubscribe()
            await pubsub.aclose()

    async def _listen(self, pubsub: Any) -> AsyncIterator[Event]:
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            channel = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
            yield Event(channel[len(self._prefix):], json.loads(message["data"]))

    async def close(self) -> None:
        await self._redis.aclose()


def make_bus(redis_url: str | None) -> Bus:
    return RedisBus(redis_url) if redis_url else InProcessBus()


def publish_after_commit(session: AsyncSession, bus: Bus, topic: str, payload: dict[str, Any]) -> None:
    """Publish once ``session`` commits; nothing is sent if it rolls back."""

    async def send() -> None:  # sent_at: when the commit was done (latency measurements)
        await bus.publish(topic, {**payload, "sent_at": round(time.time(), 4)})

    after_commit(session, send)


def publish(session: AsyncSession, topic: str, payload: dict[str, Any]) -> None:
    """Publish through the bus bound to ``session`` (``bind``) once it commits. A session with
    no bus (a command-line script working without the app) publishes nothing: no process
    of its own is listening."""
    bus = session.info.get("bus")
    if bus is not None:
        publish_after_commit(session, bus, topic, payload)


def bind(session: AsyncSession, state: Any) -> AsyncSession:
    """Give a unit of work the app's bus and notifier (``app.state``)."""
    session.info["bus"] = getattr(state, "bus", None)
    session.info["notifier"] = getattr(state, "notifier", None)
    session.info["settings"] = getattr(state, "settings", None)
    return session


@contextlib.asynccontextmanager
async def listening(bus: Bus, topic: str, handle: Callable[[Event], Awaitable[None]], *, name: str,
                    on_lost: Callable[[], None] | None = None) -> AsyncIterator[None]:
    """Run ``handle`` for every event of ``topic`` in a background task while the block runs (an
    app's lifespan). A lost bus is retried every second (``on_lost`` runs first); it never stops
    the app."""

    async def listen() -> None:
        while True:
            try:
                async with bus.subscribe(topic) as events:
                    async for event in events:
                        await handle(event)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a lost bus must not stop the app
                log.warning("%s: event bus lost, retrying", name, exc_info=True)
                if on_lost is not None:
                    on_lost()
                await asyncio.sleep(1)

    task = asyncio.get_running_loop().create_task(listen())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

"""The event bus: delivery after commit only, in-process and across processes via Redis."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from telebridge.kit.audit import SystemActor  # noqa: F401  (imports the models' listeners)
from telebridge.kit.events import Bus, InProcessBus, RedisBus, publish_after_commit
from tests.conftest import REDIS_URL, need


async def _next(events, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(events.__anext__(), timeout)


async def _after_commit_only(bus: Bus, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    topic = f"test:{uuid.uuid4().hex}"
    async with bus.subscribe(topic) as events:
        async with sessionmaker() as s:
            publish_after_commit(s, bus, topic, {"n": 1})
            await s.rollback()
        async with sessionmaker() as s:
            publish_after_commit(s, bus, topic, {"n": 2})
            await asyncio.sleep(0.05)
            await s.commit()
        event = await _next(events)
        assert event.topic == topic and event.payload["n"] == 2  # the rolled-back one never came
        assert abs(event.payload["sent_at"] - time.time()) < 60  # stamped when released


async def test_in_process_bus_delivers_after_commit(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    await _after_commit_only(InProcessBus(), sessionmaker)


async def test_in_process_bus_isolates_topics() -> None:
    bus = InProcessBus()
    async with bus.subscribe("a") as a, bus.subscribe("b") as b:
        await bus.publish("b", {"x": 1})
        assert (await _next(b)).payload == {"x": 1}
        with pytest.raises(asyncio.TimeoutError):
            await _next(a, 0.05)


@pytest.mark.redis
async def test_redis_bus_crosses_instances(sessionmaker) -> None:  # type: ignore[no-untyped-def]
    need(REDIS_URL is not None, "Redis tests need TELEBRIDGE_TEST_REDIS_URL")
    assert REDIS_URL
    sender, receiver = RedisBus(REDIS_URL), RedisBus(REDIS_URL)
    try:
        topic = f"test:{uuid.uuid4().hex}"
        async with receiver.subscribe(topic) as events:
            await sender.publish(topic, {"hello": "world"})
            event = await _next(events)
            assert event.payload == {"hello": "world"}
        await _after_commit_only(sender, sessionmaker)
    finally:
        await sender.close()
        await receiver.close()

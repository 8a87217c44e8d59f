"""Who holds a resumable upload: one transfer at a time per upload, and the takeover of a stuck one.

A request that streams into an upload (``PATCH``), reads its offset (``HEAD``) or ends it
(``DELETE``) holds the upload for its duration. A newer request asks the holder to stop (its
stop event is set: it stops as if its connection had dropped, commits the offset it reached
and lets go), then waits up to TAKEOVER_SECONDS for it, else 409 busy. Of several requests
waiting, the newest wins: an older one that gets the upload first is asked to stop at once.

Two backends, like the event bus:

- ``LocalTransfers`` (embedded default, no Redis): a lock per upload in this process.
- ``RedisTransfers`` (``TELEBRIDGE_REDIS_URL``): the requests for one upload may reach different
  app processes, so the lock is a lease in Redis, ``telebridge:files:upload:<id>:lease`` =
  ``"<ticket> <node>"``: taken with ``SET NX PX``, renewed every RENEW_SECONDS while the
  transfer runs, released by a compare-and-delete script. Tickets come from one counter
  (``INCR``), so of two requests the newer is known: a waiter asks the holder to stop only if
  the holder is older. The request travels on the event bus topic ``files:transfers:<node>``,
  which each process listens to, and is repeated every SIGNAL_SECONDS while the same holder
  keeps the lease (pub/sub does not queue). A process that crashed while holding a lease stops
  renewing it: the lease lapses after LEASE_SECONDS and the waiter takes it. A holder that could
  not renew its lease for LEASE_SECONDS - RENEW_SECONDS (its process stalled, Redis unreachable)
  counts as stopped, so it writes no byte once another request may hold the upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from telebridge.kit.errors import Conflict
from telebridge.kit.events import Bus, make_bus
from telebridge.kit.i18n import N_

log = logging.getLogger("telebridge.files")

TAKEOVER_SECONDS = 10.0  # how long a newer request waits for the holder to let go
LEASE_SECONDS = 5.0  # a Redis lease's lifetime: how long a crashed holder can block an upload
RENEW_SECONDS = 1.0
SIGNAL_SECONDS = 1.0  # a waiter repeats its request to stop this often
POLL_SECONDS = 0.05  # a waiter tries the lease this often
BUSY = N_("Another transfer of this upload is in progress.")
PREFIX = "telebridge:files:"


class Transfers(Protocol):
    def hold(self, upload_id: uuid.UUID) -> contextlib.AbstractAsyncContextManager[asyncio.Event]: ...

    async def close(self) -> None: ...


# --------------------------------------------------------------------------- in this process

@dataclass
class _Transfer:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    users: int = 0


class LocalTransfers:
    """The uploads held by the requests of this process (the embedded default)."""

    def __init__(self) -> None:
        self._transfers: dict[uuid.UUID, _Transfer] = {}

    @contextlib.asynccontextmanager
    async def hold(self, upload_id: uuid.UUID) -> AsyncIterator[asyncio.Event]:
        t = self._transfers.setdefault(upload_id, _Transfer())
        t.users += 1
        try:
            if t.lock.locked():
                t.stop.set()
            try:
                await asyncio.wait_for(t.lock.acquire(), TAKEOVER_SECONDS)
            except TimeoutError:
                raise Conflict(BUSY, code="busy") from None
            t.stop = asyncio.Event()
            if t.users > 1:  # a newer request is already waiting: the newest one wins
                t.stop.set()
            try:
                yield t.stop
            finally:
                t.lock.release()
        finally:
            t.users -= 1
            if t.users == 0:
                self._transfers.pop(upload_id, None)

    async def close(self) -> None:
        self._transfers.clear()


# --------------------------------------------------------------------------- across processes (Redis)

class _Held(asyncio.Event):
    """The stop event of a lease holder. Set when a newer request asks or the lease is found
    taken; also seen as set once the lease may have lapsed (not renewed in time)."""

    def __init__(self) -> None:
        super().__init__()
        self.valid_until = math.inf  # monotonic time; renewed with the lease

    def is_set(self) -> bool:
        if not super().is_set() and time.monotonic() >= self.valid_until:
            self.set()
        return super().is_set()


def lease_key(upload_id: uuid.UUID) -> str:
    return f"{PREFIX}upload:{upload_id}:lease"


def _parse(holder: str) -> tuple[int, str]:
    """``"<ticket> <node>"`` → (ticket, node); anything else counts as older than any request."""
    ticket, _, node = holder.partition(" ")
    try:
        return int(ticket), node
    except ValueError:
        return -1, node


class RedisTransfers:
    """Leases in Redis, shared by every app process connected to it."""

    def __init__(self, url: str, bus: Bus | None = None) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url, decode_responses=True)
        self._bus = bus if bus is not None else make_bus(url)
        self._own_bus = bus is None
        self.node = secrets.token_hex(8)
        self._held: dict[int, _Held] = {}  # this process's requests, by ticket
        self._listener: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def hold(self, upload_id: uuid.UUID) -> AsyncIterator[asyncio.Event]:
        await self._listening()
        key = lease_key(upload_id)
        ticket = int(await self._redis.incr(PREFIX + "ticket"))
        value = f"{ticket} {self.node}"
        stop = self._held[ticket] = _Held()
        renewal: asyncio.Task[None] | None = None
        try:
            await self._acquire(key, value, ticket, stop)
            renewal = asyncio.create_task(self._renew(key, value, stop))
            yield stop
        finally:
            if renewal is not None:
                renewal.cancel()
            self._held.pop(ticket, None)
            try:  # only our own lease goes (it may have lapsed and been taken)
                await self._redis.eval(_RELEASE, 1, key, value)
            except Exception:  # noqa: BLE001 - the lease lapses by itself within LEASE_SECONDS
                log.warning("upload %s: lease not released, it lapses in %s s", upload_id, LEASE_SECONDS)

    async def _acquire(self, key: str, value: str, ticket: int, stop: _Held) -> None:
        deadline = time.monotonic() + TAKEOVER_SECONDS
        asked, asked_at = "", 0.0
        while True:
            sent = time.monotonic()
            holder = await self._redis.eval(_CLAIM, 1, key, value, int(LEASE_SECONDS * 1000))
            if holder == value:
                stop.valid_until = sent + LEASE_SECONDS - RENEW_SECONDS
                return
            now = time.monotonic()
            if holder:
                held_by, node = _parse(holder)
                if held_by < ticket and (holder != asked or now - asked_at >= SIGNAL_SECONDS):
                    await self._ask_to_stop(node, held_by)
                    asked, asked_at = holder, now
            if now >= deadline:
                raise Conflict(BUSY, code="busy")
            await asyncio.sleep(min(POLL_SECONDS, deadline - now))

    async def _ask_to_stop(self, node: str, ticket: int) -> None:
        if node == self.node:
            held = self._held.get(ticket)
            if held is not None:
                held.set()
            return
        await self._bus.publish(_topic(node), {"ticket": ticket})

    async def _renew(self, key: str, value: str, stop: _Held) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            sent = time.monotonic()
            try:
                kept = await self._redis.eval(_RENEW, 1, key, value, int(LEASE_SECONDS * 1000))
            except Exception:  # noqa: BLE001 - a Redis hiccup: the next beat tries again, the lease may lapse
                log.warning("upload lease %s not renewed", key)
                if stop.is_set():
                    return
                continue
            if not kept:  # lapsed and taken by another request
                stop.set()
                return
            stop.valid_until = sent + LEASE_SECONDS - RENEW_SECONDS

    async def _listening(self) -> None:
        """Listen (once per process) to the requests to stop addressed to this process."""
        if self._listener is not None and not self._listener.done():
            return
        async with self._starting:
            if self._listener is not None and not self._listener.done():
                return
            ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._listener = asyncio.create_task(self._listen(ready))
            await asyncio.wait_for(asyncio.shield(ready), 10)

    async def _listen(self, ready: asyncio.Future[None]) -> None:
        while True:
            try:
                async with self._bus.subscribe(_topic(self.node)) as events:
                    if not ready.done():
                        ready.set_result(None)
                    async for event in events:
                        held = self._held.get(int(event.payload.get("ticket", -1)))
                        if held is not None:
                            held.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a lost bus must not stop the process; waiters ask again
                if not ready.done():
                    ready.set_exception(exc)
                    return
                log.warning("upload transfers: event bus lost, retrying")
                await asyncio.sleep(1)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        await self._redis.aclose()
        if self._own_bus:
            await self._bus.close()


def _topic(node: str) -> str:
    return f"files:transfers:{node}"


# KEYS: lease; ARGV: our value, lifetime (ms). Takes a free lease; returns its holder's value.
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return ARGV[1] end
return redis.call('GET', KEYS[1])
"""
# KEYS: lease; ARGV: our value, lifetime (ms). Extends the lease only while it is still ours.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
# KEYS: lease; ARGV: our value. Compare and delete: never someone else's lease.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def make_transfers(redis_url: str | None, bus: Any = None) -> Transfers:
    return RedisTransfers(redis_url, bus) if redis_url else LocalTransfers()

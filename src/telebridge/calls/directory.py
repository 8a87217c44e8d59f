"""Room state of live sessions: who is in a room, and how the room runs.

Without Redis a room lives in the one process that serves it (``LocalDirectory``). With
``TELEBRIDGE_REDIS_URL`` the participants of one session may be connected to different app
processes, so the state lives in Redis (``RedisDirectory``):

- ``telebridge:calls:<session>:meta``: how the room runs (mesh or SFU, degraded), decided once
  by the first process to open it (``SET NX``) and followed by every other one;
- ``telebridge:calls:<session>:peers``: a hash of the participants' public entries (peer id,
  user, name, title, site, live Janus feed) with the process (node) holding each socket, and
  a join sequence number ``seq`` given atomically with the entry (``:seq`` counter, in a script):
  of two people joining at once, the later one is sure to see the earlier one, so the later one
  makes the offers (mesh) and replaces an older tab of the same person;
- ``telebridge:calls:node:<node>``: a key each process renews while it serves rooms; the entries
  of a process that stopped renewing it (crashed) drop out of the room's list;
- ``telebridge:calls:<session>:recording`` (the recording under way: its row id and directory,
  claimed with ``SET NX`` so of two Starts one wins) and ``:feeds`` (a hash Janus feed id → who
  publishes it, filled by every process for its own participants while the recording runs);
  whoever stops it takes both in one script, so exactly one process closes a recording.

Messages for participants held by another process travel over the event bus topic
``calls:<session>`` (rooms.CallHub.deliver); the directory only holds the membership.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any, Protocol

ROOM_TTL = 24 * 3600  # a forgotten room's keys disappear after a day
NODE_TTL = 30  # a process is alive while it renews its key (every NODE_TTL / 3 seconds)


class Directory(Protocol):
    shared: bool

    async def meta(self, session_id: uuid.UUID) -> dict[str, Any] | None: ...

    async def claim(self, session_id: uuid.UUID, meta: dict[str, Any]) -> dict[str, Any]: ...

    async def release(self, session_id: uuid.UUID) -> None: ...

    async def join(self, session_id: uuid.UUID, entry: dict[str, Any]) -> int: ...

    async def update(self, session_id: uuid.UUID, entry: dict[str, Any]) -> None: ...

    async def remove(self, session_id: uuid.UUID, peer_id: str) -> bool: ...

    async def members(self, session_id: uuid.UUID) -> list[dict[str, Any]]: ...

    async def start_recording(self, session_id: uuid.UUID, rec: dict[str, Any]) -> bool: ...

    async def recording(self, session_id: uuid.UUID) -> dict[str, Any] | None: ...

    async def add_feeds(self, session_id: uuid.UUID, feeds: dict[str, dict[str, str]]) -> None: ...

    async def take_recording(self, session_id: uuid.UUID, recording_id: str | None = None
                             ) -> tuple[dict[str, Any], dict[str, dict[str, str]]] | None: ...

    async def close(self) -> None: ...


class LocalDirectory:
    """The rooms of this process only (the embedded default)."""

    shared = False

    def __init__(self) -> None:
        self._meta: dict[uuid.UUID, dict[str, Any]] = {}
        self._members: dict[uuid.UUID, dict[str, dict[str, Any]]] = {}
        self._seq = 0
        self._recording: dict[uuid.UUID, tuple[dict[str, Any], dict[str, dict[str, str]]]] = {}

    async def meta(self, session_id: uuid.UUID) -> dict[str, Any] | None:
        return self._meta.get(session_id)

    async def claim(self, session_id: uuid.UUID, meta: dict[str, Any]) -> dict[str, Any]:
        return self._meta.setdefault(session_id, meta)

    async def release(self, session_id: uuid.UUID) -> None:
        self._meta.pop(session_id, None)

    async def join(self, session_id: uuid.UUID, entry: dict[str, Any]) -> int:
        self._seq += 1
        self._members.setdefault(session_id, {})[entry["peer_id"]] = {**entry, "seq": self._seq}
        return self._seq

    async def update(self, session_id: uuid.UUID, entry: dict[str, Any]) -> None:
        members = self._members.get(session_id, {})
        if entry["peer_id"] in members:  # never brings back someone who left
            members[entry["peer_id"]] = {**members[entry["peer_id"]], **entry}

    async def remove(self, session_id: uuid.UUID, peer_id: str) -> bool:
        members = self._members.get(session_id, {})
        found = members.pop(peer_id, None) is not None
        if not members:
            self._members.pop(session_id, None)
        return found

    async def members(self, session_id: uuid.UUID) -> list[dict[str, Any]]:
        return [dict(e) for e in self._members.get(session_id, {}).values()]

    async def start_recording(self, session_id: uuid.UUID, rec: dict[str, Any]) -> bool:
        """Claim the room's recording (``rec``: its row ``id`` and ``directory``); False if one runs."""
        if session_id in self._recording:
            return False
        self._recording[session_id] = (dict(rec), {})
        return True

    async def recording(self, session_id: uuid.UUID) -> dict[str, Any] | None:
        state = self._recording.get(session_id)
        return dict(state[0]) if state else None

    async def add_feeds(self, session_id: uuid.UUID, feeds: dict[str, dict[str, str]]) -> None:
        """Who publishes which feed, kept only while a recording runs."""
        state = self._recording.get(session_id)
        if state is not None:
            state[1].update(feeds)

    async def take_recording(self, session_id: uuid.UUID, recording_id: str | None = None
                             ) -> tuple[dict[str, Any], dict[str, dict[str, str]]] | None:
        """End the room's recording (only ``recording_id``'s if given): its state and feeds, or None."""
        state = self._recording.get(session_id)
        if state is None or (recording_id is not None and state[0]["id"] != recording_id):
            return None
        return self._recording.pop(session_id)

    async def close(self) -> None:
        return None


class RedisDirectory:
    """Rooms shared by every app process connected to the same Redis."""

    shared = True

    def __init__(self, url: str, node: str, prefix: str = "telebridge:calls:") -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self.node = node
        self._prefix = prefix
        self._beat: asyncio.Task[None] | None = None

    def _key(self, session_id: uuid.UUID, part: str) -> str:
        return f"{self._prefix}{session_id}:{part}"

    def _node_key(self, node: str) -> str:
        return f"{self._prefix}node:{node}"

    async def _alive(self) -> None:
        if self._beat is None or self._beat.done():
            await self._redis.set(self._node_key(self.node), "1", ex=NODE_TTL)
            self._beat = asyncio.create_task(self._heartbeat())

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(NODE_TTL / 3)
            with contextlib.suppress(Exception):  # a Redis hiccup: the next beat tries again
                await self._redis.set(self._node_key(self.node), "1", ex=NODE_TTL)

    async def meta(self, session_id: uuid.UUID) -> dict[str, Any] | None:
        raw = await self._redis.get(self._key(session_id, "meta"))
        return json.loads(raw) if raw else None

    async def claim(self, session_id: uuid.UUID, meta: dict[str, Any]) -> dict[str, Any]:
        key = self._key(session_id, "meta")
        await self._redis.set(key, json.dumps(meta), nx=True, ex=ROOM_TTL)
        return await self.meta(session_id) or meta

    async def release(self, session_id: uuid.UUID) -> None:
        await self._redis.delete(self._key(session_id, "meta"))

    async def join(self, session_id: uuid.UUID, entry: dict[str, Any]) -> int:
        await self._alive()
        return int(await self._redis.eval(_JOIN, 2, self._key(session_id, "peers"), self._key(session_id, "seq"),
                                          entry["peer_id"], json.dumps({**entry, "_node": self.node}), ROOM_TTL))

    async def update(self, session_id: uuid.UUID, entry: dict[str, Any]) -> None:
        await self._redis.eval(_UPDATE, 1, self._key(session_id, "peers"), entry["peer_id"],
                               json.dumps({**entry, "_node": self.node}))

    async def remove(self, session_id: uuid.UUID, peer_id: str) -> bool:
        return bool(await self._redis.hdel(self._key(session_id, "peers"), peer_id))

    async def members(self, session_id: uuid.UUID) -> list[dict[str, Any]]:
        key = self._key(session_id, "peers")
        entries = [json.loads(v) for v in (await self._redis.hgetall(key)).values()]
        nodes = sorted({e["_node"] for e in entries})
        beats = await self._redis.mget([self._node_key(n) for n in nodes]) if nodes else []
        alive = dict(zip(nodes, beats, strict=True))
        dead = [e["peer_id"] for e in entries if alive.get(e["_node"]) is None]
        if dead:  # their process stopped: they are no longer in the room
            await self._redis.hdel(key, *dead)
        return [{k: v for k, v in e.items() if k != "_node"} for e in entries if alive.get(e["_node"]) is not None]

    async def start_recording(self, session_id: uuid.UUID, rec: dict[str, Any]) -> bool:
        return bool(await self._redis.eval(_START, 2, self._key(session_id, "recording"),
                                           self._key(session_id, "feeds"), json.dumps(rec), ROOM_TTL))

    async def recording(self, session_id: uuid.UUID) -> dict[str, Any] | None:
        raw = await self._redis.get(self._key(session_id, "recording"))
        return json.loads(raw) if raw else None

    async def add_feeds(self, session_id: uuid.UUID, feeds: dict[str, dict[str, str]]) -> None:
        if feeds:
            args = [x for feed, who in feeds.items() for x in (feed, json.dumps(who))]
            await self._redis.eval(_ADD_FEEDS, 2, self._key(session_id, "recording"), self._key(session_id, "feeds"),
                                   ROOM_TTL, *args)

    async def take_recording(self, session_id: uuid.UUID, recording_id: str | None = None
                             ) -> tuple[dict[str, Any], dict[str, dict[str, str]]] | None:
        got = await self._redis.eval(_TAKE, 2, self._key(session_id, "recording"), self._key(session_id, "feeds"),
                                     recording_id or "")
        if not got:
            return None
        raw, *pairs = got
        return json.loads(raw), {_s(pairs[i]): json.loads(pairs[i + 1]) for i in range(0, len(pairs), 2)}

    async def close(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
        with contextlib.suppress(Exception):
            await self._redis.delete(self._node_key(self.node))
        await self._redis.aclose()


# KEYS: peers hash, seq counter; ARGV: peer id, entry JSON, TTL. One step: the numbering is the order of entry.
_JOIN = """
local n = redis.call('INCR', KEYS[2])
local e = cjson.decode(ARGV[2])
e['seq'] = n
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(e))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return n
"""
# KEYS: peers hash; ARGV: peer id, entry JSON. Only a participant still in the room is updated.
_UPDATE = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
local e = cjson.decode(ARGV[2])
e['seq'] = cjson.decode(old)['seq']
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(e))
return 1
"""

# KEYS: recording, feeds hash; ARGV: state JSON, TTL. Of two Starts one wins (feeds of an older one go).
_START = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 0 end
redis.call('DEL', KEYS[2])
return 1
"""
# KEYS: recording, feeds hash; ARGV: TTL, feed, who JSON, ... Only while a recording runs.
_ADD_FEEDS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1
"""
# KEYS: recording, feeds hash; ARGV: recording id or ''. Takes both at once: one closer.
_TAKE = """
local r = redis.call('GET', KEYS[1])
if not r then return nil end
if ARGV[1] ~= '' and cjson.decode(r)['id'] ~= ARGV[1] then return nil end
local out = redis.call('HGETALL', KEYS[2])
table.insert(out, 1, r)
redis.call('DEL', KEYS[1], KEYS[2])
return out
"""


def _s(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


def make_directory(redis_url: str | None, node: str) -> Directory:
    return RedisDirectory(redis_url, node) if redis_url else LocalDirectory()

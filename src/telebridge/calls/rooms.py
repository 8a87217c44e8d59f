"""Live-session rooms as this process holds them: the participants connected here (``Peer``),
each open room (``Room``) and the hub of rooms (``CallHub``).

The state that must be shared by every app process serving a session (membership, how the
room runs) is kept by a directory (``directory.py``): in this process by default, in Redis
when ``TELEBRIDGE_REDIS_URL`` is set. ``CallHub.deliver`` reaches a participant wherever its
socket is held: directly when it is connected here, otherwise over the event bus topic
``calls:<session id>``, which each process with someone in the room listens to.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import WebSocket

from telebridge.calls import directory as directories
from telebridge.calls import janus as jn
from telebridge.calls.models import LiveSession
from telebridge.kit import i18n
from telebridge.kit.events import Bus
from telebridge.kit.i18n import N_
from telebridge.kit.subject import Subject

log = logging.getLogger("telebridge.calls")
MESH_MAX = 3
REPLACED = N_("You joined this session from another window.")
ENDED = N_("The host ended the session.")


@dataclass
class Peer:
    id: str
    ws: WebSocket
    subject: Subject
    facility_id: uuid.UUID
    site: str
    attendance_id: uuid.UUID | None = None
    janus: jn.JanusSession | None = None
    publisher: jn.Handle | None = None
    feed: str | None = None
    subs: dict[str, jn.Handle] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    live: bool = False  # its feed is up in Janus: others may subscribe
    seq: int = 0  # order of joining the room (rooms.Directory.join)
    title: str = ""
    locale: str = i18n.DEFAULT
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {"peer_id": self.id, "user_id": str(self.subject.user_id), "name": self.subject.display_name,
                "title": self.title, "site": self.site, "feed": self.feed if self.live else None, "seq": self.seq}

    def who(self) -> dict[str, str]:
        """Who publishes this participant's feed (a recording names and attributes files by it)."""
        return {"user_id": str(self.subject.user_id), "name": self.subject.display_name, "site": self.site}

    def text(self, message: str) -> str:
        """A message in this participant's language (they may be served by another request's task)."""
        return i18n.translations(self.locale).gettext(message)

    async def send(self, msg: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            await self.ws.send_text(json.dumps(msg))

    async def close(self, kind: str, message: str, code: int) -> None:
        """Tell the participant why, then close its socket with that reason."""
        await self.send({"type": kind, "code": kind, "message": self.text(message)})
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, reason=kind)


@dataclass
class Room:
    """A room as seen by this process: ``peers`` are the participants connected here."""

    session_id: uuid.UUID
    mode: str
    janus_room: str
    janus_secret: str
    peers: dict[str, Peer] = field(default_factory=dict)
    control: jn.JanusSession | None = None
    degraded: bool = False  # an SFU room running as a mesh because Janus is unreachable
    relay: asyncio.Task[None] | None = None  # messages from the other processes (Redis)

    async def broadcast(self, msg: dict[str, Any], *, but: str | None = None) -> None:
        """To the participants connected to this process (``CallHub.deliver`` reaches everyone)."""
        await asyncio.gather(*(p.send(msg) for p in list(self.peers.values()) if p.id != but))


class CallHub:
    """The open rooms of this process, their shared state and the relay to other processes."""

    def __init__(self, janus_url: str | None, api_secret: str | None, admin_key: str | None, *,
                 redis_url: str | None = None, bus: Bus | None = None, secret: str | None = None,
                 room_bitrate: int = 512_000):
        self.rooms: dict[uuid.UUID, Room] = {}
        self.janus = jn.JanusClient(janus_url, api_secret, admin_key) if janus_url else None
        self.lock = asyncio.Lock()
        self.node = secrets.token_hex(8)
        self.directory = directories.make_directory(redis_url, self.node)
        self.bus = bus if self.directory.shared else None
        self._room_key = (secret or secrets.token_urlsafe(32)).encode()
        self.room_bitrate = room_bitrate  # a publisher's cap in Janus rooms, all simulcast layers together

    async def close(self) -> None:
        for room in list(self.rooms.values()):
            if room.relay is not None:
                room.relay.cancel()
        if self.janus:
            await self.janus.close()
        await self.directory.close()

    def janus_secret(self, session_id: uuid.UUID) -> str:
        """The Janus room secret: the same in every app process sharing the secret key."""
        return hmac.new(self._room_key, f"janus-room:{session_id}".encode(), hashlib.sha256).hexdigest()[:32]

    async def _open_janus_room(self, ls: LiveSession) -> jn.JanusSession:
        if self.janus is None:
            raise jn.JanusError("no Janus is configured in this process")
        control = await self.janus.create_session()
        try:
            h = await control.attach()
            await jn.create_room(h, room=ls.id.hex, secret=self.janus_secret(ls.id), publishers=12,
                                 bitrate=self.room_bitrate, description=str(ls.id))
        except BaseException:
            await control.destroy()
            raise
        return control

    async def room_for(self, ls: LiveSession, sites: int, *, recordable: bool = False) -> Room:
        """The room of a session; through Janus when it is large or may be recorded (and Janus is configured)."""
        async with self.lock:
            room = self.rooms.get(ls.id)
            if room is not None:
                return room
            meta, control = await self.directory.meta(ls.id), None
            if meta is None:  # the first process to open the room decides how it runs
                meta = {"mode": "mesh", "degraded": False}
                if (sites > MESH_MAX or recordable) and self.janus is not None:
                    try:
                        control = await self._open_janus_room(ls)
                        meta["mode"] = "sfu"
                    except (TimeoutError, jn.JanusError) as exc:
                        # Janus is down: the session goes on peer to peer, for up to MESH_MAX people.
                        log.warning("janus unavailable, room %s falls back to mesh: %s", ls.id, exc)
                        meta["degraded"] = True
                meta = await self.directory.claim(ls.id, meta)
            room = Room(ls.id, meta["mode"], janus_room=ls.id.hex, janus_secret=self.janus_secret(ls.id),
                        degraded=bool(meta["degraded"]))
            if room.mode == "sfu":
                room.control = control or await self._open_janus_room(ls)
            elif control is not None:
                await control.destroy()
            if self.bus is not None:
                room.relay = await self._start_relay(room)
            self.rooms[ls.id] = room
            return room

    async def drop_if_empty(self, room: Room) -> None:
        async with self.lock:
            if room.peers or self.rooms.get(room.session_id) is not room:
                return
            del self.rooms[room.session_id]
            if room.relay is not None:
                room.relay.cancel()
            last = not await self.directory.members(room.session_id)
            if room.control is not None:
                if last:
                    for h in list(room.control.handles.values()):
                        await jn.destroy_room(h, room=room.janus_room, secret=room.janus_secret)
                await room.control.destroy()
            if last:
                await self.directory.release(room.session_id)

    # ------------------------------------------------------------ delivery across processes

    async def deliver(self, room: Room, msg: dict[str, Any], *, to: str | None = None,
                      but: str | None = None) -> None:
        """Send to one participant (``to``) or to all but one, wherever their socket is held."""
        await self._deliver_here(room, msg, to=to, but=but)
        if self.bus is not None and (to is None or to not in room.peers):
            await self.bus.publish(_topic(room.session_id), {"node": self.node, "to": to, "but": but, "msg": msg})

    async def tell(self, session_id: uuid.UUID, msg: dict[str, Any]) -> None:
        """Send to everyone in a room, also from a process that holds none of its participants."""
        room = self.rooms.get(session_id)
        if room is not None:
            await self.deliver(room, msg)
        elif self.bus is not None:
            await self.bus.publish(_topic(session_id), {"node": self.node, "to": None, "but": None, "msg": msg})

    async def share_feeds(self, session_id: uuid.UUID) -> None:
        """A recording started: every process adds its own publishers to the recording's feeds."""
        room = self.rooms.get(session_id)
        if room is not None:
            await self._add_feeds(room)
        await self._control(session_id, "feeds")

    async def _add_feeds(self, room: Room) -> None:
        await self.directory.add_feeds(room.session_id, {p.feed: p.who() for p in list(room.peers.values()) if p.feed})

    async def _deliver_here(self, room: Room, msg: dict[str, Any], *, to: str | None, but: str | None) -> None:
        if to is not None:
            target = room.peers.get(to)
            if target is not None:
                await target.send(msg)
        else:
            await room.broadcast(msg, but=but)
        if msg.get("type") == "peer-left" and msg.get("feed"):
            await self._forget_feed(room, str(msg["feed"]))

    async def _control(self, session_id: uuid.UUID, action: str, to: str | None = None) -> None:
        if self.bus is not None:
            await self.bus.publish(_topic(session_id), {"node": self.node, "control": action, "to": to})

    async def _start_relay(self, room: Room) -> asyncio.Task[None]:
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._relay(room, ready))
        try:
            await asyncio.wait_for(asyncio.shield(ready), 10)
        except BaseException:
            task.cancel()
            raise
        return task

    async def _relay(self, room: Room, ready: asyncio.Future[None]) -> None:
        assert self.bus is not None
        try:
            async with self.bus.subscribe(_topic(room.session_id)) as events:
                ready.set_result(None)
                async for event in events:
                    p = event.payload
                    if p.get("node") == self.node:
                        continue
                    try:
                        await self._relayed(room, p)
                    except Exception:  # noqa: BLE001 - one bad message must not stop the room's relay
                        log.exception("call relay: message not delivered")
        except Exception as exc:  # noqa: BLE001
            if not ready.done():
                ready.set_exception(exc)
            else:
                log.warning("call relay of room %s stopped: %s", room.session_id, exc)

    async def _relayed(self, room: Room, p: dict[str, Any]) -> None:
        to = p.get("to")
        if p.get("control") == "end":
            await self._end_here(room)
        elif p.get("control") == "feeds":
            await self._add_feeds(room)
        elif p.get("control") == "replace":
            old = room.peers.get(str(to))
            if old is not None:
                await old.close("replaced", REPLACED, 4409)
        elif isinstance(p.get("msg"), dict):
            await self._deliver_here(room, p["msg"], to=str(to) if to else None, but=p.get("but"))

    # ------------------------------------------------------------ membership

    async def gone(self, room: Room, entry: dict[str, Any], *, but: str | None = None) -> None:
        """A participant left the room (or was replaced): everyone is told once."""
        if await self.directory.remove(room.session_id, entry["peer_id"]):
            await self.deliver(room, {"type": "peer-left", "peer_id": entry["peer_id"], "feed": entry.get("feed")},
                               but=but)

    async def replace(self, room: Room, entry: dict[str, Any], *, by: str) -> None:
        """A second tab (or device) of the same person (``by``) replaces the first: it is told and closed."""
        await self.gone(room, entry, but=by)
        old = room.peers.get(entry["peer_id"])
        if old is not None:
            await old.close("replaced", REPLACED, 4409)
        else:
            await self._control(room.session_id, "replace", to=entry["peer_id"])

    async def _forget_feed(self, room: Room, feed: str) -> None:
        for other in list(room.peers.values()):
            h = other.subs.pop(feed, None)
            if h is not None:
                await h.detach()

    async def end(self, session_id: uuid.UUID) -> int:
        room = self.rooms.get(session_id)
        await self._control(session_id, "end")
        return await self._end_here(room) if room is not None else 0

    async def _end_here(self, room: Room) -> int:
        peers = list(room.peers.values())
        await asyncio.gather(*(p.close("ended", ENDED, 4410) for p in peers))
        return len(peers)


def _topic(session_id: uuid.UUID) -> str:
    return f"calls:{session_id}"


async def end_room(app: Any, session_id: uuid.UUID) -> int:
    """Tell everyone in the room (on every app process) that the host ended the session, and close it."""
    return await hub_of(app).end(session_id)


def hub_of(app: Any) -> CallHub:
    hub = getattr(app.state, "calls_hub", None)
    if hub is None:
        s = app.state.settings
        hub = app.state.calls_hub = CallHub(s.janus_url, s.janus_api_secret, s.janus_admin_key,
                                            redis_url=s.redis_url, bus=getattr(app.state, "bus", None),
                                            secret=s.secret_key, room_bitrate=s.janus_room_bitrate)
    return hub

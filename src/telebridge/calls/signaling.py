"""Call signaling over Telebridge's authenticated WebSocket.

Small rooms (at most ``MESH_MAX`` people, at most 3 invited sites) are a peer-to-peer mesh:
the server only relays offers, answers and candidates between peers. Larger rooms go
through the Janus VideoRoom SFU: the server holds one Janus session per participant,
publishes the participant's offer and subscribes them to every other feed, so the browser
never sees Janus, its API secret or the room secret.

Room state lives in this process (one app instance per live session; see the README).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from telebridge.calls import janus as jn
from telebridge.calls import service
from telebridge.calls.models import LiveSession
from telebridge.identity import deps as identity_deps
from telebridge.kit import audit, i18n
from telebridge.kit.deps import bind
from telebridge.kit.errors import DomainError
from telebridge.kit.i18n import N_, gettext
from telebridge.kit.subject import ROLE_LABELS, Subject
from telebridge.kit.web import LOCALE_COOKIE

log = logging.getLogger("telebridge.calls")
MESH_MAX = 3
MAX_MESSAGE = 64 * 1024
# WebSocket close codes of a refused join: 4401 credentials, 4403 not invited, 4409 room state, 4503 media down.
CLOSE_CODES = {"forbidden": 4403, "room_full": 4409, "session_over": 4409, "media_unavailable": 4503}


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
    title: str = ""
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {"peer_id": self.id, "user_id": str(self.subject.user_id), "name": self.subject.display_name,
                "title": self.title, "site": self.site, "feed": self.feed if self.live else None}

    async def send(self, msg: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            await self.ws.send_text(json.dumps(msg))


@dataclass
class Room:
    session_id: uuid.UUID
    mode: str
    janus_room: str
    janus_secret: str
    peers: dict[str, Peer] = field(default_factory=dict)
    control: jn.JanusSession | None = None
    degraded: bool = False  # an SFU room running as a mesh because Janus is unreachable

    async def broadcast(self, msg: dict[str, Any], *, but: str | None = None) -> None:
        await asyncio.gather(*(p.send(msg) for p in list(self.peers.values()) if p.id != but))


class CallHub:
    """Every open room of this process."""

    def __init__(self, janus_url: str | None, api_secret: str | None, admin_key: str | None):
        self.rooms: dict[uuid.UUID, Room] = {}
        self.janus = jn.JanusClient(janus_url, api_secret, admin_key) if janus_url else None
        self.lock = asyncio.Lock()

    async def close(self) -> None:
        if self.janus:
            await self.janus.close()

    async def room_for(self, ls: LiveSession, sites: int) -> Room:
        async with self.lock:
            room = self.rooms.get(ls.id)
            if room is None:
                mode = "sfu" if sites > MESH_MAX and self.janus is not None else "mesh"
                room = Room(ls.id, mode, janus_room=ls.id.hex, janus_secret=secrets.token_urlsafe(18))
                if mode == "sfu":
                    assert self.janus is not None
                    try:
                        room.control = await self.janus.create_session()
                        h = await room.control.attach()
                        await jn.create_room(h, room=room.janus_room, secret=room.janus_secret, publishers=12,
                                             description=str(ls.id))
                    except (TimeoutError, jn.JanusError) as exc:
                        # Janus is down: the session goes on peer to peer, for up to MESH_MAX people.
                        log.warning("janus unavailable, room %s falls back to mesh: %s", ls.id, exc)
                        room.mode, room.degraded, room.control = "mesh", True, None
                self.rooms[ls.id] = room
            return room

    async def drop_if_empty(self, room: Room) -> None:
        async with self.lock:
            if room.peers or self.rooms.get(room.session_id) is not room:
                return
            del self.rooms[room.session_id]
            if room.control is not None:
                for h in list(room.control.handles.values()):
                    await jn.destroy_room(h, room=room.janus_room, secret=room.janus_secret)
                await room.control.destroy()


async def end_room(app: Any, session_id: uuid.UUID) -> int:
    """Tell everyone in the room (of this process) that the host ended the session, and close it."""
    hub = hub_of(app)
    room = hub.rooms.get(session_id)
    if room is None:
        return 0
    peers = list(room.peers.values())
    await room.broadcast({"type": "ended", "message": gettext(N_("The host ended the session."))})
    for p in peers:
        with contextlib.suppress(Exception):
            await p.ws.close(code=4410)
    return len(peers)


def hub_of(app: Any) -> CallHub:
    hub = getattr(app.state, "calls_hub", None)
    if hub is None:
        s = app.state.settings
        hub = app.state.calls_hub = CallHub(s.janus_url, s.janus_api_secret, s.janus_admin_key)
    return hub


async def _authenticate(ws: WebSocket, db: Any) -> Subject | None:
    subject = await identity_deps._from_bearer(ws, db)  # type: ignore[arg-type]
    if subject is not None:
        return subject
    origin = ws.headers.get("origin")
    if origin and origin.split("://", 1)[-1] != ws.headers.get("host"):
        return None  # a cookie-authenticated socket must come from our own pages
    try:
        return await identity_deps._from_session(ws, db)  # type: ignore[arg-type]
    except identity_deps.LoginRequired:
        return None


async def _refuse(ws: WebSocket, code: str, message: str, **params: Any) -> None:
    await ws.accept()
    text = gettext(message)
    await ws.send_text(json.dumps({"type": "error", "code": code, "message": text.format(**params) if params else text}))
    await ws.close(code=CLOSE_CODES.get(code, 4401))


async def serve(ws: WebSocket, session_id: uuid.UUID, token: str) -> None:
    app = ws.app
    settings = app.state.settings
    i18n.set_locale(i18n.normalize(ws.query_params.get("lang")) or i18n.normalize(ws.cookies.get(LOCALE_COOKIE))
                    or i18n.negotiate(ws.headers.get("accept-language")) or settings.default_locale)
    hub = hub_of(app)
    async with app.state.sessionmaker() as db:
        bind(db, app.state)
        subject: Subject | None = None
        try:
            subject = await _authenticate(ws, db)
            if subject is None:
                await db.commit()
                return await _refuse(ws, "unauthenticated", N_("Sign in first: send a bearer token."))
            facility_id = service.verify_token(settings, token, session_id=session_id, user_id=subject.user_id)
            ls, site = await service.participant_view(db, subject, session_id)
            if site != facility_id:
                raise DomainError(N_("This room link is not valid for you."), code="invalid_room_token")
            if ls.status in ("ended", "cancelled"):
                raise DomainError(N_("This live session is over."), code="session_over")
            sites, _ = await service.roster(db, ls)
            site_name = dict(sites).get(facility_id, "")
            room = await hub.room_for(ls, len(sites))
            same = [p for p in room.peers.values() if p.subject.user_id == subject.user_id]
            if room.mode == "mesh" and len(room.peers) - len(same) >= MESH_MAX:
                raise DomainError(N_("This room is full: at most {n} people can join while the video server is "
                                     "unavailable.") if room.degraded else N_("This room is full."),
                                  code="room_full", n=MESH_MAX)
            attendance = await service.record_join(db, subject, ls=ls, facility_id=facility_id)
            await db.commit()
        except jn.JanusError as exc:
            await db.rollback()
            log.warning("janus unavailable: %s", exc)
            return await _refuse(ws, "media_unavailable",
                                 N_("The video server is not reachable; try again in a moment or use audio by phone."))
        except DomainError as exc:
            await db.rollback()
            if getattr(exc, "audit", None) and subject is not None:
                await audit.record_in_own_transaction(app.state.sessionmaker, subject, outcome="denied",
                                                      **exc.audit)  # type: ignore[attr-defined]
            return await _refuse(ws, exc.code, exc.message, **exc.params)
    await ws.accept()
    for old in same:  # a second tab of the same person replaces the first
        await old.send({"type": "replaced", "message": gettext(N_("You joined this session from another window."))})
        with contextlib.suppress(Exception):
            await old.ws.close(code=4409)
    title = ", ".join(gettext(ROLE_LABELS[a.role]) for a in subject.assignments if a.facility_id == facility_id)
    peer = Peer(secrets.token_hex(6), ws, subject, facility_id, site_name, attendance.id, title=title)
    others = [p.public() for p in room.peers.values() if p.subject.user_id != subject.user_id]
    room.peers[peer.id] = peer
    welcome: dict[str, Any] = {"type": "welcome", "peer_id": peer.id, "mode": room.mode, "peers": others,
                               "ice_servers": service.turn_credentials(settings, subject.user_id)}
    if room.degraded:
        welcome["notice"] = gettext(N_("The video server is not reachable: this session continues directly between "
                                       "at most {n} participants.")).format(n=MESH_MAX)
    await peer.send(welcome)
    await room.broadcast({"type": "peer-joined", "peer": peer.public()}, but=peer.id)
    try:
        while True:
            raw = await ws.receive_text()
            if len(raw) > MAX_MESSAGE:
                await peer.send({"type": "error", "code": "too_large", "message": gettext(N_("The submitted data is too large."))})
                continue
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(msg, dict):
                continue
            if msg.get("type") == "leave":
                break
            try:
                await _handle(hub, room, peer, msg)
            except (TimeoutError, jn.JanusError) as exc:
                log.warning("janus request failed: %s", exc)
                await peer.send({"type": "error", "code": "media_error", "ref": msg.get("type"),
                                 "message": gettext(N_("The video server did not answer; retrying may help."))})
    except WebSocketDisconnect:
        pass
    finally:
        await _leave(app, hub, room, peer)


async def _handle(hub: CallHub, room: Room, peer: Peer, msg: dict[str, Any]) -> None:
    kind = msg.get("type")
    if kind == "signal" and room.mode == "mesh":
        target = room.peers.get(str(msg.get("to")))
        if target is not None:
            await target.send({"type": "signal", "from": peer.id, "data": msg.get("data")})
    elif kind == "quality" and isinstance(msg.get("stats"), dict):
        peer.quality = service.clean_quality(msg["stats"])
    elif room.mode != "sfu" or hub.janus is None:
        return
    elif kind == "publish":
        jsep = _jsep(msg, "offer")
        if peer.janus is None:
            peer.janus = await hub.janus.create_session()
        if peer.publisher is None:
            peer.publisher = await peer.janus.attach()
            peer.feed, answer = await jn.join_publisher(peer.publisher, room=room.janus_room,
                                                        display=peer.id, offer=jsep)
            await peer.send({"type": "published", "feed": peer.feed, "jsep": answer})
            peer.tasks.append(asyncio.create_task(_announce_when_up(room, peer, peer.publisher)))
        else:  # renegotiation or ICE restart
            answer = await jn.ice_restart_publisher(peer.publisher, jsep)
            await peer.send({"type": "published", "feed": peer.feed, "jsep": answer})
    elif kind == "subscribe":
        feed = str(msg.get("feed"))
        owner = next((p for p in room.peers.values() if p.feed == feed and p.id != peer.id), None)
        if owner is None:
            await peer.send({"type": "error", "code": "no_feed", "feed": feed,
                             "message": gettext(N_("This participant is no longer in the session."))})
            return
        if peer.janus is None:
            peer.janus = await hub.janus.create_session()
        old = peer.subs.pop(feed, None)
        if old is not None:
            await old.detach()
        handle = await peer.janus.attach()
        peer.subs[feed] = handle
        offer = await jn.join_subscriber(handle, room=room.janus_room, feed=feed)
        await peer.send({"type": "offer", "feed": feed, "peer_id": owner.id, "jsep": offer})
    elif kind == "answer":
        handle = peer.subs.get(str(msg.get("feed")))
        if handle is not None:
            await jn.start_subscriber(handle, room=room.janus_room, answer=_jsep(msg, "answer"))
            await peer.send({"type": "subscribed", "feed": str(msg.get("feed"))})
    elif kind == "trickle":
        feed = msg.get("feed")
        handle = peer.publisher if feed in (None, peer.feed) else peer.subs.get(str(feed))
        if handle is not None:
            cand = msg.get("candidate")
            await handle.trickle(cand if isinstance(cand, dict) else None)


async def _announce_when_up(room: Room, peer: Peer, handle: jn.Handle) -> None:
    """Janus accepts subscriptions once the publisher's PeerConnection is up: announce it then."""
    while True:
        event = await handle.events.get()
        if event.get("janus") == "webrtcup":
            peer.live = True
            await room.broadcast({"type": "feed", "peer": peer.public()}, but=peer.id)
            return


def _jsep(msg: dict[str, Any], kind: str) -> dict[str, Any]:
    jsep = msg.get("jsep")
    if not isinstance(jsep, dict) or jsep.get("type") != kind or not isinstance(jsep.get("sdp"), str):
        raise jn.JanusError(f"bad {kind}")
    return {"type": kind, "sdp": jsep["sdp"]}


async def _leave(app: Any, hub: CallHub, room: Room, peer: Peer) -> None:
    for task in peer.tasks:
        task.cancel()
    if room.peers.get(peer.id) is peer:
        del room.peers[peer.id]
    await room.broadcast({"type": "peer-left", "peer_id": peer.id, "feed": peer.feed})
    for other in list(room.peers.values()):
        h = other.subs.pop(peer.feed, None) if peer.feed else None
        if h is not None:
            await h.detach()
    if peer.janus is not None:
        await peer.janus.destroy()
    if peer.attendance_id is not None:
        async with app.state.sessionmaker() as db:
            bind(db, app.state)
            await service.record_leave(db, peer.subject, attendance_id=peer.attendance_id, quality=peer.quality)
            await db.commit()
    with contextlib.suppress(jn.JanusError, asyncio.TimeoutError):
        await hub.drop_if_empty(room)

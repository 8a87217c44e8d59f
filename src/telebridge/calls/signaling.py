"""Call signaling over Telebridge's authenticated WebSocket.

Small rooms (at most ``MESH_MAX`` people, at most 3 invited sites) are a peer-to-peer mesh:
the server only relays offers, answers and candidates between peers. Larger rooms go
through the Janus VideoRoom SFU: the server holds one Janus session per participant,
publishes the participant's offer and subscribes them to every other feed, so the browser
never sees Janus, its API secret or the room secret. Publishers send VP8 simulcast; each
subscriber picks the layer (substream, temporal layer) that suits its link.

The rooms, their participants and the delivery of messages across app processes are in
``rooms.py`` (re-exported here: ``Room``, ``Peer``, ``CallHub``, ``hub_of``, ``end_room``); the
shared room state in ``directory.py`` (this process, or Redis when ``TELEBRIDGE_REDIS_URL`` is set).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import uuid
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from telebridge.calls import janus as jn
from telebridge.calls import service
from telebridge.calls.rooms import MESH_MAX, CallHub, Peer, Room, end_room, hub_of  # noqa: F401 - re-exported
from telebridge.identity import deps as identity_deps
from telebridge.kit import audit, i18n
from telebridge.kit.deps import bind
from telebridge.kit.errors import DomainError
from telebridge.kit.i18n import N_, gettext
from telebridge.kit.subject import ROLE_LABELS, Subject
from telebridge.kit.web import LOCALE_COOKIE

log = logging.getLogger("telebridge.calls")
MAX_MESSAGE = 64 * 1024
# WebSocket close codes of a refused join: 4401 credentials, 4403 not invited, 4409 room state, 4503 media down.
CLOSE_CODES = {"forbidden": 4403, "room_full": 4409, "session_over": 4409, "media_unavailable": 4503}


async def _authenticate(ws: WebSocket, db: Any) -> Subject | None:
    subject = await identity_deps._from_bearer(ws, db)  # type: ignore[arg-type]
    if subject is not None:
        return subject
    origin = ws.headers.get("origin")
    if origin and origin.split("://", 1)[-1] != ws.headers.get("host"):
        return None  # a cookie-authenticated socket must come from our own pages
    return await identity_deps.session_subject(ws, db)


async def _refuse(ws: WebSocket, code: str, message: str, **params: Any) -> None:
    await ws.accept()
    text = gettext(message)
    await ws.send_text(json.dumps({"type": "error", "code": code, "message": text.format(**params) if params else text}))
    await ws.close(code=CLOSE_CODES.get(code, 4401))


async def serve(ws: WebSocket, session_id: uuid.UUID, token: str) -> None:
    from telebridge.calls import recording

    app = ws.app
    settings = app.state.settings
    i18n.set_locale(i18n.normalize(ws.query_params.get("lang")) or i18n.normalize(ws.cookies.get(LOCALE_COOKIE))
                    or i18n.negotiate(ws.headers.get("accept-language")) or settings.default_locale)
    hub = hub_of(app)
    room: Room | None = None
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
            room = await hub.room_for(ls, len(sites), recordable=await recording.may_be_recorded(db, ls))
            members = await hub.directory.members(ls.id)
            if room.mode == "mesh" and len({m["user_id"] for m in members} - {str(subject.user_id)}) >= MESH_MAX:
                raise DomainError(N_("This room is full: at most {n} people can join while the video server is "
                                     "unavailable.") if room.degraded else N_("This room is full."),
                                  code="room_full", n=MESH_MAX)
            attendance = await service.record_join(db, subject, ls=ls, facility_id=facility_id)
            await db.commit()
        except (jn.JanusError, TimeoutError) as exc:
            await db.rollback()
            log.warning("janus unavailable: %s", exc)
            return await _refuse(ws, "media_unavailable",
                                 N_("The video server is not reachable; try again in a moment or use audio by phone."))
        except DomainError as exc:
            await db.rollback()
            if room is not None:
                await hub.drop_if_empty(room)
            if getattr(exc, "audit", None) and subject is not None:
                await audit.record_in_own_transaction(app.state.sessionmaker, subject, outcome="denied",
                                                      **exc.audit)  # type: ignore[attr-defined]
            return await _refuse(ws, exc.code, exc.message, **exc.params)
    await ws.accept()
    title = ", ".join(gettext(ROLE_LABELS[a.role]) for a in subject.assignments if a.facility_id == facility_id)
    peer = Peer(secrets.token_hex(6), ws, subject, facility_id, site_name, attendance.id, title=title,
                locale=i18n.get_locale())
    room.peers[peer.id] = peer  # hears the room from now on (and the room is never empty while an old tab goes)
    try:
        await _enter(hub, room, peer, settings)
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


async def _enter(hub: CallHub, room: Room, peer: Peer, settings: Any) -> None:
    """Put the participant in the room's list, replace an older tab of the same person, welcome them."""
    user_id = str(peer.subject.user_id)
    peer.seq = await hub.directory.join(room.session_id, peer.public())
    # Whoever joined before us is listed (we make the offers to them in a mesh); whoever joins while
    # we do sees us and offers, and we hear of them by ``peer-joined``.
    earlier = [m for m in await hub.directory.members(room.session_id) if m["seq"] < peer.seq]
    others = [m for m in earlier if m["user_id"] != user_id]
    for old in earlier:  # a second tab of the same person replaces the first, wherever it is connected
        if old["user_id"] == user_id:
            await hub.replace(room, old, by=peer.id)
    welcome: dict[str, Any] = {"type": "welcome", "peer_id": peer.id, "mode": room.mode, "peers": others,
                               "ice_servers": service.turn_credentials(settings, peer.subject.user_id),
                               "recording": await hub.directory.recording(room.session_id) is not None}
    if room.degraded:
        welcome["notice"] = gettext(N_("The video server is not reachable: this session continues directly between "
                                       "at most {n} participants.")).format(n=MESH_MAX)
    await peer.send(welcome)
    await hub.deliver(room, {"type": "peer-joined", "peer": peer.public()}, but=peer.id)


async def _handle(hub: CallHub, room: Room, peer: Peer, msg: dict[str, Any]) -> None:
    from telebridge.calls import recording

    kind = msg.get("type")
    if kind == "signal" and room.mode == "mesh":
        await hub.deliver(room, {"type": "signal", "from": peer.id, "data": msg.get("data")}, to=str(msg.get("to")))
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
            await recording.note_feed(hub, room, peer)
            await peer.send({"type": "published", "feed": peer.feed, "jsep": answer})
            peer.tasks.append(asyncio.create_task(_announce_when_up(hub, room, peer, peer.publisher)))
        else:  # renegotiation or ICE restart
            answer = await jn.ice_restart_publisher(peer.publisher, jsep)
            await peer.send({"type": "published", "feed": peer.feed, "jsep": answer})
    elif kind == "subscribe":
        feed = str(msg.get("feed"))
        members = await hub.directory.members(room.session_id)
        owner = next((m for m in members if m.get("feed") == feed and m["peer_id"] != peer.id), None)
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
        await peer.send({"type": "offer", "feed": feed, "peer_id": owner["peer_id"], "jsep": offer,
                         "simulcast": jn.has_simulcast(handle.streams)})
        peer.tasks.append(asyncio.create_task(_report_layers(peer, feed, handle)))
    elif kind == "answer":
        handle = peer.subs.get(str(msg.get("feed")))
        if handle is not None:
            await jn.start_subscriber(handle, room=room.janus_room, answer=_jsep(msg, "answer"))
            await peer.send({"type": "subscribed", "feed": str(msg.get("feed"))})
    elif kind == "layer":  # the subscriber's choice of simulcast layer for one feed (weak link, or by hand)
        handle = peer.subs.get(str(msg.get("feed")))
        substream, temporal = msg.get("substream"), msg.get("temporal")
        if handle is not None and substream in (0, 1, 2) and temporal in (None, 0, 1, 2):
            # a hint, not a step of the call: it must not hold up this participant's other messages
            peer.tasks = [t for t in peer.tasks if not t.done()]
            peer.tasks.append(asyncio.create_task(_choose_layer(handle, substream, temporal)))
    elif kind == "trickle":
        feed = msg.get("feed")
        handle = peer.publisher if feed in (None, peer.feed) else peer.subs.get(str(feed))
        if handle is not None:
            cand = msg.get("candidate")
            await handle.trickle(cand if isinstance(cand, dict) else None)


async def _announce_when_up(hub: CallHub, room: Room, peer: Peer, handle: jn.Handle) -> None:
    """Janus accepts subscriptions once the publisher's PeerConnection is up: announce it then."""
    while True:
        event = await handle.events.get()
        if event.get("janus") == "webrtcup":
            peer.live = True
            await hub.directory.update(room.session_id, peer.public())
            await hub.deliver(room, {"type": "feed", "peer": peer.public()}, but=peer.id)
            return


async def _choose_layer(handle: jn.Handle, substream: int, temporal: int | None) -> None:
    try:
        await jn.configure_subscriber(handle, substream=substream, temporal=temporal)
    except (TimeoutError, jn.JanusError) as exc:  # the page asks again on its next sample if it still needs to
        log.info("simulcast layer not changed: %s", exc)


async def _report_layers(peer: Peer, feed: str, handle: jn.Handle) -> None:
    """Tell the subscriber which simulcast layer Janus now relays to it (after a ``layer`` request)."""
    while True:
        data = (await handle.events.get()).get("plugindata", {}).get("data", {})
        layer = {k: data[k] for k in ("substream", "temporal") if k in data}
        if layer:
            await peer.send({"type": "layer", "feed": feed, **layer})


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
    with contextlib.suppress(Exception):  # Redis unreachable: the entry expires with this process's key
        await hub.gone(room, {"peer_id": peer.id, "feed": peer.feed})
    if peer.janus is not None:
        await peer.janus.destroy()
    if peer.attendance_id is not None:
        async with app.state.sessionmaker() as db:
            bind(db, app.state)
            await service.record_leave(db, peer.subject, attendance_id=peer.attendance_id, quality=peer.quality)
            await db.commit()
    if not room.peers:  # the last one here left: the recording closes if nobody is left anywhere
        from telebridge.calls import recording

        try:
            await recording.room_emptied(app, room.session_id)
        except Exception:  # noqa: BLE001 - the room still closes; the recording row says what happened
            log.exception("closing the recording of room %s failed", room.session_id)
    with contextlib.suppress(Exception):
        await hub.drop_if_empty(room)

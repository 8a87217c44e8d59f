"""Live delivery: Server-Sent Events for notifications (every open page), a WebSocket per
consultation thread, and the notification list.

Events arrive through the bus (in-process, or Redis across app processes) as ids and kinds;
the connection loads what its subject may read before sending anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from telebridge.consultations import presenters
from telebridge.consultations import service as consultations
from telebridge.consultations.schemas import MessageIn
from telebridge.identity.deps import Db, PageSubject, socket_subject
from telebridge.kit import events, i18n
from telebridge.kit.errors import DomainError
from telebridge.kit.i18n import N_
from telebridge.kit.web import LOCALE_COOKIE, render
from telebridge.messaging import service
from telebridge.messaging.models import Message

router = APIRouter(include_in_schema=False)
KEEPALIVE_SECONDS = 20.0


def message_json(m: Message) -> dict[str, Any]:
    return {"id": str(m.id), "author_user_id": str(m.author_user_id), "author_name": m.author_name, "body": m.body,
            "created_at": m.created_at.isoformat()}


@router.get("/events")
async def stream(request: Request, subject: PageSubject) -> StreamingResponse:
    """The signed-in user's live events: notifications and changes at their facilities."""
    topics = [service.user_topic(subject.user_id)] + [f"facility:{f}" for f in sorted(subject.clinical_facility_ids)]
    bus = request.app.state.bus

    async def body() -> AsyncIterator[bytes]:
        async with bus.subscribe(*topics) as incoming:
            yield b"retry: 3000\n: connected\n\n"
            queue: asyncio.Queue[Any] = asyncio.Queue()

            async def pump() -> None:
                async for event in incoming:
                    await queue.put(event)

            task = asyncio.create_task(pump())
            try:
                while True:
                    try:  # jittered, so thousands of idle connections do not all wake at once
                        event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS * random.uniform(0.75, 1.25))
                    except TimeoutError:  # a gone client fails this write and ends the stream
                        yield b": keepalive\n\n"
                        continue
                    kind = event.payload.get("kind", "event")
                    yield f"event: {kind}\ndata: {json.dumps(event.payload, separators=(',', ':'))}\n\n".encode()
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


@router.get("/notifications")
async def notifications(request: Request, subject: PageSubject, db: Db) -> Response:
    rows = await service.notifications_for(db, subject, limit=50)
    items = [{"n": n, "title": service.render_title(n)} for n in rows]
    return render(request, "messaging/notifications.html", {"items": items})


@router.get("/notifications/badge")
async def badge(request: Request, subject: PageSubject, db: Db) -> Response:
    count = await service.unread_notifications(db, subject)
    return render(request, "messaging/_badge.html", {"count": count})


@router.post("/notifications/read")
async def read_all(request: Request, subject: PageSubject, db: Db) -> Response:
    await service.mark_notifications_read(db, subject)
    return RedirectResponse("/notifications", status_code=303)


@router.get("/notifications/{notification_id}")
async def open_one(notification_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    """Mark read and follow the link (only to a path of this site)."""
    rows = [n for n in await service.notifications_for(db, subject, limit=200) if n.id == notification_id]
    if not rows:
        return RedirectResponse("/notifications", status_code=303)
    await service.mark_notifications_read(db, subject, ids=[notification_id])
    link = rows[0].link if rows[0].link.startswith("/") and not rows[0].link.startswith("//") else "/"
    return RedirectResponse(link, status_code=303)


# --------------------------------------------------------------------------- thread socket

@router.websocket("/consultations/{consultation_id}/ws")
async def thread_socket(websocket: WebSocket, consultation_id: uuid.UUID) -> None:
    state = websocket.app.state
    lang = i18n.normalize(websocket.cookies.get(LOCALE_COOKIE)) or state.settings.default_locale
    i18n.set_locale(lang)
    subject = await socket_subject(websocket)
    if subject is None:
        await websocket.close(code=4401)
        return
    try:
        async with state.sessionmaker() as db:
            events.bind(db, state)
            await consultations.readable(db, subject, consultation_id, action="read_thread")
            await db.commit()
    except DomainError:
        await websocket.close(code=4403)
        return
    await websocket.accept()
    async with state.bus.subscribe(service.thread_topic(consultation_id)) as incoming:
        forward = asyncio.create_task(_forward(websocket, incoming, state, consultation_id))
        try:
            while True:
                data = await websocket.receive_json()
                await _handle(websocket, state, consultation_id, data)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            forward.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await forward


async def _forward(websocket: WebSocket, incoming: AsyncIterator[Any], state: Any, consultation_id: uuid.UUID) -> None:
    async for event in incoming:
        payload = dict(event.payload)
        if payload.get("kind") == "case" and not await _still_readable(websocket, state, consultation_id):
            await websocket.close(code=4403)  # e.g. the hub declined and passed the case on
            return
        if payload.get("kind") == "message":
            async with state.sessionmaker() as db:
                m = await db.get(Message, uuid.UUID(payload["id"]))
                if m is None:
                    continue
                payload = {"kind": "message", "message": message_json(m)}
        await websocket.send_json(payload)


async def _still_readable(websocket: WebSocket, state: Any, consultation_id: uuid.UUID) -> bool:
    subject = await socket_subject(websocket)
    if subject is None:
        return False
    async with state.sessionmaker() as db:
        try:
            await consultations.readable(db, subject, consultation_id, action="read_thread")
        except DomainError:
            return False
        await db.commit()
    return True


async def _handle(websocket: WebSocket, state: Any, consultation_id: uuid.UUID, data: Any) -> None:
    kind = data.get("type") if isinstance(data, dict) else None
    subject = await socket_subject(websocket)
    if subject is None:  # signed out or expired meanwhile
        await websocket.send_json({"kind": "error", "code": "expired",
                                   "message": i18n.gettext(N_("Your session has ended. Sign in again."))})
        await websocket.close(code=4401)
        return
    try:
        async with state.sessionmaker() as db:
            events.bind(db, state)
            if kind == "send":
                body = MessageIn.model_validate({"body": data.get("body") or "", "client_key": data.get("client_key"),
                                                 "mentions": data.get("mentions") or []})
                msg, _ = await presenters.post_message(db, subject, consultation_id, body)
                await db.commit()
                await websocket.send_json({"kind": "ack", "client_key": body.client_key, "id": str(msg.id)})
            elif kind == "read":
                await consultations.readable(db, subject, consultation_id, action="read_thread")
                await service.mark_read(db, subject, consultation_id=consultation_id)
                await db.commit()
    except DomainError as exc:
        await websocket.send_json({"kind": "error", "client_key": data.get("client_key"), "code": exc.code,
                                   "message": exc.translated()})
    except ValueError:
        await websocket.send_json({"kind": "error", "client_key": data.get("client_key"), "code": "malformed",
                                   "message": i18n.gettext(N_("The message could not be read."))})

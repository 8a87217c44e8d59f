"""Notifications and consultation threads. Never commits; events leave after commit.

Topics: ``user:<id>`` (a user's notifications, live in every open page through SSE) and
``consultation:<id>`` (the thread and case changes, live over WebSocket). Payloads carry
ids and kinds only; a receiver loads what it may read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.kit import clock, events
from telebridge.kit.db import after_commit
from telebridge.kit.errors import BadInput, TooLarge
from telebridge.kit.i18n import N_, translations
from telebridge.kit.subject import Subject
from telebridge.messaging import repository as repo
from telebridge.messaging.models import Message, Notification
from telebridge.messaging.notifier import Outgoing

DEFAULT_MAX_CHARS = 4000


def user_topic(user_id: uuid.UUID) -> str:
    return f"user:{user_id}"


def thread_topic(consultation_id: uuid.UUID) -> str:
    return f"consultation:{consultation_id}"


def render_title(n: Notification, lang: str | None = None) -> str:
    """The notification's title in ``lang`` (default: the request's language). Parameters that
    are msgids themselves (an urgency label) are translated too; names pass through unchanged."""
    tr = translations(lang).gettext if lang else _gettext
    try:
        return tr(n.title).format(**{k: tr(v) if isinstance(v, str) and v else v for k, v in n.params.items()})
    except (KeyError, IndexError, ValueError):
        return tr(n.title)


def _gettext(message: str) -> str:
    from telebridge.kit.i18n import gettext

    return gettext(message)


async def notify(db: AsyncSession, *, user_ids: Iterable[uuid.UUID], kind: str, title: str,
                 params: dict[str, str], link: str, urgent: bool = False) -> list[Notification]:
    """Store one notification per user, publish it live after commit and send email/SMS."""
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return []
    at = clock.now()
    rows = [Notification(user_id=u, kind=kind, title=title, params=dict(params), link=link, urgent=urgent, created_at=at)
            for u in ids]
    db.add_all(rows)
    await db.flush()
    for n in rows:
        events.publish(db, user_topic(n.user_id), {"kind": "notification", "id": str(n.id), "type": kind,
                                                   "link": link, "urgent": urgent})
    notifier = db.info.get("notifier")
    if notifier is not None:
        users = await repo.contacts(db, ids)
        outgoing = []
        for n in rows:
            for u in users:
                if u.id != n.user_id:
                    continue
                text = "Telebridge: " + render_title(n, u.locale or "vi")
                if u.email:
                    outgoing.append(Outgoing("email", u.email, text, link, urgent))
                if u.phone and urgent:
                    outgoing.append(Outgoing("sms", u.phone, text, link, urgent))

        async def send() -> None:
            for message in outgoing:
                await notifier.send(message)

        after_commit(db, send)
    return rows


async def notifications_for(db: AsyncSession, subject: Subject, *, limit: int = 30) -> list[Notification]:
    return await repo.notifications(db, subject.user_id, limit)


async def unread_notifications(db: AsyncSession, subject: Subject) -> int:
    return await repo.unread_notifications(db, subject.user_id)


async def mark_notifications_read(db: AsyncSession, subject: Subject, *, ids: list[uuid.UUID] | None = None) -> None:
    await repo.mark_notifications_read(db, subject.user_id, ids, clock.now())


# --------------------------------------------------------------------------- threads

def clean_body(body: str | None, max_chars: int) -> str:
    text = (body or "").replace("\x00", "").strip()
    if not text:
        raise BadInput(N_("A message cannot be empty."), field="body")
    if len(text) > max_chars:
        raise TooLarge(N_("A message may have at most {n} characters."), field="body", n=max_chars)
    return text


async def post_message(db: AsyncSession, subject: Subject, *, consultation_id: uuid.UUID, body: str,
                       client_key: str | None, facility_id: uuid.UUID | None, mentions: list[uuid.UUID],
                       max_chars: int = DEFAULT_MAX_CHARS) -> tuple[Message, bool]:
    """Persist a message (the caller has checked access); returns (message, created).
    A retried send with the same ``client_key`` returns the first message."""
    text = clean_body(body, max_chars)
    key = (client_key or "").strip()[:64] or None
    msg = await repo.insert_message(
        db, consultation_id=consultation_id, author_user_id=subject.user_id, author_name=subject.display_name,
        author_facility_id=facility_id, body=text, mentions=[str(m) for m in mentions], client_key=key,
        created_at=clock.now())
    if msg is None:  # a retried send (or the same key from another tab or process): the first one stands
        existing = await repo.message_by_key(db, subject.user_id, key or "")
        assert existing is not None
        return existing, False
    await repo.move_read_mark(db, consultation_id, subject.user_id, msg.created_at)
    events.publish(db, thread_topic(consultation_id), {"kind": "message", "id": str(msg.id)})
    return msg, True


async def messages(db: AsyncSession, *, consultation_id: uuid.UUID, after: datetime | None = None,
                   limit: int = 200) -> list[Message]:
    return await repo.messages(db, consultation_id, after, limit)


async def mark_read(db: AsyncSession, subject: Subject, *, consultation_id: uuid.UUID, up_to: datetime | None = None) -> None:
    at = up_to or clock.now()
    await repo.move_read_mark(db, consultation_id, subject.user_id, at)
    events.publish(db, thread_topic(consultation_id), {"kind": "read", "user": str(subject.user_id), "at": at.isoformat()})


async def read_receipts(db: AsyncSession, *, consultation_id: uuid.UUID) -> dict[uuid.UUID, datetime]:
    return await repo.read_marks(db, consultation_id)


async def unread_counts(db: AsyncSession, subject: Subject, consultation_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    return await repo.unread_counts(db, subject.user_id, consultation_ids)

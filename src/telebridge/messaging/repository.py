"""Every query of the messaging domain (threads, read marks, notifications)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.identity.models import User
from telebridge.kit.db import upsert
from telebridge.messaging.models import Message, Notification, ThreadRead


async def contacts(db: AsyncSession, ids: list[uuid.UUID]) -> list[Any]:
    """(id, email, phone, locale) of the given accounts."""
    return list((await db.execute(select(User.id, User.email, User.phone, User.locale).where(User.id.in_(ids)))).all())


async def notifications(db: AsyncSession, user_id: uuid.UUID, limit: int) -> list[Notification]:
    q = select(Notification).where(Notification.user_id == user_id).order_by(Notification.created_at.desc()).limit(limit)
    return list((await db.scalars(q)).all())


async def unread_notifications(db: AsyncSession, user_id: uuid.UUID) -> int:
    q = select(func.count()).select_from(Notification).where(Notification.user_id == user_id,
                                                              Notification.read_at.is_(None))
    return int(await db.scalar(q) or 0)


async def mark_notifications_read(db: AsyncSession, user_id: uuid.UUID, ids: list[uuid.UUID] | None, at: datetime) -> None:
    q = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if ids is not None:
        q = q.where(Notification.id.in_(ids))
    await db.execute(q.values(read_at=at))


async def message_by_key(db: AsyncSession, author: uuid.UUID, key: str) -> Message | None:
    return await db.scalar(select(Message).where(Message.author_user_id == author, Message.client_key == key))


# The two statements of every message are built once per dialect with bound parameters: built per
# call they cost a fresh statement, value coercion and cache-key walk on each message.
_MESSAGE_FIELDS = ("consultation_id", "author_user_id", "author_name", "author_facility_id", "body", "mentions",
                   "client_key", "created_at")
_STATEMENTS: dict[tuple[str, str], Any] = {}


def _statement(db: AsyncSession, name: str) -> Any:
    key = (db.get_bind().dialect.name, name)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        if name == "message":
            cols = Message.__table__.c
            stmt = (upsert(db, Message).values({f: bindparam("v_" + f, type_=cols[f].type) for f in _MESSAGE_FIELDS})
                    .on_conflict_do_nothing(index_elements=["author_user_id", "client_key"]).returning(Message))
        else:
            at = bindparam("v_at", type_=ThreadRead.__table__.c.read_at.type)
            stmt = (upsert(db, ThreadRead)
                    .values(consultation_id=bindparam("v_consultation_id", type_=ThreadRead.__table__.c.consultation_id.type),
                            user_id=bindparam("v_user_id", type_=ThreadRead.__table__.c.user_id.type), read_at=at)
                    .on_conflict_do_update(index_elements=["consultation_id", "user_id"], set_={"read_at": at},
                                           where=ThreadRead.read_at < at))
        _STATEMENTS[key] = stmt
    return stmt


async def insert_message(db: AsyncSession, **values: Any) -> Message | None:
    """Store a message in one statement; None when its author already sent this client key."""
    if values.keys() != set(_MESSAGE_FIELDS):  # other columns given: a statement of their own
        stmt = (upsert(db, Message).values(**values)
                .on_conflict_do_nothing(index_elements=["author_user_id", "client_key"]).returning(Message))
        return (await db.scalars(stmt)).first()
    params = {"v_" + f: values[f] for f in _MESSAGE_FIELDS}
    return (await db.scalars(_statement(db, "message"), params)).first()


async def move_read_mark(db: AsyncSession, consultation_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> None:
    """The user has read the thread up to ``at`` (a mark never moves back)."""
    await db.execute(_statement(db, "read_mark"), {"v_consultation_id": consultation_id, "v_user_id": user_id, "v_at": at})


async def messages(db: AsyncSession, consultation_id: uuid.UUID, after: datetime | None, limit: int) -> list[Message]:
    q = select(Message).where(Message.consultation_id == consultation_id)
    if after is not None:
        q = q.where(Message.created_at > after)
    q = q.order_by(Message.created_at.desc(), Message.id).limit(limit)
    return list(reversed((await db.scalars(q)).all()))


async def read_marks(db: AsyncSession, consultation_id: uuid.UUID) -> dict[uuid.UUID, datetime]:
    rows = (await db.execute(select(ThreadRead.user_id, ThreadRead.read_at)
                             .where(ThreadRead.consultation_id == consultation_id))).all()
    return {r.user_id: r.read_at for r in rows}


async def unread_counts(db: AsyncSession, user_id: uuid.UUID, consultation_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Messages by others after the user's read mark, per consultation."""
    if not consultation_ids:
        return {}
    read = ThreadRead.__table__.alias("r")
    q = (select(Message.consultation_id, func.count())
         .select_from(Message)
         .outerjoin(read, and_(read.c.consultation_id == Message.consultation_id, read.c.user_id == user_id))
         .where(Message.consultation_id.in_(consultation_ids), Message.author_user_id != user_id,
                (read.c.read_at.is_(None)) | (Message.created_at > read.c.read_at))
         .group_by(Message.consultation_id))
    return {cid: int(n) for cid, n in (await db.execute(q)).all()}

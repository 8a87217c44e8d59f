"""Database building blocks: declarative base, types, engine, sessions, after-commit hooks.

The request (or job) boundary commits; services only ``flush()``. Work that must happen
only once a transaction is durable (events, jobs) is queued with :func:`after_commit` and
released by the session's ``after_commit`` event; a rollback drops it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator, Uuid

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; store timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), uuid.UUID: Uuid()}


class UUIDPk:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --------------------------------------------------------------------------- engine

def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
    else:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


# --------------------------------------------------------------------------- after-commit

def upsert(db: AsyncSession, entity: Any) -> Any:
    """An INSERT that takes ``ON CONFLICT`` clauses, in the dialect of ``db`` (PostgreSQL and
    SQLite both offer ``on_conflict_do_nothing`` / ``on_conflict_do_update``)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return (pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert)(entity)


Callback = Callable[[], Awaitable[None] | None]


def after_commit(session: AsyncSession | Session, callback: Callback) -> None:
    """Run ``callback`` once the session's transaction has committed (dropped on rollback)."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    if not sync.in_transaction():
        sync.begin()  # so that a rollback before any SQL still drops the callback
    sync.info.setdefault("after_commit", []).append(callback)


@event.listens_for(Session, "after_commit")
def _mark_committed(session: Session) -> None:
    session.info["_committed"] = True  # released below once the *outermost* transaction has ended


@event.listens_for(Session, "after_transaction_end")
def _release_after_commit(session: Session, transaction: Any) -> None:
    committed = session.info.pop("_committed", False)
    if transaction.nested or transaction.parent is not None:
        return  # a savepoint: the real commit (or rollback) is still to come
    if not committed:
        session.info.pop("after_commit", None)
        return
    callbacks: list[Callback] = session.info.pop("after_commit", [])
    for cb in callbacks:
        result = cb()
        if asyncio.iscoroutine(result):
            task = asyncio.get_running_loop().create_task(result)
            _background.add(task)
            task.add_done_callback(_background.discard)


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the outermost transaction, not a savepoint
        session.info.pop("after_commit", None)


_background: set[asyncio.Task[Any]] = set()

"""The append-only, hash-chained audit trail.

Every read and write of patient data calls :func:`record` inside the request's
transaction. Pending records are sealed just before the transaction commits: the single
``audit_head`` row is updated first, which serialises appenders (a row lock on
PostgreSQL, the write lock on SQLite), then each record is hashed with its predecessor's
hash and inserted. A rollback discards the pending records with the work they describe;
denials, which roll back the request, are written in a transaction of their own
(:func:`record_in_own_transaction`). :func:`verify` walks the chain and names the first
altered, inserted or removed row.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Boolean,
    Index,
    Integer,
    String,
    Text,
    bindparam,
    cast,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, Session, mapped_column

from telebridge.kit.db import Base, utcnow

GENESIS = "0" * 64


class AuditEvent(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor_user_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str | None] = mapped_column(String(200))
    actor_role: Mapped[str | None] = mapped_column(String(200))
    actor_facility_id: Mapped[uuid.UUID | None]
    patient_id: Mapped[uuid.UUID | None]
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    client_addr: Mapped[str | None] = mapped_column(String(64))
    break_glass: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_events_patient_at", "patient_id", "at"),
        Index("ix_audit_events_actor_at", "actor_user_id", "at"),
        Index("ix_audit_events_at", "at"),
    )


class AuditHead(Base):
    """One row: the sequence number and hash of the newest audit record."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))


class Actor(Protocol):
    """What the trail needs to know of whoever acts (a signed-in subject, the system)."""

    user_id: uuid.UUID | None
    display_name: str
    role_label: str
    facility_id: uuid.UUID | None
    client_addr: str | None


@dataclass(frozen=True)
class SystemActor:
    display_name: str = "system"
    user_id: uuid.UUID | None = None
    role_label: str = "system"
    facility_id: uuid.UUID | None = None
    client_addr: str | None = None


@dataclass
class _Pending:
    values: dict[str, Any] = field(default_factory=dict)


def _entry(
    actor: Actor,
    *,
    action: str,
    object_type: str,
    object_id: Any = None,
    patient_id: uuid.UUID | None = None,
    outcome: str = "ok",
    break_glass: bool = False,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "at": utcnow(),
        "actor_user_id": actor.user_id,
        "actor_name": actor.display_name,
        "actor_role": actor.role_label,
        "actor_facility_id": actor.facility_id,
        "patient_id": patient_id,
        "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "action": action,
        "outcome": outcome,
        "client_addr": actor.client_addr,
        "break_glass": break_glass,
        "detail": json.dumps(detail, sort_keys=True, ensure_ascii=False) if detail else None,
    }


def record(session: AsyncSession | Session, actor: Actor, **kwargs: Any) -> None:
    """Queue an audit record; it is sealed into the chain when ``session`` commits.

    ``detail`` must never hold clinical content or secrets: ids, field names, counts.
    """
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    if not sync.in_transaction():
        sync.begin()  # so that a rollback before any SQL still discards the record
    sync.info.setdefault("audit_pending", []).append(_entry(actor, **kwargs))


async def record_in_own_transaction(maker: async_sessionmaker[AsyncSession], actor: Actor, **kwargs: Any) -> None:
    """Write a record that must survive the caller's rollback (denied access, failed sign-in)."""
    async with maker() as session:
        record(session, actor, **kwargs)
        await session.commit()


def _digest(seq: int, values: dict[str, Any], prev_hash: str) -> str:
    def s(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, datetime):
            return v.isoformat(timespec="microseconds")
        if isinstance(v, bool):
            return "1" if v else "0"
        return str(v)

    keys = (
        "at", "actor_user_id", "actor_name", "actor_role", "actor_facility_id", "patient_id",
        "object_type", "object_id", "action", "outcome", "client_addr", "break_glass", "detail",
    )
    payload = "\x1f".join([str(seq), prev_hash, *(s(values[k]) for k in keys)])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


_BUMP_HEAD = (update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + bindparam("n", type_=Integer))
              .returning(AuditHead.seq, AuditHead.hash))
_SET_HEAD = update(AuditHead).where(AuditHead.id == 1).values(hash=bindparam("head_hash", type_=String()))
_COLUMNS = tuple(c.name for c in AuditEvent.__table__.columns)
_INSERT = insert(AuditEvent.__table__)  # Core executemany: compiled once, cached


def _pg_seal() -> Any:
    """PostgreSQL: insert the records and move the head in one round trip while the head row is
    locked. The rows travel as one array per column (``unnest``), so the statement is the same
    for any number of records and is compiled and prepared once (a multi-row VALUES statement is
    never cached and was compiled anew on every commit). Strings travel untyped by length so an
    over-long value fails on the column as before instead of being cut by the cast."""
    from sqlalchemy.dialects.postgresql import ARRAY

    def element(c: Any) -> Any:
        return String() if isinstance(c.type, String) else c.type

    arrays = [cast(bindparam("rows_" + c.name, type_=ARRAY(element(c))), ARRAY(element(c)))
              for c in AuditEvent.__table__.columns]
    rows = func.unnest(*arrays).table_valued(*_COLUMNS).render_derived(name="r")
    sealed = insert(AuditEvent.__table__).from_select(list(_COLUMNS), select(*rows.c)).cte("sealed")
    return _SET_HEAD.add_cte(sealed)


_PG_SEAL = _pg_seal()


@event.listens_for(Session, "before_commit")
def _seal(session: Session) -> None:
    pending: list[dict[str, Any]] = session.info.pop("audit_pending", [])
    if not pending:
        return
    new_seq, prev_hash = session.execute(_BUMP_HEAD, {"n": len(pending)}).one()
    seq = new_seq - len(pending)
    rows = []
    for values in pending:
        seq += 1
        digest = _digest(seq, values, prev_hash)
        rows.append({**values, "seq": seq, "prev_hash": prev_hash, "hash": digest})
        prev_hash = digest
    if session.get_bind().dialect.name == "postgresql":  # one round trip while the head row is locked
        params: dict[str, Any] = {"rows_" + name: [r[name] for r in rows] for name in _COLUMNS}
        session.execute(_PG_SEAL, {**params, "head_hash": prev_hash})
    else:
        session.execute(_INSERT, rows)
        session.execute(_SET_HEAD, {"head_hash": prev_hash})


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the outermost transaction, not a savepoint
        session.info.pop("audit_pending", None)


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None


async def _rows(session: AsyncSession, batch: int = 5000) -> AsyncIterator[AuditEvent]:
    last = 0
    while True:
        chunk = (
            await session.scalars(select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch))
        ).all()
        if not chunk:
            return
        for row in chunk:
            yield row
        last = chunk[-1].seq


async def verify(session: AsyncSession) -> VerifyResult:
    head = await session.get(AuditHead, 1)
    if head is None:
        return VerifyResult(False, 0, None, "audit head row is missing")
    expected_seq, prev_hash, checked = 1, GENESIS, 0
    columns = [c.name for c in AuditEvent.__table__.columns]
    async for row in _rows(session):
        values = {c: getattr(row, c) for c in columns}
        if row.seq != expected_seq:
            return VerifyResult(False, checked, expected_seq, f"record {expected_seq} is missing (next is {row.seq})")
        if row.prev_hash != prev_hash:
            return VerifyResult(False, checked, row.seq, f"record {row.seq} does not link to its predecessor")
        if _digest(row.seq, values, prev_hash) != row.hash:
            return VerifyResult(False, checked, row.seq, f"record {row.seq} was altered")
        prev_hash, expected_seq, checked = row.hash, expected_seq + 1, checked + 1
    if head.seq != expected_seq - 1 or head.hash != prev_hash:
        return VerifyResult(False, checked, expected_seq, f"records after {expected_seq - 1} are missing (head is at {head.seq})")
    return VerifyResult(True, checked)

"""Who is behind a bearer token or a session cookie, remembered for a few seconds.

Building a subject takes four queries (token or session, user, role assignments, break-glass
grants); a clinician's page, its htmx fragments and the API calls of a busy case repeat them
many times a second. An entry is used only while everything it was built from still holds:

- it never outlives the token or session (expiry, idle time), nor the earliest break-glass
  grant in it, nor the moment the token or session is due to be marked as used again;
- any committed change to identity rows (users, role assignments, sessions, tokens,
  break-glass grants) drops the entries of the users concerned in this process as the commit
  ends, and in the other app processes through the event bus (topic ``identity``) a moment
  later;
- a subject read from the database while such a change committed is not stored (generation
  check), and entries live at most ``TTL`` seconds in any case: the bound on how long a change
  made outside the app (a SQL console) can take to be seen.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, attributes

from telebridge.identity.models import ApiToken, RoleAssignment, User, UserSession
from telebridge.kit import events
from telebridge.kit.db import after_commit
from telebridge.kit.subject import Subject
from telebridge.patients.models import BreakGlassGrant

TTL = timedelta(seconds=15)
TOPIC = "identity"
_WATCHED = (User, RoleAssignment, UserSession, ApiToken, BreakGlassGrant)
_BOOKKEEPING = frozenset({"last_seen_at", "last_used_at"})  # throttled "still in use" stamps


@dataclass(frozen=True)
class _Entry:
    subject: Subject  # without the client address, which is the request's own
    valid_until: datetime


class SubjectCache:
    def __init__(self, max_entries: int = 20_000) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._max = max_entries
        self.generation = 0

    def get(self, key: str, now: datetime) -> Subject | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.valid_until <= now:
            del self._entries[key]
            return None
        return entry.subject

    def put(self, key: str, subject: Subject, valid_until: datetime, generation: int) -> None:
        if generation != self.generation:
            return  # identity changed while this subject was read: it may already be stale
        self._entries[key] = _Entry(subject, valid_until)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def drop(self, user_ids: list[str] | None) -> None:
        """Forget the entries of these users, or every entry (None)."""
        self.generation += 1
        if user_ids is None:
            self._entries.clear()
            return
        gone = set(user_ids)
        for key in [k for k, e in self._entries.items() if str(e.subject.user_id) in gone]:
            del self._entries[key]


CACHE = SubjectCache()


def valid_until(now: datetime, *deadlines: datetime | None) -> datetime:
    return min([now + TTL, *(d for d in deadlines if d is not None)])


# --------------------------------------------------------------------------- invalidation

def _changed_user(obj: Any) -> uuid.UUID | None:
    """The user whose subject ``obj``'s pending change affects, or None for bookkeeping only."""
    state = attributes.instance_state(obj)
    changed = {a.key for a in state.attrs if a.history.has_changes()}
    if changed and changed <= _BOOKKEEPING:
        return None
    return obj.id if isinstance(obj, User) else obj.user_id


def _mark(session: Session, users: set[str] | None) -> None:
    """Remember, for the commit, whose subjects this transaction changes (None: anyone's)."""
    if "identity_changed" not in session.info:
        session.info["identity_changed"] = set()
        after_commit(session, lambda: _announce(session))
    pending = session.info["identity_changed"]
    session.info["identity_changed"] = None if pending is None or users is None else pending | users
    CACHE.generation += 1  # a subject read while this transaction runs must not be cached


def _announce(session: Session) -> Any:
    users = session.info.pop("identity_changed", set())
    user_list = None if users is None else sorted(users)
    CACHE.drop(user_list)
    bus = session.info.get("bus")
    if bus is not None:
        return bus.publish(TOPIC, {"users": user_list})
    return None


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    users: set[str] = set()
    for obj in session.new:
        if isinstance(obj, (RoleAssignment, BreakGlassGrant)):  # a new token or session changes no subject
            users.add(str(obj.user_id))
    for obj in [*session.dirty, *session.deleted]:
        if isinstance(obj, _WATCHED) and (session.is_modified(obj) or obj in session.deleted):
            user = _changed_user(obj)
            if user is not None:
                users.add(str(user))
    if users:
        _mark(session, users)


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop("identity_changed", None)


@event.listens_for(Session, "do_orm_execute")
def _bulk(state: Any) -> None:
    if (state.is_update or state.is_delete) and any(
        m.class_ in _WATCHED for m in state.all_mappers
    ):
        _mark(state.session, None)


def listening(bus: Any) -> contextlib.AbstractAsyncContextManager[None]:
    """Drop entries when another app process announces an identity change (entries still expire
    if the bus is lost: then all are dropped)."""

    async def handle(event: events.Event) -> None:
        CACHE.drop(event.payload.get("users"))

    return events.listening(bus, TOPIC, handle, name="identity cache", on_lost=lambda: CACHE.drop(None))

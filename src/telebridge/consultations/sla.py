"""Service levels: stored deadlines, swept by a background loop (and by tests with a
controlled clock). An unacknowledged request escalates to the hub's coordinators at its
first breach, and moves on to the next linked hub one acknowledgement period later; an
unanswered one (no signed minutes by its deadline) is marked and the coordinators told.
Follow-up reminders ask the requesting clinician for the 7- and 30-day outcome.

Several app processes may sweep at once: each case is re-read and changed under its
version check, so a step happens once; the loser's transaction rolls back quietly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telebridge.consultations import repository as repo
from telebridge.consultations import service
from telebridge.consultations.models import Consultation
from telebridge.consultations.states import Action, Status
from telebridge.kit import clock, events, logs
from telebridge.kit.errors import Conflict
from telebridge.kit.i18n import N_
from telebridge.kit.subject import Role
from telebridge.messaging import service as messaging

log = logging.getLogger("telebridge.sla")


async def sweep(maker: async_sessionmaker[AsyncSession], *, now: datetime | None = None,
                bind: Callable[[AsyncSession], AsyncSession] | None = None) -> int:
    """One pass over due deadlines; returns how many cases changed. Each case in its own
    transaction, so one failure does not hold back the others."""
    now = now or clock.now()
    async with maker() as db:
        ids = await repo.due_ids(db, now)
    changed = 0
    for cid in ids:
        async with maker() as db:
            if bind:
                bind(db)
            try:
                c = await db.get(Consultation, cid)
                if c is not None and await _step(db, c, now):
                    await db.commit()
                    changed += 1
                else:
                    await db.rollback()
            except Conflict:  # another process took this step first
                await db.rollback()
    return changed


async def _step(db: AsyncSession, c: Consultation, now: datetime) -> bool:
    did = False
    if c.status == Status.SUBMITTED and c.ack_due_at and c.ack_due_at <= now:
        did = await _ack_breach(db, c, now)
    elif (c.status in (Status.SUBMITTED, Status.ACCEPTED, Status.INFO_REQUESTED) and c.answer_due_at
          and c.answer_due_at <= now and c.answer_breached_at is None):
        c.answer_breached_at = now
        await service._flush(db)
        service._event(db, c, None, "answer_breach", None, None)
        await _tell_coordinators(db, c, N_("{reference} passed its answer deadline"))
        service._announce(db, c)
        did = True
    elif c.status in (Status.CONCLUDED, Status.CLOSED):
        did = await _remind(db, c, now)
    return did


async def _ack_breach(db: AsyncSession, c: Consultation, now: datetime) -> bool:
    ack_minutes, _ = service.sla_minutes(db, c.urgency)
    if c.escalation_level == 0:
        c.escalation_level = 1
        c.ack_breached_at = c.ack_breached_at or now
        c.ack_due_at = now + timedelta(minutes=ack_minutes)
        await service._flush(db)
        service._event(db, c, None, "ack_breach", None, None)
        await _tell_coordinators(db, c, N_("{reference} was not acknowledged in time: please act"))
        service._announce(db, c)
        return True
    service.transition(c.status, Action.ESCALATE)
    await service._pass_on(db, None, c, Action.ESCALATE, note=None)
    return True


async def _tell_coordinators(db: AsyncSession, c: Consultation, title: str) -> None:
    users = await repo.hub_users(db, c.hub_facility_id, (Role.HUB_COORDINATOR,))  # type: ignore[arg-type]
    await messaging.notify(db, user_ids=[u.id for u in users], kind="sla_breach", title=title,
                           params={"reference": c.reference}, link=f"/consultations/{c.id}", urgent=True)


async def _remind(db: AsyncSession, c: Consultation, now: datetime) -> bool:
    recorded = {o.checkpoint for o in await repo.outcomes(db, c.id)}
    today = now.date()
    due = 30 if (c.follow_up_30_due and c.follow_up_30_due <= today) else 7
    c.reminders_sent = 2 if due == 30 else 1
    await service._flush(db)
    if due in recorded:
        return True
    await messaging.notify(db, user_ids=[c.requested_by], kind="outcome_reminder",
                           title=N_("Please record the {days}-day outcome of {reference}"),
                           params={"reference": c.reference, "days": str(due)}, link=f"/consultations/{c.id}#outcome")
    service._event(db, c, None, f"reminder_{due}", None, None)
    return True


async def run_forever(state: Any, interval: float) -> None:
    """The sweeper task of one app process."""
    while True:
        try:
            await sweep(state.sessionmaker, bind=lambda db: events.bind(db, state))
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - keep sweeping; the next pass retries
            logs.log(log, logging.ERROR, "sla sweep failed")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def running(state: Any, interval: float):  # type: ignore[no-untyped-def]
    task = asyncio.create_task(run_forever(state, interval))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

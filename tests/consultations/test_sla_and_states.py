"""Service levels with a controlled clock, and the state machine as a table."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from telebridge.consultations import sla
from telebridge.consultations.models import Consultation, ConsultationEvent
from telebridge.consultations.states import TRANSITIONS, Action, Side, Status, allowed_actions, transition
from telebridge.kit import clock, events
from telebridge.kit.db import utcnow
from telebridge.kit.errors import Conflict
from telebridge.messaging.models import Notification
from tests.consultations.conftest import create


@pytest.fixture
def frozen():
    """A clock the test moves by hand."""
    now = {"t": utcnow()}
    clock.set_clock(lambda: now["t"])
    yield now
    clock.set_clock(None)


def test_state_machine_table() -> None:
    legal = {(s, a) for (s, a) in TRANSITIONS}
    for status in Status:
        for action in Action:
            if (status, action) in legal:
                target, side = transition(status.value, action)
                assert isinstance(side, Side) and (target is None or isinstance(target, Status))
            else:
                with pytest.raises(Conflict) as err:
                    transition(status.value, action)
                assert err.value.status == 409 and err.value.code == "illegal_transition"
    assert allowed_actions("closed") == set() and allowed_actions("cancelled") == set()
    assert allowed_actions("draft") == {Action.SUBMIT, Action.CANCEL}
    # closing needs signed minutes: only a concluded case closes
    assert [s for (s, a) in TRANSITIONS if a == Action.CLOSE] == [Status.CONCLUDED]


async def _notes(sessionmaker, user_id) -> list[Notification]:
    async with sessionmaker() as db:
        return list((await db.scalars(select(Notification).where(Notification.user_id == user_id))).all())


async def test_ack_breach_escalates_then_moves_on(cw, as_user, sessionmaker, app, frozen) -> None:
    spoke = await as_user(cw.w.spoke_clinician)
    c = await create(spoke, cw)  # emergency: 10 minutes to acknowledge
    bind = lambda db: events.bind(db, app.state)
    frozen["t"] += timedelta(minutes=9)
    assert await sla.sweep(sessionmaker, bind=bind) == 0
    frozen["t"] += timedelta(minutes=2)
    assert await sla.sweep(sessionmaker, bind=bind) >= 1
    async with sessionmaker() as db:
        row = await db.get(Consultation, uuid.UUID(c["id"]))
        assert row.escalation_level == 1 and row.ack_breached_at is not None and row.hub_facility_id == cw.w.hub_a.id
    assert any(n.kind == "sla_breach" for n in await _notes(sessionmaker, cw.w.hub_coordinator.id))
    queue = (await (await as_user(cw.w.hub_coordinator)).get("/api/v1/consultations", params={"view": "open"})).json()
    assert queue[0]["reference"] == c["reference"] and queue[0]["breached"]
    assert await sla.sweep(sessionmaker, bind=bind) == 0  # nothing more until the next period ends
    frozen["t"] += timedelta(minutes=11)
    assert await sla.sweep(sessionmaker, bind=bind) >= 1
    async with sessionmaker() as db:
        row = await db.get(Consultation, uuid.UUID(c["id"]))
        kinds = [e.kind for e in (await db.scalars(select(ConsultationEvent).where(
            ConsultationEvent.consultation_id == row.id).order_by(ConsultationEvent.at))).all()]
    assert row.hub_facility_id == cw.hub_c.id and row.status == "submitted" and row.escalation_level == 0
    assert kinds[-2:] == ["ack_breach", "escalate"]
    assert any(n.kind.startswith("request_") for n in await _notes(sessionmaker, cw.hub_c_specialist.id))


async def test_deadlines_survive_restart_and_answer_breach(cw, as_user, sessionmaker, app, frozen) -> None:
    """Deadlines are stored: a fresh sweep (another process, after a restart) acts on them."""
    spoke = await as_user(cw.w.spoke_clinician)
    c = await create(spoke, cw, urgency="urgent")
    await (await as_user(cw.w.hub_specialist)).post(f"/api/v1/consultations/{c['id']}/accept")
    frozen["t"] += timedelta(hours=4, minutes=1)
    assert await sla.sweep(sessionmaker, bind=lambda db: events.bind(db, app.state)) >= 1
    async with sessionmaker() as db:
        row = await db.get(Consultation, uuid.UUID(c["id"]))
    assert row.answer_breached_at is not None and row.status == "accepted"


async def test_request_info_round_trip_and_reassign(cw, as_user) -> None:
    spoke, hub = await as_user(cw.w.spoke_clinician), await as_user(cw.w.hub_specialist)
    c = await create(spoke, cw)
    r = await hub.post(f"/api/v1/consultations/{c['id']}/request-info", json={"reason": "Cần X-quang ngực"})
    assert r.json()["status"] == "info_requested"
    r = await spoke.post(f"/api/v1/consultations/{c['id']}/provide-info", json={"reason": "Đã chụp, bóng tim to"})
    assert r.json()["status"] == "submitted"  # nobody had accepted yet
    await hub.post(f"/api/v1/consultations/{c['id']}/accept")
    coord = await as_user(cw.w.hub_coordinator)
    r = await coord.post(f"/api/v1/consultations/{c['id']}/reassign", json={"user_id": str(cw.hub_specialist_2.id)})
    assert r.status_code == 200 and r.json()["assigned_user_id"] == str(cw.hub_specialist_2.id)
    r = await coord.post(f"/api/v1/consultations/{c['id']}/reassign", json={"user_id": str(cw.w.spoke_clinician.id)})
    assert r.status_code == 400
    r = await spoke.post(f"/api/v1/consultations/{c['id']}/reassign", json={"user_id": str(cw.hub_specialist_2.id)})
    assert r.status_code == 403

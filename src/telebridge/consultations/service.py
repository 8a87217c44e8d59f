"""The teleconsultation lifecycle: ask, route, accept / decline / ask for more, conclude,
close and report the outcome. Functions flush, never commit; every state change goes
through ``_move`` (states.py decides what is legal), is on the case timeline, audited, and
announced after commit.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from telebridge.consultations import policy
from telebridge.consultations import repository as repo
from telebridge.consultations.models import Consultation, ConsultationEvent, ConsultationOutcome
from telebridge.consultations.schemas import ConsentGiven, OutcomeIn, RequestFields
from telebridge.consultations.states import AT_HUB, Action, Side, Status, transition
from telebridge.kit import audit, clock, events
from telebridge.kit.access import authorize
from telebridge.kit.errors import BadInput, Conflict, Msg, NotFound
from telebridge.kit.i18n import N_
from telebridge.kit.subject import Role, Subject
from telebridge.messaging import service as messaging
from telebridge.network import service as network
from telebridge.network.models import Facility
from telebridge.patients import service as patients
from telebridge.patients.models import CareRelationship
from telebridge.patients.schemas import ConsentIn

SUMMARY_FIELDS = ("history", "examination", "investigations", "current_treatment")
REQUIRED = {"specialty_code": N_("specialty"), "urgency": N_("urgency"), "mode": N_("consultation mode"),
            "question": N_("the question"), "history": N_("history"), "examination": N_("examination")}
URGENCY_LABELS = {"emergency": N_("Emergency"), "urgent": N_("Urgent"), "routine": N_("Routine")}


def _settings(db: AsyncSession) -> Any:
    from telebridge.config import get_settings

    return db.info.get("settings") or get_settings()


def sla_minutes(db: AsyncSession, urgency: str) -> tuple[int, int]:
    return tuple(_settings(db).sla_minutes.get(urgency, (480, 2880)))  # type: ignore[return-value]


# --------------------------------------------------------------------------- reading

async def readable(db: AsyncSession, subject: Subject, consultation_id: uuid.UUID, *, action: str = "read") -> Consultation:
    c = await repo.get(db, consultation_id)
    if c is None:
        raise NotFound(N_("No such consultation."))
    authorize(policy.can_read(subject, c), action=action, object_type="consultation", object_id=c.id,
              patient_id=c.patient_id)
    if action == "read":
        audit.record(db, subject, action="read", object_type="consultation", object_id=c.id, patient_id=c.patient_id)
    return c


def _apply_fields(c: Consultation, data: RequestFields) -> None:
    given = data.model_dump(exclude_unset=True)
    summary = dict(c.summary or {})
    for key in SUMMARY_FIELDS:
        if key in given:
            summary[key] = given[key]
    if "vitals" in given:
        summary["vitals"] = {k: v for k, v in (given["vitals"] or {}).items() if v is not None}
    c.summary = summary
    for key in ("specialty_code", "urgency", "mode", "hub_facility_id", "question"):
        if key in given:
            setattr(c, key, given[key])


def _new_reference(at: datetime) -> str:
    return f"HC-{at:%y%m%d}-{secrets.token_hex(3).upper()}"


# --------------------------------------------------------------------------- asking

async def create(db: AsyncSession, subject: Subject, *, patient_id: uuid.UUID, facility_id: uuid.UUID | None,
                 data: RequestFields, idempotency_key: str | None) -> tuple[Consultation, bool]:
    """A new draft for a patient the subject may read. A repeated ``idempotency_key`` returns
    the first request (created=False) instead of a second one."""
    key = (idempotency_key or "").strip()[:64] or None
    if key:
        found = await repo.by_idempotency_key(db, subject.user_id, key)
        if found is not None:
            return found, False
    mine = sorted(policy.spoke_ids(subject))
    facility_id = facility_id or (mine[0] if len(mine) == 1 else None)
    if facility_id is None:
        raise BadInput(N_("Choose the facility you are asking from."), field="facility_id")
    authorize(policy.can_request_at(subject, facility_id), action="create", object_type="consultation",
              patient_id=patient_id)
    await patients.readable(db, subject, patient_id)
    now = clock.now()
    c = Consultation(reference=_new_reference(now), patient_id=patient_id, requesting_facility_id=facility_id,
                     requested_by=subject.user_id, requesting_practitioner_id=subject.practitioner_id,
                     status=Status.DRAFT, idempotency_key=key, summary={}, declined_hub_ids=[], created_at=now)
    _apply_fields(c, data)
    db.add(c)
    try:
        async with db.begin_nested():
            await db.flush()
    except Exception:  # the same key raced in from another tab
        if key and (found := await repo.by_idempotency_key(db, subject.user_id, key)) is not None:
            return found, False
        raise
    _event(db, c, subject, "created", None, Status.DRAFT)
    audit.record(db, subject, action="create", object_type="consultation", object_id=c.id, patient_id=patient_id)
    return c, True


async def save_draft(db: AsyncSession, subject: Subject, *, consultation_id: uuid.UUID, data: RequestFields) -> Consultation:
    c = await readable(db, subject, consultation_id, action="update")
    if c.status != Status.DRAFT:
        raise Conflict(N_("This request has already been sent; it can no longer be edited."), code="not_draft")
    authorize(policy.can_act(subject, c, Side.SPOKE), action="update", object_type="consultation", object_id=c.id,
              patient_id=c.patient_id)
    _apply_fields(c, data)
    c.updated_at = clock.now()
    await _flush(db)
    audit.record(db, subject, action="update", object_type="consultation", object_id=c.id, patient_id=c.patient_id,
                 detail={"draft": True})
    return c


async def candidate_hubs(db: AsyncSession, c: Consultation) -> list[Facility]:
    """Linked hubs that declared the specialty and the mode, least open load first (then link
    priority); hubs that declined this request are left out."""
    if not c.specialty_code:
        return []
    on = clock.now().date()
    hubs = await network.hubs_for(db, spoke_id=c.requesting_facility_id, specialty_code=c.specialty_code, on=on)
    declined = set(c.declined_hub_ids or [])
    hubs = [h for h in hubs if str(h.id) not in declined]
    if c.mode:
        modes = await network.declared_modes(db, facility_ids=[h.id for h in hubs], on=on)
        hubs = [h for h in hubs if c.mode in modes.get(h.id, set())]
    load = await repo.open_load(db, [h.id for h in hubs])
    rank = {h.id: i for i, h in enumerate(hubs)}
    return sorted(hubs, key=lambda h: (load.get(h.id, 0), rank[h.id]))


async def submit(db: AsyncSession, subject: Subject, *, consultation_id: uuid.UUID, data: RequestFields,
                 consent: ConsentGiven | None) -> Consultation:
    c = await readable(db, subject, consultation_id, action="submit")
    if c.status == Status.DRAFT:
        _apply_fields(c, data)
    elif c.status == Status.UNROUTED:  # asked again later: every linked hub may be asked anew
        c.declined_hub_ids = []
        c.hub_facility_id = None
        c.submitted_at = None  # a new request as far as the service levels go
    _check_side(subject, c, Action.SUBMIT)
    missing = [key for key in REQUIRED if not (getattr(c, key, None) or (c.summary or {}).get(key))]
    if missing:
        raise BadInput(N_("Please complete: {fields}."), code="incomplete", field=missing[0],
                       fields=[Msg(REQUIRED[k]) for k in missing])
    if not await patients.has_consent(db, patient_id=c.patient_id, purpose="teleconsultation"):
        if consent is None:
            raise BadInput(N_("The patient's consent to teleconsultation is not on record: record who gave it and how."),
                           code="no_consent", field="consent")
        record = await patients.record_consent(db, subject, patient_id=c.patient_id, data=ConsentIn(
            purpose="teleconsultation", granted=True, text_version=consent.text_version, method=consent.method,
            given_by=consent.given_by))
        c.consent_id = record.id
    hubs = await candidate_hubs(db, c)
    if c.hub_facility_id is not None and c.hub_facility_id not in {h.id for h in hubs}:
        raise BadInput(N_("This hub is not linked to your facility for this specialty and consultation mode."),
                       code="hub_not_linked", field="hub_facility_id")
    if not hubs:
        raise BadInput(N_("No hub is linked to your facility for this specialty and consultation mode."),
                       code="no_hub", field="specialty_code")
    hub = c.hub_facility_id or hubs[0].id
    now = clock.now()
    c.submitted_at = c.submitted_at or now
    await _route(db, subject, c, hub, action=Action.SUBMIT, note=None, now=now)
    return c


async def _route(db: AsyncSession, actor: Subject | None, c: Consultation, hub_id: uuid.UUID, *, action: Action,
                 note: str | None, now: datetime) -> None:
    """Send the request to ``hub_id``: deadlines, care relationship, timeline, notifications."""
    previous = c.hub_facility_id if c.status in AT_HUB else None
    if previous is not None and previous != hub_id:
        await _end_care(db, c, previous, now)
    from_status = c.status
    c.status = Status.SUBMITTED
    c.hub_facility_id = hub_id
    c.routed_at = now
    c.acknowledged_at = None
    c.assigned_user_id = None
    c.assigned_practitioner_id = None
    c.escalation_level = 0
    ack, answer = sla_minutes(db, c.urgency)
    c.ack_due_at = now + timedelta(minutes=ack)
    c.answer_due_at = (c.submitted_at or now) + timedelta(minutes=answer)
    c.updated_at = now
    db.add(CareRelationship(patient_id=c.patient_id, facility_id=hub_id, basis="consultation_request",
                            basis_ref=str(c.id), created_at=now))
    await _flush(db)
    _event(db, c, actor, action.value, from_status, Status.SUBMITTED, note=note, hub=hub_id)
    if actor is not None:
        audit.record(db, actor, action=action.value, object_type="consultation", object_id=c.id, patient_id=c.patient_id,
                     detail={"hub": str(hub_id), "urgency": c.urgency})
    await _alert_hub(db, c, hub_id)
    _announce(db, c)


async def _alert_hub(db: AsyncSession, c: Consultation, hub_id: uuid.UUID) -> None:
    on_call = await network.on_call_now(db, hub_id=hub_id, specialty_code=c.specialty_code or "", at=clock.now())
    users = await repo.users_of_practitioners(db, [p.id for p in on_call])
    # nobody rostered: every specialist of the hub hears it; the coordinators always do (one query)
    by_role = await repo.hub_users_by_role(db, hub_id, (Role.HUB_COORDINATOR,) if users else
                                           (Role.HUB_SPECIALIST, Role.HUB_COORDINATOR))
    users = (users or by_role.get(Role.HUB_SPECIALIST, [])) + by_role.get(Role.HUB_COORDINATOR, [])
    names = await repo.facility_names(db, {c.requesting_facility_id})
    await messaging.notify(db, user_ids=[u.id for u in users], kind=f"request_{c.urgency}",
                           title=N_("New {urgency} request {reference} from {facility}"),
                           params={"urgency": URGENCY_LABELS[c.urgency], "reference": c.reference,
                                   "facility": names.get(c.requesting_facility_id, "")},
                           link=f"/consultations/{c.id}", urgent=c.urgency != "routine")


async def _end_care(db: AsyncSession, c: Consultation, facility_id: uuid.UUID, now: datetime) -> None:
    from sqlalchemy import update

    await db.execute(update(CareRelationship).where(
        CareRelationship.patient_id == c.patient_id, CareRelationship.facility_id == facility_id,
        CareRelationship.basis == "consultation_request", CareRelationship.basis_ref == str(c.id),
        CareRelationship.ended_at.is_(None)).values(ended_at=now))


# --------------------------------------------------------------------------- hub answers

async def accept(db: AsyncSession, subject: Subject, *, consultation_id: uuid.UUID) -> Consultation:
    c = await readable(db, subject, consultation_id, action="accept")
    transition(c.status, Action.ACCEPT)
    authorize(policy.can_accept(subject, c), action="accept", object_type="consultation", object_id=c.id,
              patient_id=c.patient_id)
    await _may_act_clinically(db, subject, c.hub_facility_id)
    now = clock.now()
    c.assigned_user_id = subject.user_id
    c.assigned_practitioner_id = subject.practitioner_id
    c.acknowledged_at = c.acknowledged_at or now
    await _move(db, subject, c, Action.ACCEPT, Status.ACCEPTED,
                conflict=N_("Another specialist accepted this request first."))
    await _tell_spoke(db, c, N_("{reference} was accepted by {name}"), {"name": subject.display_name})
    return c


async def decline(db: AsyncSession, subject: Subject, *, consultation_id: uuid.UUID, reason: str) -> Consultation:
    c = await readable(db, subject, consultation_id, action="decline")
    transition(c.status, Action.DECLINE)
    _check_side(subject, c, Action.DECLINE)
    await _pass_on(db, subject, c, Action.DECLINE, note=reason)
    return c


async def _pass_on(db: AsyncSession, actor: Subject | None, c: Consultation, action: Action, *, note: str | None) -> None:
    """Move the request to the next linked hub, or mark it unrouted when none is left."""
    now = clock.now()
    if c.hub_facility_id is not None:
        c.declined_hub_ids = [*(c.declined_hub_ids or []), str(c.hub_facility_id)]
    hubs = await candidate_hubs(db, c)
    if hubs:
        await _route(db, actor, c, hubs[0].id, action=action, note=note, now=now)
        await _tell_spoke(db, c, N_("{reference} was passed on to another hub"), {})
        return
    previous = c.hub_facility_id
    if previous is not None:
        await _end_care(db, c, previous, now)
    c.ack_due_at = None
    await _move(db, actor, c, action, Status.UNROUTED, note=note)
    await _tell_spoke(db, c, N_("No hub is left to answer {reference}"), {}, urgent=True)


async def request_info(db: AsyncSession, subject: Subject, *, consultation_id: uuid.UUID, question: str) -> Consultation:
    c = await readable(db, subject, consultation_id, action="request_info")
    transition(c.status, Action.REQUEST_INFO)
    _check_side(subject, c, Action.REQUEST_INFO)
    c.info_request = question
    c.acknowledged_at = c.acknowledged_at or clock.now()
    await _move(db, subject, c, Action.REQUEST_INFO, Status.INFO_REQUESTED, note=question)
    await _tell_spoke(db, c, N_("The hub asks for more information on {reference}"), {}, urgent=c.urgency == "emergency")
    return c


async def provide_info(db: AsyncSession, subject: Subject, *, consultation_id: uuid.UUID, answer: str,
                       data: RequestFields | None = None) -> Consultation:
    c = await readable(db, subject, consultation_id, action="provide_info")
    transition(c.status, Action.PROVIDE_INFO)
    _check_side(subject, c, Action.PROVIDE_INFO)
    if data is not None:
        _apply_fields(c, data.model_copy(update={"hub_facility_id": c.hub_facility_id}))
    c.info_request = None
    target = Status.ACCEPTED if c.assigned_user_id else Status.SUBMITTED
    await _move(db, subject, c, Action.PROVIDE_INFO, target, note=answer)
    await _tell_hub(db, c, N_("{reference}: the requesting site answered"), {})
    return c


async def reassign(db: AsyncSession, subject: Subject, *, consultation_id: uuid.UUID, user_id: uuid.UUID) -> Consultation:
    c = await readable(db, subject, consultation_id, action="reassign")
    target, _ = transition(c.status, Action.REASSIGN)
    authorize(policy.can_reassign(subject, c), action="reassign", object_type="consultation", object_id=c.id,
              patient_id=c.patient_id)
    specialists = {u.id: u for u in await repo.hub_users(db, c.hub_facility_id, (Role.HUB_SPECIALIST,))}  # type: ignore[arg-type]
    to = specialists.get(user_id)
    if to is None or to.practitioner_id is None:
        raise BadInput(N_("Choose a specialist of this hub."), field="user_id")
    c.assigned_user_id = to.id
    c.assigned_practitioner_id = to.practitioner_id
    c.acknowledged_at = c.acknowledged_at or clock.now()
    await _move(db, subject, c, Action.REASSIGN, target or Status(c.status), note=to.display_name)
    await messaging.notify(db, user_ids=[to.id], kind="assigned", title=N_("{reference} was assigned to you"),
                           params={"reference": c.reference}, link=f"/consultations/{c.id}",
                           urgent=c.urgency != "routine")
    return c


async def cancel(db: AsyncSession, subject: Subject, *, consultation_id: uuid.UUID, reason: str) -> Consultation:
    c = await readable(db, subject, consultation_id, action="cancel")
    transition(c.status, Action.CANCEL)
    _check_side(subject, c, Action.CANCEL)
    if c.hub_facility_id is not None and c.status != Status.DRAFT:
        await _end_care(db, c, c.hub_facility_id, clock.now())
    c.ack_due_at = None
    c.answer_due_at = None
    was_at_hub = c.status in AT_HUB
    await _move(db, subject, c, Action.CANCEL, Status.CANCELLED, note=reason)
    if was_at_hub:
        await _tell_hub(db, c, N_("{reference} was cancelled by the requesting site"), {})
    return c


async def conclude(db: AsyncSession, actor: Subject, c: Consultation) -> None:
    """Called when the chair signs the minutes."""
    transition(c.status, Action.CONCLUDE)
    now = clock.now()
    c.concluded_at = now
    c.answer_due_at = None
    c.follow_up_7_due = (now + timedelta(days=7)).date()
    c.follow_up_30_due = (now + timedelta(days=30)).date()
    await _move(db, actor, c, Action.CONCLUDE, Status.CONCLUDED)
    await _tell_spoke(db, c, N_("The minutes of {reference} are signed: the hub's conclusion is ready"), {}, urgent=True)


async def close(db: AsyncSession, subject: Subject, *, consultation_id: uuid.UUID) -> Consultation:
    c = await readable(db, subject, consultation_id, action="close")
    if c.status in (Status.ACCEPTED, Status.SUBMITTED, Status.INFO_REQUESTED):
        raise Conflict(N_("A consultation cannot be closed without signed minutes."), code="no_signed_minutes")
    transition(c.status, Action.CLOSE)
    _check_side(subject, c, Action.CLOSE)
    c.closed_at = clock.now()
    await _move(db, subject, c, Action.CLOSE, Status.CLOSED)
    await _tell_hub(db, c, N_("{reference} was closed by the requesting site"), {})
    return c


async def record_outcome(db: AsyncSession, subject: Subject, *, consultation_id: uuid.UUID, data: OutcomeIn) -> ConsultationOutcome:
    c = await readable(db, subject, consultation_id, action="outcome")
    authorize(policy.can_record_outcome(subject, c), action="outcome", object_type="consultation", object_id=c.id,
              patient_id=c.patient_id)
    if any(o.checkpoint == data.checkpoint for o in await repo.outcomes(db, c.id)):
        raise Conflict(N_("The outcome at {days} days is already recorded."), code="duplicate_outcome", days=data.checkpoint)
    o = ConsultationOutcome(consultation_id=c.id, checkpoint=data.checkpoint, action_taken=data.action_taken,
                            outcome=data.outcome, recorded_by=subject.user_id, recorded_at=clock.now())
    db.add(o)
    await _flush(db)
    _event(db, c, subject, f"outcome_{data.checkpoint}", None, None, note=data.outcome)
    audit.record(db, subject, action="outcome", object_type="consultation", object_id=c.id, patient_id=c.patient_id,
                 detail={"checkpoint": data.checkpoint, "outcome": data.outcome})
    await _tell_hub(db, c, N_("{reference}: the requesting site reported the outcome"), {})
    _announce(db, c)
    return o


# --------------------------------------------------------------------------- helpers

def _check_side(subject: Subject, c: Consultation, action: Action) -> None:
    _, side = transition(c.status, action)
    authorize(policy.can_act(subject, c, side), action=action.value, object_type="consultation", object_id=c.id,
              patient_id=c.patient_id)


async def _may_act_clinically(db: AsyncSession, subject: Subject, facility_id: uuid.UUID | None) -> None:
    ok = (subject.practitioner_id is not None and facility_id is not None and await network.practitioner_may_act(
        db, practitioner_id=subject.practitioner_id, facility_id=facility_id, at=clock.now()))
    authorize(ok, action="clinical_act", object_type="consultation",
              message=N_("Your practising licence or your registration at this facility is not valid today."))


async def _move(db: AsyncSession, actor: Subject | None, c: Consultation, action: Action, to: Status, *,
                note: str | None = None, conflict: str | None = None) -> None:
    from_status = c.status
    c.status = to
    c.updated_at = clock.now()
    await _flush(db, conflict)
    _event(db, c, actor, action.value, from_status, to, note=note)
    if actor is not None:
        audit.record(db, actor, action=action.value, object_type="consultation", object_id=c.id, patient_id=c.patient_id,
                     detail={"from": from_status, "to": to.value})
    _announce(db, c)


async def _flush(db: AsyncSession, conflict: str | None = None) -> None:
    """Flush with the row's version check: a concurrent change (two accepts) fails here."""
    try:
        await db.flush()
    except StaleDataError:
        raise Conflict(conflict or N_("Someone else changed this consultation first; reload it."),
                       code="concurrent_change") from None


def _event(db: AsyncSession, c: Consultation, actor: Subject | None, kind: str, from_status: str | None,
           to_status: str | None, *, note: str | None = None, hub: uuid.UUID | None = None) -> None:
    db.add(ConsultationEvent(consultation_id=c.id, at=clock.now(), actor_user_id=actor.user_id if actor else None,
                             actor_name=actor.display_name if actor else None, kind=kind, from_status=from_status,
                             to_status=to_status, hub_facility_id=hub or c.hub_facility_id, note=note))


def _announce(db: AsyncSession, c: Consultation) -> None:
    payload = {"kind": "case", "id": str(c.id), "status": c.status}
    events.publish(db, messaging.thread_topic(c.id), payload)
    for facility in {c.requesting_facility_id, c.hub_facility_id} - {None}:
        events.publish(db, f"facility:{facility}", payload)


async def _tell_spoke(db: AsyncSession, c: Consultation, title: str, params: dict[str, str], *, urgent: bool = False) -> None:
    await messaging.notify(db, user_ids=[c.requested_by], kind="case_update", title=title,
                           params={"reference": c.reference, **params}, link=f"/consultations/{c.id}", urgent=urgent)


async def _tell_hub(db: AsyncSession, c: Consultation, title: str, params: dict[str, str]) -> None:
    users = [c.assigned_user_id] if c.assigned_user_id else [
        u.id for u in await repo.hub_users(db, c.hub_facility_id, (Role.HUB_COORDINATOR,))]  # type: ignore[arg-type]
    await messaging.notify(db, user_ids=[u for u in users if u], kind="case_update", title=title,
                           params={"reference": c.reference, **params}, link=f"/consultations/{c.id}")

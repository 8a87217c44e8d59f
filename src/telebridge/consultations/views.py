"""Teleconsultation pages: work lists, the request form (autosaved draft), the case page
(status, SLA clock, actions, thread, minutes, outcome, timeline). Thin: parse, call the
service, show the result; a refused or malformed action re-shows the case with the reason."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from telebridge.consultations import minutes, policy, presenters, service
from telebridge.consultations import repository as repo
from telebridge.consultations.schemas import (
    AddendumIn,
    ConclusionItem,
    ConsentGiven,
    MinutesIn,
    OutcomeIn,
    Participant,
    RequestFields,
    Vitals,
)
from telebridge.consultations.states import STATUS_LABELS, Status, allowed_actions
from telebridge.identity.deps import Db, PageSubject
from telebridge.identity.models import User
from telebridge.kit import clock
from telebridge.kit.errors import BadInput, Conflict, DomainError, Forbidden, NotFound
from telebridge.kit.i18n import N_
from telebridge.kit.subject import Role, Subject
from telebridge.kit.web import is_htmx, render
from telebridge.messaging import service as messaging
from telebridge.network.reference import CONSULTATION_MODES
from telebridge.patients import service as patients

router = APIRouter(include_in_schema=False)

LABELS: dict[str, str] = {
    **{s.value: label for s, label in STATUS_LABELS.items()},
    "emergency": N_("Emergency"), "urgent": N_("Urgent"), "routine": N_("Routine"),
    "direct_to_patient": N_("Direct to the patient"),
    "patient_at_receiving_facility": N_("Patient at a receiving facility, examined by another facility"),
    "inter_facility_support": N_("Inter-facility support"), "remote_consultation": N_("Remote consultation"),
    "treat_locally": N_("Treat locally"), "transfer": N_("Transfer"),
    "further_investigations": N_("Further investigations"), "follow_up": N_("Follow-up"),
    "treated_locally": N_("Treated locally"), "transferred": N_("Transferred"), "died": N_("Died"),
    "unknown": N_("Unknown"), "chair": N_("Chair"), "secretary": N_("Secretary"), "participant": N_("Participant"),
    "author": N_("Addendum author"),
    "created": N_("Draft started"), "submit": N_("Sent to the hub"), "accept": N_("Accepted"),
    "decline": N_("Declined, passed on"), "request_info": N_("More information requested"),
    "provide_info": N_("Information provided"), "reassign": N_("Reassigned"), "conclude": N_("Concluded"),
    "close": N_("Closed"), "cancel": N_("Cancelled"), "escalate": N_("Escalated to the next hub"),
    "ack_breach": N_("Acknowledgement deadline missed: coordinator alerted"),
    "answer_breach": N_("Answer deadline missed"), "minutes_signed": N_("Minutes signed"),
    "addendum": N_("Signed addendum"), "session_joined": N_("Joined the live session"),
    "session_left": N_("Left the live session"), "outcome_7": N_("7-day outcome recorded"),
    "outcome_30": N_("30-day outcome recorded"), "reminder_7": N_("7-day outcome reminder"),
    "reminder_30": N_("30-day outcome reminder"),
    "mine": N_("My facility's requests"), "queue": N_("Triage queue"), "assigned": N_("Assigned to me"),
    "open": N_("All open cases of my hub"),
}
VITALS = (("temperature_c", N_("Temperature (°C)"), "0.1"), ("heart_rate", N_("Heart rate (/min)"), "1"),
          ("respiratory_rate", N_("Respiratory rate (/min)"), "1"), ("bp_systolic", N_("Systolic BP (mmHg)"), "1"),
          ("bp_diastolic", N_("Diastolic BP (mmHg)"), "1"), ("spo2", N_("SpO₂, per cent"), "1"),
          ("weight_kg", N_("Weight (kg)"), "0.01"))


def see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _default_view(subject: Subject) -> str:
    if subject.has_role(Role.HUB_COORDINATOR):
        return "open"
    if subject.has_role(Role.HUB_SPECIALIST):
        return "queue"
    return "mine"


def _views(subject: Subject) -> list[str]:
    out = []
    if subject.has_role(Role.SPOKE_CLINICIAN, Role.HUB_SPECIALIST):
        out.append("mine")
    if subject.has_role(Role.HUB_SPECIALIST, Role.HUB_COORDINATOR):
        out += ["queue", "assigned", "open"]
    return out


# --------------------------------------------------------------------------- work lists

@router.get("/consultations")
async def worklist_page(request: Request, subject: PageSubject, db: Db, view: str | None = None,
                        urgency: str | None = None, q: Annotated[str | None, Query(max_length=40)] = None,
                        status: str | None = None) -> Response:
    views = _views(subject)
    view = view if view in views else (_default_view(subject) if views else "mine")
    items = await presenters.worklist(db, subject, view=view, statuses=[status] if status else None,
                                      urgency=urgency if urgency in ("emergency", "urgent", "routine") else None, q=q)
    ctx = {"items": items, "view": view, "views": views, "labels": LABELS, "now": clock.now(),
           "params": {"view": view, "urgency": urgency or "", "q": q or "", "status": status or ""}}
    template = "consultations/_rows.html" if is_htmx(request) else "consultations/worklist.html"
    return render(request, template, ctx)


# --------------------------------------------------------------------------- asking

@router.post("/patients/{patient_id}/consultations")
async def start(request: Request, patient_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    form = await request.form()
    key = str(form.get("idempotency_key") or "") or None
    c, _ = await service.create(db, subject, patient_id=patient_id, facility_id=None, data=RequestFields(),
                                idempotency_key=key)
    return see(f"/consultations/{c.id}/edit")



async def _request_page(request: Request, db: AsyncSession, subject: Subject, c: Any, *, error: str | None = None,
                        status: int = 200) -> Response:
    patient = (await patients.readable(db, subject, c.patient_id))[0].patient
    hubs = await service.candidate_hubs(db, c)
    consent_on_record = await patients.has_consent(db, patient_id=c.patient_id, purpose="teleconsultation")
    return render(request, "consultations/request.html", {
        "c": c, "patient": patient, "hubs": hubs, "specialties": await repo.specialties(db), "modes": CONSULTATION_MODES,
        "labels": LABELS, "vitals": VITALS, "consent_on_record": consent_on_record, "error": error,
        "summary": c.summary or {},
    }, status)


@router.get("/consultations/{consultation_id}/edit")
async def request_page(request: Request, consultation_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    c = await service.readable(db, subject, consultation_id)
    if c.status != Status.DRAFT:
        return see(f"/consultations/{c.id}")
    return await _request_page(request, db, subject, c)


def _fields(form: Any) -> RequestFields:
    data: dict[str, Any] = {k: form.get(k) for k in ("specialty_code", "urgency", "mode", "hub_facility_id", "question",
                                                     "history", "examination", "investigations", "current_treatment")
                            if k in form}
    vitals = {k: form.get(f"vitals_{k}") for k, _, _ in VITALS if f"vitals_{k}" in form}
    if vitals:
        data["vitals"] = Vitals.model_validate(vitals)
    try:
        return RequestFields.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][-1]) for e in exc.errors() if e.get("loc"))
        raise BadInput(N_("Some fields are missing or malformed: {fields}."), fields=fields) from None


@router.post("/consultations/{consultation_id}/draft")
async def autosave(request: Request, consultation_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    form = await request.form()
    try:
        c = await service.save_draft(db, subject, consultation_id=consultation_id, data=_fields(form))
    except (BadInput, Conflict) as exc:
        await db.rollback()
        return render(request, "consultations/_saved.html", {"error": exc.translated(), "hubs": None}, 200)
    return render(request, "consultations/_saved.html", {"saved_at": c.updated_at, "c": c,
                                                         "hubs": await service.candidate_hubs(db, c)})


@router.post("/consultations/{consultation_id}/submit")
async def submit(request: Request, consultation_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    form = await request.form()
    consent = None
    try:
        data = _fields(form)
        if form.get("consent_given_by"):
            consent = ConsentGiven.model_validate({"given_by": form.get("consent_given_by"),
                                                   "method": form.get("consent_method") or "verbal_witnessed"})
        try:
            await service.submit(db, subject, consultation_id=consultation_id, data=data, consent=consent)
        except StaleDataError:  # an autosave of the same form landed first: send on top of it
            await db.rollback()
            await service.submit(db, subject, consultation_id=consultation_id, data=data, consent=consent)
    except (BadInput, Conflict, ValidationError) as exc:
        message = exc.translated() if isinstance(exc, DomainError) else _malformed(exc)
        await db.rollback()
        c = await service.readable(db, subject, consultation_id, action="submit")
        if c.status == Status.DRAFT:  # keep what was typed: save it, then show the reason
            try:
                await service.save_draft(db, subject, consultation_id=consultation_id, data=_fields(form))
            except DomainError:
                await db.rollback()
                c = await service.readable(db, subject, consultation_id, action="submit")
        return await _request_page(request, db, subject, c, error=message, status=400)
    return see(f"/consultations/{consultation_id}")


def _malformed(exc: ValidationError) -> str:
    from telebridge.kit.i18n import gettext

    fields = ", ".join(str(e["loc"][-1]) for e in exc.errors() if e.get("loc"))
    return gettext(N_("Some fields are missing or malformed: {fields}.")).format(fields=fields)


# --------------------------------------------------------------------------- the case page

async def _case_context(db: AsyncSession, subject: Subject, c: Any) -> dict[str, Any]:
    patient = (await patients.readable(db, subject, c.patient_id))[0].patient
    names = await repo.facility_names(db, {c.requesting_facility_id} | ({c.hub_facility_id} if c.hub_facility_id else set()))
    m = await presenters.minutes(db, subject, c.id)
    msgs = await messaging.messages(db, consultation_id=c.id)
    hub_side, spoke_side = policy.is_hub_side(subject, c), policy.is_spoke_side(subject, c)
    actions = allowed_actions(c.status)
    specialists = (await repo.hub_users(db, c.hub_facility_id, (Role.HUB_SPECIALIST,))) if hub_side else []
    outcomes = await repo.outcomes(db, c.id)
    requester = await db.get(User, c.requested_by)
    assigned = await db.get(User, c.assigned_user_id) if c.assigned_user_id else None
    people = [u for u in (assigned, requester) if u is not None]
    coordinators = await repo.hub_users(db, c.hub_facility_id, (Role.HUB_COORDINATOR,)) if c.hub_facility_id else []
    mentionable = {u.id: u.display_name for u in [*people, *coordinators] if u.id != subject.user_id}
    reads = await messaging.read_receipts(db, consultation_id=c.id)
    readers = {u.id: u.display_name for u in await repo.users(db, list(reads))}
    receipts = [(uid, readers.get(uid, ""), at) for uid, at in reads.items() if uid != subject.user_id and uid in readers]
    content = m.get("content") or {}
    record = await presenters.session_record(db, c)
    participants = content.get("participants") or await _default_participants(db, c, assigned, requester, record, names)
    signed_by = {s["user_id"] for s in m["signatures"] if not s.get("addendum_id")}
    icd_chosen = []
    try:
        from telebridge.terminology import icd10 as terms

        icd_chosen = [e for e in (terms.lookup(d["code"]) for d in content.get("diagnoses", [])) if e]
    except ImportError:
        pass
    from telebridge.files import service as files
    from telebridge.files.api import file_out

    sessions = await repo.live_sessions(db, c.id)
    attachments = [file_out(f, subject) for f in await files.list_for_context(
        db, subject, context_type="consultation", context_id=c.id)]
    return {
        "mentionable": mentionable, "receipts": receipts, "session_record": record,
        "sessions": sessions, "can_schedule": hub_side and c.status in ("accepted", "info_requested"),
        "attachments": attachments, "can_attach": c.status not in ("cancelled", "closed"),
        "c": c, "patient": patient, "names": names, "minutes": m, "content": content, "messages": msgs,
        "hub_side": hub_side, "spoke_side": spoke_side, "actions": {a.value for a in actions},
        "can_accept": policy.can_accept(subject, c), "can_reassign": policy.can_reassign(subject, c),
        "can_edit_minutes": policy.can_edit_minutes(subject, c) and m["status"] in ("none", "draft"),
        "can_sign": (policy.can_sign_minutes(subject, c) and m["status"] in ("draft", "signing")
                     and str(subject.user_id) in {p.get("user_id") for p in participants}
                     and str(subject.user_id) not in signed_by),
        "can_outcome": policy.can_record_outcome(subject, c), "outcomes": outcomes,
        "recorded_checkpoints": {o.checkpoint for o in outcomes},
        "specialists": specialists, "participants": participants, "labels": LABELS, "vitals": VITALS,
        "timeline": await presenters.timeline(db, subject, c.id), "now": clock.now(), "icd_chosen": icd_chosen,
        "max_chars": service._settings(db).max_message_chars,
    }


async def _default_participants(db: AsyncSession, c: Any, assigned: User | None, requester: User | None,
                                record: list[dict[str, Any]], names: dict[uuid.UUID, str]) -> list[dict[str, Any]]:
    """The minutes' participants before anyone has written them: the assigned specialist (chair),
    the requester, and whoever joined the case's live sessions, with title, licence and site."""

    rows: dict[uuid.UUID, dict[str, Any]] = {}
    for u, site in ((assigned, names.get(c.hub_facility_id, "")), (requester, names.get(c.requesting_facility_id, ""))):
        if u is not None and u.id not in rows:
            rows[u.id] = {"user": u, "site": site, "role": "chair" if u is assigned else "participant"}
    joined = [r["user_id"] for r in record if r["user_id"] not in rows]
    for u in await repo.users(db, joined):
        site = next((r["site"] for r in record if r["user_id"] == u.id), "")
        rows[u.id] = {"user": u, "site": site, "role": "participant"}
    ids = [r["user"].practitioner_id for r in rows.values() if r["user"].practitioner_id]
    found = await repo.practitioners(db, ids)
    out = []
    for r in rows.values():
        p = found.get(r["user"].practitioner_id)
        out.append({"user_id": str(r["user"].id), "name": p.full_name if p else r["user"].display_name,
                    "title": p.title if p else None, "licence_number": p.licence_number if p else None,
                    "site": r["site"], "role": r["role"]})
    return out


async def _case_page(request: Request, db: AsyncSession, subject: Subject, consultation_id: uuid.UUID, *,
                     error: str | None = None, status: int = 200) -> Response:
    c = await service.readable(db, subject, consultation_id)
    if c.status == Status.DRAFT:
        return see(f"/consultations/{c.id}/edit")
    ctx = await _case_context(db, subject, c)
    ctx["error"] = error
    await messaging.mark_read(db, subject, consultation_id=c.id)
    return render(request, "consultations/case.html", ctx, status)


@router.get("/consultations/{consultation_id}")
async def case_page(request: Request, consultation_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    return await _case_page(request, db, subject, consultation_id)


@router.get("/consultations/{consultation_id}/status")
async def status_fragment(request: Request, consultation_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    c = await service.readable(db, subject, consultation_id)
    return render(request, "consultations/_status.html", await _case_context(db, subject, c))


async def _act(request: Request, db: AsyncSession, subject: Subject, consultation_id: uuid.UUID, action: Any) -> Response:
    try:
        await action()
    except (BadInput, Conflict, NotFound, ValidationError) as exc:
        message = exc.translated() if isinstance(exc, DomainError) else _malformed(exc)
        await db.rollback()
        return await _case_page(request, db, subject, consultation_id, error=message,
                                status=exc.status if isinstance(exc, DomainError) else 400)
    return see(f"/consultations/{consultation_id}")


@router.post("/consultations/{consultation_id}/act/{action}")
async def act(request: Request, consultation_id: uuid.UUID, action: str, subject: PageSubject, db: Db) -> Response:
    form = await request.form()
    reason = str(form.get("reason") or "").strip()

    def need_reason() -> str:
        if len(reason) < 3:
            raise BadInput(N_("Please give a reason."), field="reason")
        return reason

    handlers = {
        "accept": lambda: service.accept(db, subject, consultation_id=consultation_id),
        "decline": lambda: service.decline(db, subject, consultation_id=consultation_id, reason=need_reason()),
        "request_info": lambda: service.request_info(db, subject, consultation_id=consultation_id, question=need_reason()),
        "provide_info": lambda: service.provide_info(db, subject, consultation_id=consultation_id, answer=need_reason()),
        "cancel": lambda: service.cancel(db, subject, consultation_id=consultation_id, reason=need_reason()),
        "close": lambda: service.close(db, subject, consultation_id=consultation_id),
        "reassign": lambda: service.reassign(db, subject, consultation_id=consultation_id,
                                             user_id=_uuid(form.get("user_id"))),
    }
    handler = handlers.get(action)
    if handler is None:
        raise NotFound(N_("This page does not exist."))
    return await _act(request, db, subject, consultation_id, handler)


def _uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise BadInput(N_("Choose a specialist of this hub."), field="user_id") from None


@router.post("/consultations/{consultation_id}/minutes")
async def save_minutes(request: Request, consultation_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    form = await request.form()

    async def run() -> None:
        await minutes.save(db, subject, consultation_id=consultation_id, data=_minutes_form(form))

    return await _act(request, db, subject, consultation_id, run)


def _minutes_form(form: Any) -> MinutesIn:
    participants = []
    for i in range(40):
        name = str(form.get(f"p{i}_name") or "").strip()
        if not name:
            continue
        participants.append(Participant.model_validate({
            "user_id": form.get(f"p{i}_user_id") or None, "name": name, "title": form.get(f"p{i}_title"),
            "licence_number": form.get(f"p{i}_licence"), "site": form.get(f"p{i}_site"),
            "role": form.get(f"p{i}_role") or "participant"}))
    conclusions = [ConclusionItem(issue=str(form.get(f"c{i}_issue")).strip(), conclusion=str(form.get(f"c{i}_conclusion") or "").strip())
                   for i in range(30) if str(form.get(f"c{i}_issue") or "").strip()]
    codes = [str(v) for v in form.getlist("diagnosis_codes")]
    codes += [x.strip() for x in str(form.get("icd10_q") or "").split(",") if x.strip() and len(x.strip()) <= 7 and x.strip()[:1].isalpha() and x.strip()[1:3].isdigit()]
    return MinutesIn.model_validate({
        "participants": participants, "conclusions": conclusions, "diagnoses": list(dict.fromkeys(codes)),
        "discussion": form.get("discussion"), "recommendation": form.get("recommendation") or None,
        "recommendation_text": form.get("recommendation_text"), "reason": form.get("edit_reason"),
        "session_start": form.get("session_start") or None, "session_end": form.get("session_end") or None,
        "version": form.get("version") or None,
    })


@router.post("/consultations/{consultation_id}/minutes/sign")
async def sign_minutes(request: Request, consultation_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    form = await request.form()
    try:
        await minutes.sign(db, subject, consultation_id=consultation_id, password=str(form.get("password") or ""))
    except (BadInput, Conflict, Forbidden) as exc:
        if isinstance(exc, Forbidden) and getattr(exc, "audit", None):
            raise
        await db.rollback()
        return await _case_page(request, db, subject, consultation_id, error=exc.translated(), status=exc.status)
    return see(f"/consultations/{consultation_id}#minutes")


@router.post("/consultations/{consultation_id}/minutes/addenda")
async def addendum(request: Request, consultation_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    form = await request.form()
    try:
        data = AddendumIn.model_validate({"text": form.get("text") or "", "password": form.get("password") or ""})
        await minutes.add_addendum(db, subject, consultation_id=consultation_id, data=data)
    except (BadInput, Conflict, Forbidden, ValidationError) as exc:
        if isinstance(exc, Forbidden) and getattr(exc, "audit", None):
            raise
        message = exc.translated() if isinstance(exc, DomainError) else _malformed(exc)
        await db.rollback()
        return await _case_page(request, db, subject, consultation_id, error=message, status=400)
    return see(f"/consultations/{consultation_id}#minutes")


@router.get("/consultations/{consultation_id}/minutes.pdf")
async def minutes_pdf(consultation_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    data, filename = await presenters.minutes_pdf(db, subject, consultation_id)
    return Response(data, media_type="application/pdf", headers={"content-disposition": f'inline; filename="{filename}"'})


@router.post("/consultations/{consultation_id}/outcome")
async def outcome(request: Request, consultation_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    form = await request.form()

    async def run() -> None:
        checkpoint = str(form.get("checkpoint") or "")
        data = OutcomeIn.model_validate({"checkpoint": int(checkpoint) if checkpoint.isdigit() else checkpoint,
                                         "action_taken": form.get("action_taken") or "",
                                         "outcome": form.get("outcome")})
        await service.record_outcome(db, subject, consultation_id=consultation_id, data=data)

    return await _act(request, db, subject, consultation_id, run)


@router.post("/consultations/{consultation_id}/messages")
async def post_message(request: Request, consultation_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    """Form fallback of the thread (without JavaScript or WebSocket)."""
    from telebridge.consultations.schemas import MessageIn

    form = await request.form()

    async def run() -> None:
        body = MessageIn.model_validate({"body": form.get("body") or " ", "client_key": form.get("client_key") or None,
                                         "mentions": [str(m) for m in form.getlist("mentions") if m]})
        await presenters.post_message(db, subject, consultation_id, body)

    return await _act(request, db, subject, consultation_id, run)

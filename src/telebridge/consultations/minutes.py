"""The consultation minutes (biên bản hội chẩn): drafted together, every saved draft kept as
a revision (who, when, why); frozen at the first signature, with the SHA-256 of the exact
content each signer saw; signed when the chair signs, which concludes the consultation.
Corrections of signed minutes are signed addenda. Never commits."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.consultations import policy, service
from telebridge.consultations import repository as repo
from telebridge.consultations.models import Consultation, Minutes, MinutesAddendum, MinutesRevision, MinutesSignature
from telebridge.consultations.schemas import AddendumIn, MinutesIn
from telebridge.identity.models import User
from telebridge.kit import audit, clock, events
from telebridge.kit.access import authorize
from telebridge.kit.errors import BadInput, Conflict, Forbidden
from telebridge.kit.i18n import N_
from telebridge.kit.subject import Role, Subject
from telebridge.kit.validators import icd10
from telebridge.messaging import service as messaging
from telebridge.patients.models import Patient


def content_hash(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _diagnoses(codes: list[str]) -> list[dict[str, str]]:
    out = []
    for raw in codes:
        code = icd10(raw)
        out.append({"code": code, "title": _icd_title(code)})
    return out


def _icd_title(code: str) -> str:
    try:
        from telebridge.terminology import icd10 as terms
    except ImportError:  # terminology not installed: the code alone
        return ""
    entry = terms.lookup(code)
    if entry is None:
        raise BadInput(N_("{code} is not in the ICD-10 list."), field="diagnoses", code="unknown_icd10")
    return str(getattr(entry, "title_vi", "") or getattr(entry, "title", ""))


async def get_or_new(db: AsyncSession, c: Consultation) -> Minutes:
    m = await repo.minutes_of(db, c.id)
    if m is None:
        m = Minutes(consultation_id=c.id, status="draft", content={}, draft_version=0)
        db.add(m)
        await db.flush()
    return m


async def save(db: AsyncSession, subject: Subject, *, consultation_id: uuid.UUID, data: MinutesIn) -> Minutes:
    c = await service.readable(db, subject, consultation_id, action="edit_minutes")
    authorize(policy.can_edit_minutes(subject, c), action="edit_minutes", object_type="minutes", object_id=c.id,
              patient_id=c.patient_id, message=N_("The minutes can be edited by the two sites while the case is open."))
    m = await get_or_new(db, c)
    if m.status != "draft":
        raise Conflict(N_("Signed minutes cannot be changed: add a signed addendum instead."), code="minutes_signed")
    if data.version is not None and data.version != m.draft_version:
        raise Conflict(N_("Someone else saved the minutes meanwhile; reload them to see their changes."),
                       code="minutes_edited")
    if data.session_start and data.session_end and data.session_end < data.session_start:
        raise BadInput(N_("The session cannot end before it starts."), field="session_end")
    chairs = [p for p in data.participants if p.role == "chair"]
    if len(chairs) > 1:
        raise BadInput(N_("The minutes have one chair."), field="participants")
    await _check_people(db, c, data)
    content = data.model_dump(mode="json", exclude={"reason", "version", "diagnoses"})
    content["diagnoses"] = _diagnoses(data.diagnoses)
    m.content = content
    m.chair_user_id = chairs[0].user_id if chairs else None
    secretaries = [p for p in data.participants if p.role == "secretary"]
    m.secretary_user_id = secretaries[0].user_id if secretaries else None
    m.draft_version += 1
    m.updated_by = subject.user_id
    m.updated_at = clock.now()
    db.add(MinutesRevision(minutes_id=m.id, number=m.draft_version, content=content, edited_by=subject.user_id,
                           edited_at=clock.now(), reason=data.reason))
    await service._flush(db, N_("Someone else saved the minutes meanwhile; reload them to see their changes."))
    audit.record(db, subject, action="edit_minutes", object_type="minutes", object_id=m.id, patient_id=c.patient_id,
                 detail={"version": m.draft_version})
    events.publish(db, messaging.thread_topic(c.id), {"kind": "minutes", "id": str(m.id), "version": m.draft_version})
    return m


async def _check_people(db: AsyncSession, c: Consultation, data: MinutesIn) -> None:
    """Named accounts must be clinicians of one of the two sites; the chair, a specialist of the
    consulting hub (the hub's opinion is what the chair signs)."""
    ids = {p.user_id for p in data.participants if p.user_id}
    if not ids:
        return
    rows = await repo.clinical_roles(db, ids)
    sites = {c.requesting_facility_id, c.hub_facility_id}
    clinicians = {r.user_id for r in rows if r.facility_id in sites and r.role in (
        Role.SPOKE_CLINICIAN, Role.HUB_SPECIALIST, Role.HUB_COORDINATOR)}
    if ids - clinicians:
        raise BadInput(N_("Only clinicians of the two sites can be named with an account in the minutes."),
                       field="participants")
    hub_specialists = {r.user_id for r in rows if r.facility_id == c.hub_facility_id and r.role == Role.HUB_SPECIALIST}
    for p in data.participants:
        if p.role == "chair" and p.user_id and p.user_id not in hub_specialists:
            raise BadInput(N_("The chair is a specialist of the consulting hub."), field="participants")


async def _snapshot(db: AsyncSession, c: Consultation) -> dict[str, Any]:
    """The parts of the case the minutes must carry, as they are at signing."""
    names = await repo.facility_names(db, {c.requesting_facility_id, c.hub_facility_id} - {None})  # type: ignore[arg-type]
    p = await db.get(Patient, c.patient_id)
    assert p is not None
    return {
        "consultation": {"id": str(c.id), "reference": c.reference, "mode": c.mode, "urgency": c.urgency,
                         "specialty": c.specialty_code, "question": c.question, "summary": c.summary},
        "requesting_facility": names.get(c.requesting_facility_id, ""),
        "consulting_facility": names.get(c.hub_facility_id, "") if c.hub_facility_id else "",
        "patient": {"id": str(p.id), "name": p.full_name, "citizen_id": p.citizen_id, "provisional": p.provisional,
                    "date_of_birth": p.date_of_birth.isoformat() if p.date_of_birth else None, "sex": p.sex},
    }


async def _reauthenticate(db: AsyncSession, subject: Subject, password: str) -> User:
    from pwdlib import PasswordHash

    with db.no_autoflush:  # the account row needs none of the pending changes: they flush once, after the check
        user = await db.get(User, subject.user_id)
    # argon2 is deliberately slow: verify off the event loop so other requests keep flowing
    if user is None or not await asyncio.to_thread(PasswordHash.recommended().verify, password, user.password_hash):
        raise Forbidden(N_("Wrong password: the signature was not recorded."), code="reauth_failed")
    return user


async def sign(db: AsyncSession, subject: Subject, *, consultation_id: uuid.UUID, password: str) -> Minutes:
    c = await service.readable(db, subject, consultation_id, action="sign_minutes")
    authorize(policy.can_sign_minutes(subject, c), action="sign_minutes", object_type="minutes", object_id=c.id,
              patient_id=c.patient_id)
    m = await repo.minutes_of(db, c.id)
    if m is None or not m.content:
        raise Conflict(N_("There are no minutes to sign yet."), code="no_minutes")
    listed = {p.get("user_id") for p in m.content.get("participants", [])}
    if str(subject.user_id) not in listed:
        raise Forbidden(N_("Only the participants named in the minutes can sign them."), code="not_participant")
    signed = await repo.signatures(db, m.id)
    if any(s.user_id == subject.user_id and s.addendum_id is None for s in signed):
        raise Conflict(N_("You have already signed these minutes."), code="already_signed")
    is_chair = m.chair_user_id == subject.user_id
    if m.status == "draft":
        if m.chair_user_id is None:
            raise BadInput(N_("Name the chair of the session before signing."), field="participants")
        _require_complete(m.content)
        m.content = {**m.content, **await _snapshot(db, c)}
        m.content_hash = content_hash(m.content)
        m.status = "signing"
    await _reauthenticate(db, subject, password)
    role = "chair" if is_chair else next((p.get("role", "participant") for p in m.content.get("participants", [])
                                          if p.get("user_id") == str(subject.user_id)), "participant")
    now = clock.now()
    db.add(MinutesSignature(minutes_id=m.id, user_id=subject.user_id, practitioner_id=subject.practitioner_id,
                            facility_id=_site_of(subject, c), role=role, signer_name=subject.display_name,
                            content_hash=m.content_hash or "", signed_at=now))
    if is_chair:
        m.status = "signed"
        m.signed_at = now
    await service._flush(db, N_("Someone else changed the minutes meanwhile; reload them."))
    audit.record(db, subject, action="sign", object_type="minutes", object_id=m.id, patient_id=c.patient_id,
                 detail={"role": role, "hash": m.content_hash})
    service._event(db, c, subject, "minutes_signed", None, None, note=role)
    if is_chair:
        await service.conclude(db, subject, c)
    else:
        events.publish(db, messaging.thread_topic(c.id), {"kind": "minutes", "id": str(m.id)})
    return m


def _require_complete(content: dict[str, Any]) -> None:
    if not content.get("conclusions"):
        raise BadInput(N_("Write the conclusion, issue by issue, before signing."), field="conclusions")
    if not content.get("recommendation"):
        raise BadInput(N_("Choose the recommendation before signing."), field="recommendation")


def _site_of(subject: Subject, c: Consultation) -> uuid.UUID | None:
    if policy.is_hub_side(subject, c):
        return c.hub_facility_id
    return c.requesting_facility_id


async def add_addendum(db: AsyncSession, subject: Subject, *, consultation_id: uuid.UUID, data: AddendumIn) -> MinutesAddendum:
    c = await service.readable(db, subject, consultation_id, action="addendum")
    authorize(policy.can_sign_minutes(subject, c), action="addendum", object_type="minutes", object_id=c.id,
              patient_id=c.patient_id)
    m = await repo.minutes_of(db, c.id)
    if m is None or m.status != "signed":
        raise Conflict(N_("An addendum corrects signed minutes; these are not signed yet."), code="not_signed")
    await _reauthenticate(db, subject, data.password)
    now = clock.now()
    digest = content_hash({"minutes": m.content_hash, "text": data.text, "author": str(subject.user_id),
                           "at": now.isoformat()})
    a = MinutesAddendum(minutes_id=m.id, text=data.text, author_user_id=subject.user_id,
                        author_name=subject.display_name, content_hash=digest, signed_at=now)
    db.add(a)
    await db.flush()
    db.add(MinutesSignature(minutes_id=m.id, addendum_id=a.id, user_id=subject.user_id,
                            practitioner_id=subject.practitioner_id, facility_id=_site_of(subject, c), role="author",
                            signer_name=subject.display_name, content_hash=digest, signed_at=now))
    await db.flush()
    audit.record(db, subject, action="addendum", object_type="minutes", object_id=m.id, patient_id=c.patient_id,
                 detail={"hash": digest})
    service._event(db, c, subject, "addendum", None, None)
    events.publish(db, messaging.thread_topic(c.id), {"kind": "minutes", "id": str(m.id)})
    return a

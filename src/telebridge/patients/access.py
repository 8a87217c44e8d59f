"""Identity merges (a provisional record folded into the real one) and emergency
("break-glass") access with its after-the-fact review. Never commits; always audited."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.config import get_settings
from telebridge.kit import audit
from telebridge.kit.access import authorize
from telebridge.kit.db import utcnow
from telebridge.kit.errors import BadInput, Conflict, NotFound
from telebridge.kit.i18n import N_
from telebridge.kit.subject import Subject
from telebridge.kit.validators import clean_text
from telebridge.patients import policy
from telebridge.patients import repository as repo
from telebridge.patients.models import BreakGlassGrant, CareRelationship, Consent, Patient, PatientMerge
from telebridge.patients.service import MergedRecord, load

MIN_MERGE_REASON = 10
MIN_BREAK_GLASS_REASON = 20
MAX_REASON = 2000


def _reason(value: str | None, *, field: str, minimum: int) -> str:
    text = clean_text(value, field=field, max_len=MAX_REASON, required=True)
    assert text is not None
    if len(text) < minimum:
        raise BadInput(N_("Give a reason of at least {n} characters."), field=field, n=minimum)
    return text


# --------------------------------------------------------------------------- merge

async def _patient(db: AsyncSession, patient_id: uuid.UUID) -> Patient:
    patient = await repo.get_patient(db, patient_id)
    if patient is None:
        raise NotFound(N_("No such patient."))
    return patient


async def merge(db: AsyncSession, subject: Subject, *, source_id: uuid.UUID, target_id: uuid.UUID,
                reason: str | None) -> PatientMerge:
    """Fold a provisional identity into the real record: its care relationships and consents move
    to the target, the source is kept with status ``merged`` pointing to the target."""
    if source_id == target_id:
        raise Conflict(N_("A record cannot be merged into itself."))
    source, target = await _patient(db, source_id), await _patient(db, target_id)
    if source.status != "active":
        raise Conflict(N_("The provisional record was already merged."))
    if target.status != "active":
        raise Conflict(N_("The target record was itself merged; merge into the record it points to."))
    s_access, t_access = await repo.access_of(db, source), await repo.access_of(db, target)
    authorize(policy.can_merge(subject, s_access, t_access), action="merge", object_type="patient",
              object_id=source_id, patient_id=source_id,
              message=N_("You may merge only records you are allowed to read."))
    if not source.provisional:
        raise Conflict(N_("Only a provisional identity (a record without a citizen ID) can be merged into another record."))
    text = _reason(reason, field="reason", minimum=MIN_MERGE_REASON)
    moved_care = await repo.move_to(db, CareRelationship, source.id, target.id)
    moved_consents = await repo.move_to(db, Consent, source.id, target.id)
    source.status, source.merged_into_id = "merged", target.id
    row = PatientMerge(source_id=source.id, target_id=target.id, reason=text, merged_by=subject.user_id,
                       merged_at=utcnow(), moved_relationships=moved_care, moved_consents=moved_consents)
    db.add(row)
    await db.flush()
    counts = {"relationships": moved_care, "consents": moved_consents}
    for pid, other in ((source.id, target.id), (target.id, source.id)):
        audit.record(db, subject, action="merge", object_type="patient_merge", object_id=row.id, patient_id=pid,
                     detail={**counts, "other_patient_id": str(other)})
    return row


# --------------------------------------------------------------------------- break-glass

async def request_break_glass(db: AsyncSession, subject: Subject, *, patient_id: uuid.UUID,
                              reason: str | None) -> BreakGlassGrant:
    """Emergency access for a clinician without a relationship: a reason, a time limit, a review."""
    try:
        access = await load(db, patient_id)
    except MergedRecord as merged:
        access = await load(db, merged.merged_into)
    authorize(policy.can_request_break_glass(subject), action="break_glass", object_type="patient",
              object_id=patient_id, patient_id=patient_id,
              message=N_("Only clinicians may request emergency access."))
    text = _reason(reason, field="reason", minimum=MIN_BREAK_GLASS_REASON)
    if policy.read_basis(subject, access) == policy.ReadBasis.RELATIONSHIP:
        raise Conflict(N_("You already have access to this record through your facility."))
    now = utcnow()
    grant = BreakGlassGrant(user_id=subject.user_id, patient_id=access.patient.id, reason=text, granted_at=now,
                            expires_at=now + timedelta(hours=get_settings().break_glass_hours))
    db.add(grant)
    await db.flush()
    audit.record(db, subject, action="break_glass", object_type="break_glass_grant", object_id=grant.id,
                 patient_id=access.patient.id, break_glass=True)
    return grant


async def grants_for_review(db: AsyncSession, subject: Subject, *, offset: int, limit: int
                            ) -> tuple[list[tuple[BreakGlassGrant, str]], int]:
    authorize(policy.can_list_break_glass(subject), action="read", object_type="break_glass_grant",
              message=N_("Only administrators review emergency access."))
    rows, total = await repo.grants_for_review(db, subject, offset=offset, limit=limit)
    audit.record(db, subject, action="read", object_type="break_glass_grant", detail={"results": total})
    return rows, total


async def review(db: AsyncSession, subject: Subject, *, grant_id: uuid.UUID, outcome: str,
                 note: str | None) -> BreakGlassGrant:
    grant = await repo.get_grant(db, grant_id)
    if grant is None:
        raise NotFound(N_("No such emergency access."))
    grantee_facilities = await repo.facilities_of_user(db, grant.user_id)
    authorize(policy.can_review_break_glass(subject, grant, grantee_facilities), action="review",
              object_type="break_glass_grant", object_id=grant_id, patient_id=grant.patient_id,
              message=N_("You may not review this emergency access."))
    if grant.reviewed_at is not None:
        raise Conflict(N_("This emergency access was already reviewed."))
    grant.review_note = clean_text(note, field="note", max_len=MAX_REASON, required=outcome == "unjustified")
    grant.review_outcome, grant.reviewed_by, grant.reviewed_at = outcome, subject.user_id, utcnow()
    await db.flush()
    audit.record(db, subject, action="review", object_type="break_glass_grant", object_id=grant.id,
                 patient_id=grant.patient_id, detail={"outcome": outcome})
    return grant

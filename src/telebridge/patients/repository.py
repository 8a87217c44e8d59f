"""Every query of the patients domain. List queries take the acting subject and return only
what it may read: the scope is part of the SQL, never a filter applied afterwards."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.identity.models import RoleAssignment, User
from telebridge.kit.subject import CLINICAL_ROLES, Role, Subject
from telebridge.network.models import Facility, Province
from telebridge.patients.models import BreakGlassGrant, CareRelationship, Consent, Patient, PatientMerge
from telebridge.patients.policy import PatientAccess


@dataclass(frozen=True)
class SearchFilter:
    citizen_id: str | None = None  # exact match
    name: str | None = None  # folded (diacritics removed), matched as a substring
    date_of_birth: date | None = None
    province_code: int | None = None


def _current_care(facility_ids: frozenset[uuid.UUID]) -> Select[tuple[uuid.UUID]]:
    return select(CareRelationship.patient_id).where(
        CareRelationship.facility_id.in_(facility_ids), CareRelationship.ended_at.is_(None)
    )


def readable_clause(subject: Subject) -> ColumnElement[bool]:
    """SQL for "the subject may read this patient" (mirrors policy.read_basis)."""
    parts: list[ColumnElement[bool]] = []
    if subject.clinical_facility_ids:
        parts.append(Patient.id.in_(_current_care(subject.clinical_facility_ids)))
    if subject.has_role(*CLINICAL_ROLES) and subject.break_glass_patient_ids:
        parts.append(Patient.id.in_(subject.break_glass_patient_ids))
    if subject.patient_id is not None:
        parts.append(Patient.id == subject.patient_id)
    return or_(*parts) if parts else false()


async def search(db: AsyncSession, subject: Subject, f: SearchFilter, *, offset: int, limit: int
                 ) -> tuple[list[tuple[Patient, str | None]], int]:
    """Active patients the subject may read, with their province name, and the total count."""
    stmt = select(Patient).where(Patient.status == "active", readable_clause(subject))
    if f.citizen_id:
        stmt = stmt.where(Patient.citizen_id == f.citizen_id)
    if f.name:
        stmt = stmt.where(Patient.search_text.contains(f.name, autoescape=True))
    if f.date_of_birth:
        stmt = stmt.where(Patient.date_of_birth == f.date_of_birth)
    if f.province_code:
        stmt = stmt.where(Patient.province_code == f.province_code)
    total = int(await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    page = (
        stmt.add_columns(Province.name).outerjoin(Province, Province.code == Patient.province_code)
        .order_by(Patient.search_text, Patient.id).offset(offset).limit(limit)
    )
    rows = (await db.execute(page)).all()
    return [(r[0], r[1]) for r in rows], total


async def get_patient(db: AsyncSession, patient_id: uuid.UUID) -> Patient | None:
    return await db.get(Patient, patient_id)


async def access_of(db: AsyncSession, patient: Patient) -> PatientAccess:
    rows = await db.scalars(select(CareRelationship.facility_id).where(
        CareRelationship.patient_id == patient.id, CareRelationship.ended_at.is_(None)))
    return PatientAccess(patient, frozenset(rows.all()))


async def active_by_citizen_id(db: AsyncSession, citizen_id: str) -> Patient | None:
    """Unscoped: only for the duplicate check and the emergency-access stub."""
    return await db.scalar(select(Patient).where(Patient.citizen_id == citizen_id, Patient.status == "active"))


# --------------------------------------------------------------------------- facilities

async def facility_names(db: AsyncSession, ids: frozenset[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await db.execute(select(Facility.id, Facility.name).where(Facility.id.in_(ids)).order_by(Facility.name))
    return {r[0]: r[1] for r in rows.all()}


# --------------------------------------------------------------------------- record parts

async def care_relationships(db: AsyncSession, patient_id: uuid.UUID) -> list[tuple[CareRelationship, str]]:
    rows = await db.execute(
        select(CareRelationship, Facility.name).join(Facility, Facility.id == CareRelationship.facility_id)
        .where(CareRelationship.patient_id == patient_id).order_by(CareRelationship.created_at)
    )
    return [(r[0], r[1]) for r in rows.all()]


async def consents(db: AsyncSession, patient_id: uuid.UUID) -> list[tuple[Consent, str]]:
    rows = await db.execute(
        select(Consent, User.display_name).join(User, User.id == Consent.recorded_by)
        .where(Consent.patient_id == patient_id).order_by(Consent.recorded_at.desc())
    )
    return [(r[0], r[1]) for r in rows.all()]


async def get_consent(db: AsyncSession, consent_id: uuid.UUID) -> Consent | None:
    return await db.get(Consent, consent_id)


async def latest_consent(db: AsyncSession, patient_id: uuid.UUID, purpose: str, at: datetime) -> Consent | None:
    """The newest record for the purpose made by ``at`` and not withdrawn by then."""
    return await db.scalar(
        select(Consent).where(
            Consent.patient_id == patient_id, Consent.purpose == purpose, Consent.recorded_at <= at,
            or_(Consent.withdrawn_at.is_(None), Consent.withdrawn_at > at),
        ).order_by(Consent.recorded_at.desc()).limit(1)
    )


async def withdraw_purpose(db: AsyncSession, patient_id: uuid.UUID, purpose: str, at: datetime, by: uuid.UUID) -> int:
    """Withdraw every standing record of a purpose (so an older one cannot resurface)."""
    result: Any = await db.execute(
        update(Consent).where(Consent.patient_id == patient_id, Consent.purpose == purpose,
                              Consent.withdrawn_at.is_(None))
        .values(withdrawn_at=at, withdrawn_by=by).execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount or 0)


async def merges(db: AsyncSession, patient_id: uuid.UUID) -> list[PatientMerge]:
    rows = await db.scalars(select(PatientMerge).where(
        or_(PatientMerge.source_id == patient_id, PatientMerge.target_id == patient_id)).order_by(PatientMerge.merged_at))
    return list(rows.all())


async def move_to(db: AsyncSession, model: type[CareRelationship] | type[Consent], source_id: uuid.UUID,
                  target_id: uuid.UUID) -> int:
    result: Any = await db.execute(
        update(model).where(model.patient_id == source_id).values(patient_id=target_id)
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount or 0)


# --------------------------------------------------------------------------- break-glass

def _grants_in_scope(subject: Subject) -> Select[tuple[BreakGlassGrant]]:
    stmt = select(BreakGlassGrant).where(BreakGlassGrant.user_id != subject.user_id)
    if not subject.is_system_admin:
        staff = select(RoleAssignment.user_id).where(
            RoleAssignment.facility_id.in_(subject.facility_ids(Role.FACILITY_ADMIN)))
        stmt = stmt.where(BreakGlassGrant.user_id.in_(staff))
    return stmt


async def grants_for_review(db: AsyncSession, subject: Subject, *, offset: int, limit: int
                            ) -> tuple[list[tuple[BreakGlassGrant, str]], int]:
    """Grants the subject reviews, unreviewed first, newest first, with the grantee's name."""
    stmt = _grants_in_scope(subject)
    total = int(await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = await db.execute(
        stmt.add_columns(User.display_name).join(User, User.id == BreakGlassGrant.user_id)
        .order_by(case((BreakGlassGrant.reviewed_at.is_(None), 0), else_=1), BreakGlassGrant.granted_at.desc())
        .offset(offset).limit(limit)
    )
    return [(r[0], r[1]) for r in rows.all()], total


async def get_grant(db: AsyncSession, grant_id: uuid.UUID) -> BreakGlassGrant | None:
    return await db.get(BreakGlassGrant, grant_id)


async def facilities_of_user(db: AsyncSession, user_id: uuid.UUID) -> frozenset[uuid.UUID]:
    rows = await db.scalars(select(RoleAssignment.facility_id).where(
        RoleAssignment.user_id == user_id, RoleAssignment.facility_id.is_not(None)))
    return frozenset(f for f in rows.all() if f is not None)

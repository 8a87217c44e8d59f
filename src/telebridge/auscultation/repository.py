"""Every query of the auscultation domain. Lists take the acting subject and return only what it
may read: the scope is part of the SQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, case, false, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from telebridge.auscultation.models import AuscultationExam, AuscultationRecording, AuscultationVerdict
from telebridge.auscultation.policy import HUB_ROLES
from telebridge.identity.models import RoleAssignment, User
from telebridge.kit.subject import CLINICAL_ROLES, Role, Subject
from telebridge.network.models import Facility, Practitioner, PractitionerSpecialty
from telebridge.patients.models import CareRelationship, Patient

URGENCY_RANK = case({"emergency": 0, "urgent": 1, "routine": 2}, value=AuscultationExam.urgency, else_=3)
WORKLIST_STATUSES = ("flagged",)


@dataclass(frozen=True)
class ExamRow:
    exam: AuscultationExam
    patient_name: str
    requesting_name: str
    hub_name: str
    recordings: int


@dataclass(frozen=True)
class ListFilter:
    status: str | None = None
    murmur: str | None = None
    urgency: str | None = None
    facility_id: uuid.UUID | None = None  # the other side: a spoke (worklist) or a hub (requested)


def _with_names(stmt: Select[tuple[AuscultationExam]]) -> Select:  # type: ignore[type-arg]
    spoke, hub = aliased(Facility), aliased(Facility)
    count = (select(func.count(AuscultationRecording.id)).where(AuscultationRecording.exam_id == AuscultationExam.id)
             .correlate(AuscultationExam).scalar_subquery())
    return (stmt.add_columns(Patient.full_name, spoke.name, hub.name, count)
            .join(Patient, Patient.id == AuscultationExam.patient_id)
            .join(spoke, spoke.id == AuscultationExam.requesting_facility_id)
            .join(hub, hub.id == AuscultationExam.hub_facility_id))


def _filtered(stmt: Select, f: ListFilter, other_side) -> Select:  # type: ignore[no-untyped-def,type-arg]
    if f.status:
        stmt = stmt.where(AuscultationExam.status == f.status)
    if f.murmur:
        stmt = stmt.where(AuscultationExam.murmur == f.murmur)
    if f.urgency:
        stmt = stmt.where(AuscultationExam.urgency == f.urgency)
    if f.facility_id:
        stmt = stmt.where(other_side == f.facility_id)
    return stmt


async def _page(db: AsyncSession, stmt: Select, order: tuple, offset: int, limit: int  # type: ignore[type-arg]
                ) -> tuple[list[ExamRow], int]:
    total = int(await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = (await db.execute(_with_names(stmt).order_by(*order).offset(offset).limit(limit))).all()
    return [ExamRow(r[0], r[1], r[2], r[3], int(r[4] or 0)) for r in rows], total


async def worklist(db: AsyncSession, subject: Subject, f: ListFilter, *, offset: int, limit: int
                   ) -> tuple[list[ExamRow], int]:
    """Exams asked of the subject's hubs; by default those flagged and not yet reviewed, most
    urgent first, then most probable murmur first, then oldest first."""
    hubs = subject.facility_ids(*HUB_ROLES)
    stmt = select(AuscultationExam).where(AuscultationExam.hub_facility_id.in_(hubs) if hubs else false())
    if f.status is None:
        stmt = stmt.where(AuscultationExam.status.in_(WORKLIST_STATUSES))
    stmt = _filtered(stmt, f, AuscultationExam.requesting_facility_id)
    order = (URGENCY_RANK, AuscultationExam.probability_present.desc().nulls_last(), AuscultationExam.created_at,
             AuscultationExam.id)
    return await _page(db, stmt, order, offset, limit)


async def requested(db: AsyncSession, subject: Subject, f: ListFilter, *, offset: int, limit: int
                    ) -> tuple[list[ExamRow], int]:
    """Exams requested by the subject's facilities, newest first."""
    mine = subject.facility_ids(*CLINICAL_ROLES)
    stmt = select(AuscultationExam).where(AuscultationExam.requesting_facility_id.in_(mine) if mine else false())
    stmt = _filtered(stmt, f, AuscultationExam.hub_facility_id)
    return await _page(db, stmt, (AuscultationExam.created_at.desc(), AuscultationExam.id), offset, limit)


async def get_exam(db: AsyncSession, exam_id: uuid.UUID, *, for_update: bool = False) -> AuscultationExam | None:
    if for_update:
        return await db.scalar(select(AuscultationExam).where(AuscultationExam.id == exam_id).with_for_update())
    return await db.get(AuscultationExam, exam_id)


async def exam_row(db: AsyncSession, exam_id: uuid.UUID) -> ExamRow | None:
    row = (await db.execute(_with_names(select(AuscultationExam).where(AuscultationExam.id == exam_id)))).first()
    return ExamRow(row[0], row[1], row[2], row[3], int(row[4] or 0)) if row else None


async def recordings(db: AsyncSession, exam_id: uuid.UUID) -> list[AuscultationRecording]:
    stmt = (select(AuscultationRecording).where(AuscultationRecording.exam_id == exam_id)
            .order_by(AuscultationRecording.created_at, AuscultationRecording.id))
    return list((await db.scalars(stmt)).all())


async def get_recording(db: AsyncSession, recording_id: uuid.UUID) -> AuscultationRecording | None:
    return await db.get(AuscultationRecording, recording_id)


async def verdicts(db: AsyncSession, exam_id: uuid.UUID) -> list[tuple[AuscultationVerdict, str, str | None, str | None]]:
    """Newest first, with the cardiologist's name, title and licence number."""
    stmt = (select(AuscultationVerdict, User.display_name, Practitioner.title, Practitioner.licence_number)
            .join(User, User.id == AuscultationVerdict.user_id)
            .outerjoin(Practitioner, Practitioner.id == AuscultationVerdict.practitioner_id)
            .where(AuscultationVerdict.exam_id == exam_id)
            .order_by(AuscultationVerdict.created_at.desc(), AuscultationVerdict.id))
    return [(r[0], r[1], r[2], r[3]) for r in (await db.execute(stmt)).all()]


async def has_care(db: AsyncSession, patient_id: uuid.UUID, facility_id: uuid.UUID) -> bool:
    found = await db.scalar(select(CareRelationship.id).where(
        CareRelationship.patient_id == patient_id, CareRelationship.facility_id == facility_id,
        CareRelationship.ended_at.is_(None)).limit(1))
    return found is not None


async def practitioner_specialties(db: AsyncSession, practitioner_id: uuid.UUID) -> set[str]:
    rows = await db.scalars(select(PractitionerSpecialty.specialty_code)
                            .where(PractitionerSpecialty.practitioner_id == practitioner_id))
    return set(rows.all())


async def users_with_role(db: AsyncSession, role: Role, facility_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await db.scalars(select(RoleAssignment.user_id).join(User, User.id == RoleAssignment.user_id)
                            .where(RoleAssignment.role == role.value, RoleAssignment.facility_id == facility_id,
                                   User.is_active.is_(True)))
    return sorted(set(rows.all()))


async def facility_name(db: AsyncSession, facility_id: uuid.UUID) -> str:
    return str(await db.scalar(select(Facility.name).where(Facility.id == facility_id)) or "")


async def labelled(db: AsyncSession) -> list[tuple[AuscultationVerdict, AuscultationExam, AuscultationRecording]]:
    """Every recording of every reviewed exam, with the exam's latest verdict (the label)."""
    latest = (select(AuscultationVerdict.exam_id, func.max(AuscultationVerdict.created_at).label("at"))
              .group_by(AuscultationVerdict.exam_id).subquery())
    stmt = (select(AuscultationVerdict, AuscultationExam, AuscultationRecording)
            .join(latest, (latest.c.exam_id == AuscultationVerdict.exam_id) & (latest.c.at == AuscultationVerdict.created_at))
            .join(AuscultationExam, AuscultationExam.id == AuscultationVerdict.exam_id)
            .join(AuscultationRecording, AuscultationRecording.exam_id == AuscultationExam.id)
            .order_by(AuscultationExam.created_at, AuscultationExam.id, AuscultationRecording.created_at))
    return [(r[0], r[1], r[2]) for r in (await db.execute(stmt)).all()]

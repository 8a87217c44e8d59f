"""Every query of the imaging domain. List queries take the acting subject and return only
studies of patients it may read (the patients domain's readable clause, in the SQL)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.files.models import ClinicalFile
from telebridge.imaging.models import ImagingInstance, ImagingSeries, ImagingStudy
from telebridge.kit.subject import Subject
from telebridge.patients.models import Patient
from telebridge.patients.repository import readable_clause


@dataclass(frozen=True)
class StudyFilter:
    study_uid: str | None = None
    patient_id: uuid.UUID | None = None
    dicom_patient_id: str | None = None
    modality: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    context_type: str | None = None
    context_id: uuid.UUID | None = None


def _scoped(subject: Subject) -> Select[tuple[ImagingStudy]]:
    return select(ImagingStudy).join(Patient, Patient.id == ImagingStudy.patient_id).where(
        Patient.status == "active", readable_clause(subject))


async def search_studies(db: AsyncSession, subject: Subject, f: StudyFilter, *, offset: int = 0,
                         limit: int = 100) -> list[ImagingStudy]:
    stmt = _scoped(subject)
    if f.study_uid:
        stmt = stmt.where(ImagingStudy.study_uid == f.study_uid)
    if f.patient_id:
        stmt = stmt.where(ImagingStudy.patient_id == f.patient_id)
    if f.dicom_patient_id:
        stmt = stmt.where(ImagingStudy.dicom_patient_id == f.dicom_patient_id)
    if f.modality:
        stmt = stmt.where(ImagingStudy.modalities.contains(f.modality.upper()))
    if f.date_from:
        stmt = stmt.where(ImagingStudy.study_date >= f.date_from)
    if f.date_to:
        stmt = stmt.where(ImagingStudy.study_date <= f.date_to)
    if f.context_type:
        stmt = stmt.where(ImagingStudy.context_type == f.context_type, ImagingStudy.context_id == f.context_id)
    stmt = stmt.order_by(ImagingStudy.study_date.desc().nulls_last(), ImagingStudy.created_at.desc())
    return list((await db.scalars(stmt.offset(offset).limit(limit))).all())


async def get_study(db: AsyncSession, study_id: uuid.UUID) -> ImagingStudy | None:
    return await db.get(ImagingStudy, study_id)


async def study_by_uid(db: AsyncSession, patient_id: uuid.UUID, study_uid: str) -> ImagingStudy | None:
    return await db.scalar(select(ImagingStudy).where(ImagingStudy.patient_id == patient_id,
                                                      ImagingStudy.study_uid == study_uid))


async def series_by_uid(db: AsyncSession, study_id: uuid.UUID, series_uid: str) -> ImagingSeries | None:
    return await db.scalar(select(ImagingSeries).where(ImagingSeries.study_id == study_id,
                                                       ImagingSeries.series_uid == series_uid))


async def instance_by_uid(db: AsyncSession, series_id: uuid.UUID, sop_uid: str) -> ImagingInstance | None:
    return await db.scalar(select(ImagingInstance).where(ImagingInstance.series_id == series_id,
                                                         ImagingInstance.sop_uid == sop_uid))


async def series_of(db: AsyncSession, study_id: uuid.UUID) -> list[ImagingSeries]:
    stmt = select(ImagingSeries).where(ImagingSeries.study_id == study_id)
    return list((await db.scalars(stmt.order_by(ImagingSeries.series_number, ImagingSeries.series_uid))).all())


async def instances_of(db: AsyncSession, series_ids: list[uuid.UUID]) -> list[ImagingInstance]:
    if not series_ids:
        return []
    stmt = select(ImagingInstance).where(ImagingInstance.series_id.in_(series_ids))
    return list((await db.scalars(stmt.order_by(ImagingInstance.instance_number, ImagingInstance.sop_uid))).all())


async def get_instance(db: AsyncSession, instance_id: uuid.UUID) -> tuple[ImagingInstance, ImagingSeries, ImagingStudy] | None:
    row = (await db.execute(
        select(ImagingInstance, ImagingSeries, ImagingStudy)
        .join(ImagingSeries, ImagingSeries.id == ImagingInstance.series_id)
        .join(ImagingStudy, ImagingStudy.id == ImagingSeries.study_id)
        .where(ImagingInstance.id == instance_id))).first()
    return None if row is None else (row[0], row[1], row[2])


class FileRef(NamedTuple):
    id: uuid.UUID
    sha256: str


async def find_instance(db: AsyncSession, subject: Subject, study_uid: str, series_uid: str | None, sop_uid: str
                        ) -> tuple[ImagingInstance, ImagingSeries, ImagingStudy, FileRef] | None:
    """An instance (with its file's id and hash, unless destroyed) by its UIDs among the studies the
    subject may read. One query: frame rendering calls this once per frame."""
    stmt = (select(ImagingInstance, ImagingSeries, ImagingStudy, ClinicalFile.id, ClinicalFile.sha256)
            .join(ImagingSeries, ImagingSeries.id == ImagingInstance.series_id)
            .join(ImagingStudy, ImagingStudy.id == ImagingSeries.study_id)
            .join(ClinicalFile, ClinicalFile.id == ImagingInstance.file_id)
            .join(Patient, Patient.id == ImagingStudy.patient_id)
            .where(Patient.status == "active", readable_clause(subject), ImagingStudy.study_uid == study_uid,
                   ImagingInstance.sop_uid == sop_uid, ClinicalFile.destroyed_at.is_(None)))
    if series_uid:
        stmt = stmt.where(ImagingSeries.series_uid == series_uid)
    row = (await db.execute(stmt.limit(1))).first()
    return None if row is None else (row[0], row[1], row[2], FileRef(row[3], row[4]))


async def counts(db: AsyncSession, study_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
    """(series, instances) per study."""
    if not study_ids:
        return {}
    rows = await db.execute(
        select(ImagingSeries.study_id, func.count(func.distinct(ImagingSeries.id)), func.count(ImagingInstance.id))
        .join(ImagingInstance, ImagingInstance.series_id == ImagingSeries.id, isouter=True)
        .where(ImagingSeries.study_id.in_(study_ids)).group_by(ImagingSeries.study_id))
    return {sid: (int(s), int(i)) for sid, s, i in rows}

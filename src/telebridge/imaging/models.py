"""The imaging index: studies, series and instances of a patient, each instance pointing at the
clinical file that holds its untouched original (DICOM Part 10, encrypted by the files domain)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from telebridge.kit.db import Base, UUIDPk, utcnow


class ImagingStudy(UUIDPk, Base):
    __tablename__ = "imaging_studies"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    # Where the study came in (like files): a consultation, or the patient record itself.
    context_type: Mapped[str | None] = mapped_column(String(32))
    context_id: Mapped[uuid.UUID | None]
    study_uid: Mapped[str] = mapped_column(String(64), index=True)
    accession_number: Mapped[str | None] = mapped_column(String(64))
    study_date: Mapped[date | None] = mapped_column(Date)
    study_description: Mapped[str | None] = mapped_column(String(200))
    modalities: Mapped[str] = mapped_column(String(64), default="")  # "US,CT"
    # As written in the DICOM header (may differ from the registry: shown to catch mix-ups).
    dicom_patient_name: Mapped[str | None] = mapped_column(String(200))
    dicom_patient_id: Mapped[str | None] = mapped_column(String(64))
    dicom_birth_date: Mapped[date | None] = mapped_column(Date)
    dicom_sex: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # upload, pacs, dicomweb
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("patient_id", "study_uid", name="uq_imaging_studies_patient_study"),
        Index("ix_imaging_studies_context", "context_type", "context_id"),
    )


class ImagingSeries(UUIDPk, Base):
    __tablename__ = "imaging_series"

    study_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("imaging_studies.id", ondelete="CASCADE"), index=True)
    series_uid: Mapped[str] = mapped_column(String(64))
    modality: Mapped[str | None] = mapped_column(String(16))
    series_number: Mapped[int | None] = mapped_column(Integer)
    series_description: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("study_id", "series_uid", name="uq_imaging_series_study_series"),)


class ImagingInstance(UUIDPk, Base):
    __tablename__ = "imaging_instances"

    series_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("imaging_series.id", ondelete="CASCADE"), index=True)
    sop_uid: Mapped[str] = mapped_column(String(64), index=True)
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    transfer_syntax_uid: Mapped[str] = mapped_column(String(64))
    instance_number: Mapped[int | None] = mapped_column(Integer)
    number_of_frames: Mapped[int] = mapped_column(Integer, default=1)
    rows: Mapped[int | None] = mapped_column(Integer)
    columns: Mapped[int | None] = mapped_column(Integer)
    file_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinical_files.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("series_id", "sop_uid", name="uq_imaging_instances_series_sop"),)

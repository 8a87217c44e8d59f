"""Auscultation screening workflow: exams, their recordings (one per site and take) and the hub
cardiologist's verdicts (which override the algorithm and are the labels for retraining)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from telebridge.kit.db import Base, Timestamps, UUIDPk, utcnow

SITES = ("AV", "PV", "TV", "MV", "other")
URGENCIES = ("emergency", "urgent", "routine")
STATUSES = ("analysing", "flagged", "cleared", "reviewed", "rejected_quality")
MURMURS = ("Present", "Unknown", "Absent")
TIMINGS = ("systolic", "diastolic", "continuous")


class AuscultationExam(UUIDPk, Timestamps, Base):
    """One screening of one patient, asked by a bridge point of its cardiology hub."""

    __tablename__ = "auscultation_exams"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    requesting_facility_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facilities.id"), index=True)
    hub_facility_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facilities.id"), index=True)
    urgency: Mapped[str] = mapped_column(String(16), default="routine")
    status: Mapped[str] = mapped_column(String(20), default="analysing")
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    # Patient-level result of the algorithm (decision support), recomputed after every recording.
    murmur: Mapped[str | None] = mapped_column(String(8))
    probability_present: Mapped[float | None] = mapped_column(Float)
    timing: Mapped[str | None] = mapped_column(String(12))
    sites: Mapped[str | None] = mapped_column(String(40))  # comma-separated sites where it is heard
    model_version: Mapped[str | None] = mapped_column(String(64))
    analysed_at: Mapped[datetime | None]
    flagged_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_auscultation_exams_hub_status", "hub_facility_id", "status"),)


class AuscultationRecording(UUIDPk, Base):
    """One recording at one site; the original audio is a clinical file (files domain)."""

    __tablename__ = "auscultation_recordings"

    exam_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("auscultation_exams.id", ondelete="CASCADE"), index=True)
    site: Mapped[str] = mapped_column(String(8))
    file_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinical_files.id"))  # the stored original
    source: Mapped[str] = mapped_column(String(8), default="upload")  # upload, stream
    duration_s: Mapped[float] = mapped_column(Float)
    sample_rate: Mapped[int] = mapped_column(Integer)  # of the original
    channels: Mapped[int] = mapped_column(Integer)
    quality_ok: Mapped[bool] = mapped_column(Boolean)
    quality_code: Mapped[str] = mapped_column(String(16))
    periodicity: Mapped[float] = mapped_column(Float)
    heart_rate_bpm: Mapped[float | None] = mapped_column(Float)
    murmur: Mapped[str] = mapped_column(String(8))
    probability_present: Mapped[float] = mapped_column(Float)
    timing: Mapped[str | None] = mapped_column(String(12))
    # [[start_cs, end_cs, state], ...] in centiseconds (1=S1 2=systole 3=S2 4=diastole), for display.
    segments: Mapped[str] = mapped_column(Text)
    # The model's feature vector (JSON), so the exam result can be recombined without decoding audio again.
    features: Mapped[str] = mapped_column(Text)
    model_version: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuscultationVerdict(UUIDPk, Base):
    """The hub cardiologist's re-listening: overrides the algorithm; a later verdict supersedes."""

    __tablename__ = "auscultation_verdicts"

    exam_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("auscultation_exams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    practitioner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("practitioners.id"))
    murmur: Mapped[str] = mapped_column(String(8))  # the cardiologist's finding (the label)
    agrees: Mapped[bool] = mapped_column(Boolean)  # with the algorithm's result at the time
    algorithm_murmur: Mapped[str | None] = mapped_column(String(8))
    grade: Mapped[int | None] = mapped_column(Integer)  # Levine 1-6 when a murmur is heard
    timing: Mapped[str | None] = mapped_column(String(12))
    advice: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

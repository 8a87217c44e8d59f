"""Patient registry, care relationships, consent, identity merges, break-glass access."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from telebridge.kit.db import Base, Timestamps, UUIDPk


class Patient(UUIDPk, Timestamps, Base):
    __tablename__ = "patients"

    # 12-digit personal ID when the person has one; provisional identities (newborns,
    # foreigners) have none and are merged into the real record later.
    citizen_id: Mapped[str | None] = mapped_column(String(12))
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    full_name: Mapped[str] = mapped_column(String(200))
    search_text: Mapped[str] = mapped_column(String(200), index=True)
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(8))  # male, female, unknown
    province_code: Mapped[int | None] = mapped_column(ForeignKey("provinces.code"))
    commune_code: Mapped[int | None] = mapped_column(ForeignKey("communes.code"))
    address_line: Mapped[str | None] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(20))
    guardian_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active, merged
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patients.id"))
    registered_by_facility_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facilities.id"), index=True)

    __table_args__ = (
        # One active record per person.
        Index(
            "uq_patients_active_citizen_id", "citizen_id", unique=True,
            sqlite_where=text("citizen_id IS NOT NULL AND status = 'active'"),
            postgresql_where=text("citizen_id IS NOT NULL AND status = 'active'"),
        ),
    )


class CareRelationship(UUIDPk, Base):
    """Why a facility may see a patient: it registered them, or a consultation was asked of it."""

    __tablename__ = "care_relationships"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    facility_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facilities.id", ondelete="CASCADE"), index=True)
    basis: Mapped[str] = mapped_column(String(32))  # registration, consultation_request, referral
    basis_ref: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_care_facility_patient", "facility_id", "patient_id"),)


class Consent(UUIDPk, Base):
    """Consent per purpose with its evidence: what text version, when, who recorded it."""

    __tablename__ = "consents"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))  # teleconsultation, data_sharing, recording, teaching, research
    granted: Mapped[bool] = mapped_column(Boolean)
    text_version: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(32))  # written, verbal_witnessed, electronic
    given_by: Mapped[str] = mapped_column(String(200))  # the patient or a named guardian
    recorded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class PatientMerge(UUIDPk, Base):
    """A provisional identity merged into the real one; kept forever."""

    __tablename__ = "patient_merges"

    source_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    target_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    merged_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    merged_at: Mapped[datetime]
    moved_relationships: Mapped[int] = mapped_column(Integer, default=0)
    moved_consents: Mapped[int] = mapped_column(Integer, default=0)


class BreakGlassGrant(UUIDPk, Base):
    """Emergency access to one patient without a relationship: reason required, reviewed later."""

    __tablename__ = "break_glass_grants"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None]
    review_outcome: Mapped[str | None] = mapped_column(String(16))  # justified, unjustified
    review_note: Mapped[str | None] = mapped_column(Text)

"""Teleconsultation records: the request and its lifecycle, the minutes and the outcome.

The request's status changes only through ``states.py`` (one state machine); every change
is a ``ConsultationEvent`` on the case timeline. SLA deadlines are stored on the row, so
they survive restarts. Signed minutes never change: corrections are signed addenda.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from telebridge.kit.db import Base, Timestamps, UUIDPk, utcnow


class Consultation(UUIDPk, Timestamps, Base):
    __tablename__ = "consultations"

    reference: Mapped[str] = mapped_column(String(24), unique=True)  # HC-<yymmdd>-<6 hex>
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    requesting_facility_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facilities.id"), index=True)
    requested_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    requesting_practitioner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("practitioners.id"))
    hub_facility_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("facilities.id"), index=True)
    specialty_code: Mapped[str | None] = mapped_column(String(32))
    urgency: Mapped[str] = mapped_column(String(16), default="routine")  # emergency, urgent, routine
    mode: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    question: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # history, examination, vitals …
    consent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("consents.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    assigned_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    assigned_practitioner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("practitioners.id"))
    declined_hub_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    info_request: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime | None]
    routed_at: Mapped[datetime | None]  # when the current hub received it
    acknowledged_at: Mapped[datetime | None]
    concluded_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    ack_due_at: Mapped[datetime | None] = mapped_column(index=True)
    answer_due_at: Mapped[datetime | None] = mapped_column(index=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)  # 0, 1 coordinator, 2 moved on
    ack_breached_at: Mapped[datetime | None]
    answer_breached_at: Mapped[datetime | None]
    follow_up_7_due: Mapped[date | None] = mapped_column(Date)
    follow_up_30_due: Mapped[date | None] = mapped_column(Date)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("requested_by", "idempotency_key", name="uq_consultations_idempotency"),
        Index("ix_consultations_hub_status", "hub_facility_id", "status"),
    )


class ConsultationEvent(UUIDPk, Base):
    """One step of the case timeline (state changes, breaches, reminders, sessions)."""

    __tablename__ = "consultation_events"

    consultation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    hub_facility_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("facilities.id"))
    note: Mapped[str | None] = mapped_column(Text)


class Minutes(UUIDPk, Timestamps, Base):
    """Biên bản hội chẩn: drafted together, then signed; frozen at the first signature."""

    __tablename__ = "consultation_minutes"

    consultation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="draft")  # draft, signing, signed
    content: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    draft_version: Mapped[int] = mapped_column(Integer, default=0)
    chair_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    secretary_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    signed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class MinutesRevision(UUIDPk, Base):
    """Every saved draft of the minutes: who, when, why (unsigned edits keep versions)."""

    __tablename__ = "consultation_minutes_revisions"

    minutes_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultation_minutes.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    edited_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    edited_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str | None] = mapped_column(String(300))


class MinutesSignature(UUIDPk, Base):
    __tablename__ = "consultation_minutes_signatures"

    minutes_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultation_minutes.id", ondelete="CASCADE"), index=True)
    addendum_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("consultation_minutes_addenda.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    practitioner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("practitioners.id"))
    facility_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("facilities.id"))
    role: Mapped[str] = mapped_column(String(16))  # chair, secretary, participant, author
    signer_name: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("minutes_id", "addendum_id", "user_id", name="uq_minutes_signature_once"),)


class MinutesAddendum(UUIDPk, Base):
    """A signed correction of signed minutes; the original stays as it was."""

    __tablename__ = "consultation_minutes_addenda"

    minutes_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultation_minutes.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    author_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    author_name: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsultationOutcome(UUIDPk, Base):
    """What the requesting site did and how the patient fared, at 7 and 30 days."""

    __tablename__ = "consultation_outcomes"

    consultation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"), index=True)
    checkpoint: Mapped[int] = mapped_column(Integer)  # 7 or 30 (days)
    action_taken: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(20))  # treated_locally, transferred, died, unknown
    recorded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("consultation_id", "checkpoint", name="uq_consultation_outcomes_checkpoint"),)

"""Live sessions: the schedule, who is invited from which site, who attended and how well."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from telebridge.kit.db import Base, Timestamps, UUIDPk

MAX_SITES = 6  # the hub + 5 bridge points
STATUSES = ("scheduled", "live", "ended", "cancelled")


class LiveSession(UUIDPk, Timestamps, Base):
    __tablename__ = "live_sessions"

    consultation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"), index=True)
    host_facility_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facilities.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(index=True)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))


class LiveSessionSite(UUIDPk, Base):
    """An invited site (facility); the host facility is one of them."""

    __tablename__ = "live_session_sites"

    live_session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("live_sessions.id", ondelete="CASCADE"), index=True)
    facility_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facilities.id"), index=True)

    __table_args__ = (UniqueConstraint("live_session_id", "facility_id", name="uq_live_session_sites_site"),)


class LiveSessionInvitee(UUIDPk, Base):
    """A named person invited for one of the sites."""

    __tablename__ = "live_session_invitees"

    live_session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("live_sessions.id", ondelete="CASCADE"), index=True)
    facility_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facilities.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)

    __table_args__ = (UniqueConstraint("live_session_id", "user_id", name="uq_live_session_invitees_user"),)


class LiveSessionAttendance(UUIDPk, Base):
    """One presence of a person in the room (a reconnect after leaving is a new row)."""

    __tablename__ = "live_session_attendance"

    live_session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("live_sessions.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    facility_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("facilities.id"))
    joined_at: Mapped[datetime]
    left_at: Mapped[datetime | None]
    quality: Mapped[dict | None] = mapped_column(JSON)  # type: ignore[type-arg]

    __table_args__ = (Index("ix_live_session_attendance_session_user", "live_session_id", "user_id"),)


class LiveSessionRecording(UUIDPk, Base):
    """One recording period of a session (Record … Stop), made by Janus, kept as clinical files.

    ``status``: recording → processing (queued) → converting (the background job turns Janus's
    .mjr files into WebM) → ready (``file_ids``: the consultation's clinical files, one per
    participant) | empty (no media was recorded) | failed (``error``; raw files kept).
    ``feeds`` maps each Janus feed seen while recording to who published it and from where.
    """

    __tablename__ = "live_session_recordings"

    live_session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("live_sessions.id"), index=True)
    started_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="recording")
    feeds: Mapped[dict | None] = mapped_column(JSON)  # type: ignore[type-arg]
    file_ids: Mapped[list | None] = mapped_column(JSON)  # type: ignore[type-arg]
    error: Mapped[str | None] = mapped_column(String(64))

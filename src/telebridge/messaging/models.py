"""Consultation threads (messages, read receipts) and in-app notifications."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from telebridge.kit.db import Base, UUIDPk, utcnow


class Message(UUIDPk, Base):
    """A message of a consultation's thread: persisted before it is delivered."""

    __tablename__ = "messages"

    consultation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"))
    author_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    author_name: Mapped[str] = mapped_column(String(200))
    author_facility_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("facilities.id"))
    body: Mapped[str] = mapped_column(Text)
    mentions: Mapped[list[str]] = mapped_column(JSON, default=list)  # user ids
    file_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    client_key: Mapped[str | None] = mapped_column(String(64))  # the sender's idempotency key
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_messages_consultation_created", "consultation_id", "created_at"),
        UniqueConstraint("author_user_id", "client_key", name="uq_messages_client_key"),
    )


class ThreadRead(Base):
    """How far a user has read a thread (read receipts, unread counts)."""

    __tablename__ = "thread_reads"

    consultation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(default=utcnow)  # every message up to this time is read


class Notification(UUIDPk, Base):
    """An in-app notification. ``title`` is an English msgid, translated when shown."""

    __tablename__ = "notifications"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    link: Mapped[str] = mapped_column(String(300))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_notifications_user_created", "user_id", "created_at"),)

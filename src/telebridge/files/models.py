"""Clinical files: encrypted blobs (one per content hash), the files that point at them, and
resumable upload sessions."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from telebridge.kit.db import Base, UUIDPk, utcnow

Big = BigInteger().with_variant(Integer, "sqlite")


class FileBlob(UUIDPk, Base):
    """Encrypted content stored once per SHA-256. ``wrapped_key`` is the data key sealed by a
    master key; setting it to NULL (crypto-shredding) makes the object unreadable for good."""

    __tablename__ = "file_blobs"

    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(Big)
    object_key: Mapped[str] = mapped_column(String(200))
    key_id: Mapped[str] = mapped_column(String(16), index=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    shredded_at: Mapped[datetime | None]


class ClinicalFile(UUIDPk, Base):
    __tablename__ = "clinical_files"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    blob_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("file_blobs.id"), index=True)
    context_type: Mapped[str | None] = mapped_column(String(32))
    context_id: Mapped[uuid.UUID | None]
    kind: Mapped[str] = mapped_column(String(16))
    media_type: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Big)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    retention_until: Mapped[date] = mapped_column(Date, index=True)
    # Previews are made by a background job: pending | ready | none | failed.
    preview_status: Mapped[str] = mapped_column(String(16), default="pending")
    preview_blob_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("file_blobs.id"))
    destroyed_at: Mapped[datetime | None]
    destroyed_batch: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_clinical_files_context", "context_type", "context_id"),)


class UploadSession(UUIDPk, Base):
    """A resumable (tus 1.0) upload. The bytes received so far sit in an encrypted spool file
    under ``files_dir/uploads``; ``spool_key`` is that file's key, wrapped like a blob key."""

    __tablename__ = "file_uploads"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    context_type: Mapped[str | None] = mapped_column(String(32))
    context_id: Mapped[uuid.UUID | None]
    filename: Mapped[str] = mapped_column(String(255))
    declared_type: Mapped[str | None] = mapped_column(String(100))
    length: Mapped[int] = mapped_column(Big)
    offset: Mapped[int] = mapped_column(Big, default=0)
    key_id: Mapped[str] = mapped_column(String(16))
    spool_key: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done | failed
    error_code: Mapped[str | None] = mapped_column(String(32))
    file_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clinical_files.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    expires_at: Mapped[datetime]

"""Every query of the files domain."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.files.models import ClinicalFile, FileBlob, UploadSession


async def get_file(db: AsyncSession, file_id: uuid.UUID) -> ClinicalFile | None:
    return await db.get(ClinicalFile, file_id)


async def get_blob(db: AsyncSession, blob_id: uuid.UUID) -> FileBlob | None:
    return await db.get(FileBlob, blob_id)


async def for_patient(db: AsyncSession, patient_id: uuid.UUID, *, limit: int = 500) -> list[ClinicalFile]:
    rows = await db.scalars(select(ClinicalFile).where(ClinicalFile.patient_id == patient_id,
                                                       ClinicalFile.destroyed_at.is_(None))
                            .order_by(ClinicalFile.created_at.desc()).limit(limit))
    return list(rows)


async def for_context(db: AsyncSession, context_type: str, context_id: uuid.UUID) -> list[ClinicalFile]:
    rows = await db.scalars(select(ClinicalFile).where(ClinicalFile.context_type == context_type,
                                                       ClinicalFile.context_id == context_id,
                                                       ClinicalFile.destroyed_at.is_(None))
                            .order_by(ClinicalFile.created_at))
    return list(rows)


async def expired(db: AsyncSession, today: date, limit: int = 1000) -> list[ClinicalFile]:
    rows = await db.scalars(select(ClinicalFile).where(ClinicalFile.retention_until < today,
                                                       ClinicalFile.destroyed_at.is_(None))
                            .order_by(ClinicalFile.retention_until).limit(limit))
    return list(rows)


async def live_references(db: AsyncSession, blob_id: uuid.UUID) -> int:
    """Files not yet destroyed that use the blob (as content or as preview)."""
    return int(await db.scalar(select(func.count()).select_from(ClinicalFile).where(
        ClinicalFile.destroyed_at.is_(None),
        (ClinicalFile.blob_id == blob_id) | (ClinicalFile.preview_blob_id == blob_id))) or 0)


async def blobs_not_under(db: AsyncSession, key_id: str, limit: int = 500) -> list[FileBlob]:
    rows = await db.scalars(select(FileBlob).where(FileBlob.key_id != key_id, FileBlob.wrapped_key.is_not(None))
                            .limit(limit))
    return list(rows)


async def uploads_not_under(db: AsyncSession, key_id: str, limit: int = 500) -> list[UploadSession]:
    rows = await db.scalars(select(UploadSession).where(UploadSession.key_id != key_id,
                                                        UploadSession.status == "open").limit(limit))
    return list(rows)


async def get_upload(db: AsyncSession, upload_id: uuid.UUID, *, for_update: bool = False) -> UploadSession | None:
    stmt = select(UploadSession).where(UploadSession.id == upload_id)
    if for_update:
        stmt = stmt.with_for_update()
    return await db.scalar(stmt)


async def final_upload_of(db: AsyncSession, file_id: uuid.UUID) -> UploadSession | None:
    """The (final or whole) upload that made this file."""
    return await db.scalar(select(UploadSession).where(UploadSession.file_id == file_id,
                                                       UploadSession.context_type.is_distinct_from("upload_part"))
                           .order_by(UploadSession.created_at).limit(1))


async def expired_uploads(db: AsyncSession, now, limit: int = 1000) -> list[UploadSession]:  # type: ignore[no-untyped-def]
    rows = await db.scalars(select(UploadSession).where(UploadSession.status == "open", UploadSession.expires_at < now)
                            .limit(limit))
    return list(rows)

"""Output models of the files domain."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict


class FileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    context_type: str | None
    context_id: uuid.UUID | None
    kind: str
    media_type: str
    filename: str
    size: int
    sha256: str
    created_at: datetime
    uploaded_by: uuid.UUID
    retention_until: date
    preview_status: str
    download_url: str | None = None
    preview_url: str | None = None


class FileList(BaseModel):
    items: list[FileOut]


class UploadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    filename: str
    length: int
    offset: int
    status: str
    error_code: str | None
    file_id: uuid.UUID | None

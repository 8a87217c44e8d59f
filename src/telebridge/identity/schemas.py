from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class TokenRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    totp: str | None = Field(default=None, max_length=20, description="6-digit code or a recovery code")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class AssignmentOut(BaseModel):
    role: str
    facility_id: uuid.UUID | None
    province_code: int | None


class MeOut(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str
    assignments: list[AssignmentOut]

"""Input and output of the live-session API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class InviteeIn(BaseModel):
    user_id: uuid.UUID
    facility_id: uuid.UUID


class ScheduleIn(BaseModel):
    consultation_id: uuid.UUID
    title: str = Field(min_length=1, max_length=200)
    starts_at: datetime
    duration_minutes: int = Field(ge=5, le=480)
    facility_ids: list[uuid.UUID] = Field(default_factory=list, max_length=10)
    invitees: list[InviteeIn] = Field(default_factory=list, max_length=60)


class InviteIn(BaseModel):
    facility_id: uuid.UUID
    user_ids: list[uuid.UUID] = Field(default_factory=list, max_length=30)


class SiteOut(BaseModel):
    facility_id: uuid.UUID
    name: str


class InviteeOut(BaseModel):
    user_id: uuid.UUID
    name: str
    facility_id: uuid.UUID
    site: str


class SessionOut(BaseModel):
    id: uuid.UUID
    consultation_id: uuid.UUID
    host_facility_id: uuid.UUID
    title: str
    starts_at: datetime
    duration_minutes: int
    status: str
    sites: list[SiteOut] = Field(default_factory=list)
    invitees: list[InviteeOut] = Field(default_factory=list)


class JoinOut(BaseModel):
    token: str
    expires_at: int
    ws_path: str
    ice_servers: list[dict[str, object]]


class RecordingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    live_session_id: uuid.UUID
    status: str
    started_at: datetime
    stopped_at: datetime | None = None
    file_ids: list[uuid.UUID] | None = None

"""Input and output models of the patients domain (JSON API; the pages parse into the same inputs)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Sex = Literal["male", "female", "unknown"]
Purpose = Literal["teleconsultation", "data_sharing", "recording", "teaching", "research"]
ConsentMethod = Literal["written", "verbal_witnessed", "electronic"]
ReviewOutcome = Literal["justified", "unjustified"]
PURPOSES: tuple[str, ...] = Purpose.__args__  # type: ignore[attr-defined]
METHODS: tuple[str, ...] = ConsentMethod.__args__  # type: ignore[attr-defined]
SEXES: tuple[str, ...] = Sex.__args__  # type: ignore[attr-defined]

# Text limits are checked by the service (kit.validators.clean_text → a clear 400); the
# bounds here only stop absurd payloads.
_BIG = 4000


class _Form(BaseModel):
    """Empty form fields count as not given."""

    model_config = ConfigDict(str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


class PatientFields(_Form):
    full_name: str | None = Field(default=None, max_length=_BIG)
    citizen_id: str | None = Field(default=None, max_length=_BIG)
    date_of_birth: date | None = None
    sex: Sex | None = None
    province_code: int | None = None
    commune_code: int | None = None
    address_line: str | None = Field(default=None, max_length=_BIG)
    phone: str | None = Field(default=None, max_length=_BIG)
    guardian_name: str | None = Field(default=None, max_length=_BIG)


class PatientIn(PatientFields):
    facility_id: uuid.UUID | None = Field(default=None, description="Registering facility, when the subject has several")


class PatientUpdate(PatientFields):
    """Only the fields sent are changed; send null to clear an optional field."""


class PatientSummary(BaseModel):
    id: uuid.UUID
    full_name: str
    citizen_id: str | None
    date_of_birth: date | None
    age: int | None
    sex: str
    provisional: bool
    province_code: int | None
    province_name: str | None


class EmergencyStub(BaseModel):
    """A patient who exists but whom the searcher may not read: enough to ask for emergency access."""

    id: uuid.UUID
    masked_name: str


class PatientPage(BaseModel):
    items: list[PatientSummary]
    total: int
    page: int
    per_page: int
    emergency_stub: EmergencyStub | None = None


class CareOut(BaseModel):
    facility_id: uuid.UUID
    facility_name: str
    basis: str
    since: datetime
    ended_at: datetime | None


class ConsentIn(_Form):
    purpose: Purpose
    granted: bool
    text_version: str | None = Field(default=None, max_length=_BIG, description="e.g. TB-CONSENT-2025.1")
    method: ConsentMethod
    given_by: str | None = Field(default=None, max_length=_BIG, description="The patient, or the named guardian")


class ConsentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    purpose: str
    granted: bool
    text_version: str
    method: str
    given_by: str
    recorded_by: uuid.UUID
    recorded_by_name: str | None = None
    recorded_at: datetime
    withdrawn_at: datetime | None
    withdrawn_by: uuid.UUID | None


class MergeIn(BaseModel):
    target_id: uuid.UUID
    reason: str | None = Field(default=None, max_length=_BIG)


class MergeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    source_id: uuid.UUID
    target_id: uuid.UUID
    reason: str
    merged_by: uuid.UUID
    merged_at: datetime
    moved_relationships: int
    moved_consents: int


class PatientDetail(PatientSummary):
    commune_code: int | None
    commune_name: str | None
    address_line: str | None
    phone: str | None
    guardian_name: str | None
    status: str
    registered_by_facility_id: uuid.UUID
    created_at: datetime
    access_basis: str
    care_relationships: list[CareOut]
    consents: list[ConsentOut]
    merges: list[MergeOut]


class BreakGlassIn(BaseModel):
    reason: str | None = Field(default=None, max_length=_BIG)


class GrantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: uuid.UUID
    user_name: str | None = None
    patient_id: uuid.UUID
    reason: str
    granted_at: datetime
    expires_at: datetime
    reviewed_by: uuid.UUID | None
    reviewed_at: datetime | None
    review_outcome: str | None
    review_note: str | None


class GrantPage(BaseModel):
    items: list[GrantOut]
    total: int
    page: int
    per_page: int


class ReviewIn(_Form):
    outcome: ReviewOutcome
    note: str | None = Field(default=None, max_length=_BIG)

"""Input and output shapes of the teleconsultation API and forms."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Urgency = Literal["emergency", "urgent", "routine"]
Mode = Literal["direct_to_patient", "patient_at_receiving_facility", "inter_facility_support", "remote_consultation"]
Recommendation = Literal["treat_locally", "transfer", "further_investigations", "follow_up"]
OutcomeKind = Literal["treated_locally", "transferred", "died", "unknown"]
_TEXT = 20_000
_LINE = 300


class _Form(BaseModel):
    """Empty form fields count as not given."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        return None if v == "" else v


class Vitals(_Form):
    temperature_c: float | None = Field(default=None, ge=25, le=45)
    heart_rate: int | None = Field(default=None, ge=0, le=350)
    respiratory_rate: int | None = Field(default=None, ge=0, le=150)
    bp_systolic: int | None = Field(default=None, ge=0, le=300)
    bp_diastolic: int | None = Field(default=None, ge=0, le=250)
    spo2: int | None = Field(default=None, ge=0, le=100)
    weight_kg: float | None = Field(default=None, ge=0.2, le=400)


class RequestFields(_Form):
    """What the requesting clinician writes; every field optional while drafting."""

    specialty_code: str | None = Field(default=None, max_length=32)
    urgency: Urgency | None = None
    mode: Mode | None = None
    hub_facility_id: uuid.UUID | None = None
    question: str | None = Field(default=None, max_length=_TEXT)
    history: str | None = Field(default=None, max_length=_TEXT)
    examination: str | None = Field(default=None, max_length=_TEXT)
    investigations: str | None = Field(default=None, max_length=_TEXT)
    current_treatment: str | None = Field(default=None, max_length=_TEXT)
    vitals: Vitals | None = None


class ConsentGiven(_Form):
    """The patient's consent taken with the request, when none is on record yet."""

    given_by: str = Field(min_length=2, max_length=200)
    method: Literal["written", "verbal_witnessed", "electronic"]
    text_version: str = Field(default="TB-CONSENT-2025.1", max_length=32)


class ConsultationCreate(RequestFields):
    patient_id: uuid.UUID
    facility_id: uuid.UUID | None = Field(default=None, description="Requesting facility (default: your only one)")
    consent: ConsentGiven | None = None
    submit: bool = Field(default=True, description="Send now (false: keep as a draft)")


class SubmitIn(RequestFields):
    consent: ConsentGiven | None = None


class ReasonIn(_Form):
    reason: str = Field(min_length=3, max_length=2000)


class ReassignIn(_Form):
    user_id: uuid.UUID


class ConclusionItem(_Form):
    issue: str = Field(min_length=1, max_length=_LINE)
    conclusion: str = Field(min_length=1, max_length=_TEXT)


class Participant(_Form):
    user_id: uuid.UUID | None = None
    name: str = Field(min_length=2, max_length=200)
    title: str | None = Field(default=None, max_length=60)
    licence_number: str | None = Field(default=None, max_length=20)
    site: str | None = Field(default=None, max_length=200)
    role: Literal["chair", "secretary", "participant"] = "participant"


class MinutesIn(_Form):
    session_start: datetime | None = None
    session_end: datetime | None = None
    participants: list[Participant] = Field(default_factory=list, max_length=40)
    discussion: str | None = Field(default=None, max_length=_TEXT)
    conclusions: list[ConclusionItem] = Field(default_factory=list, max_length=30)
    diagnoses: list[str] = Field(default_factory=list, max_length=20, description="ICD-10 codes")
    recommendation: Recommendation | None = None
    recommendation_text: str | None = Field(default=None, max_length=_TEXT)
    reason: str | None = Field(default=None, max_length=300, description="Why this edit (kept with the version)")
    version: int | None = Field(default=None, description="The minutes version you edited (conflict check)")


class SignIn(_Form):
    password: str = Field(min_length=1, max_length=200)


class AddendumIn(_Form):
    text: str = Field(min_length=3, max_length=_TEXT)
    password: str = Field(min_length=1, max_length=200)


class OutcomeIn(_Form):
    checkpoint: Literal[7, 30]
    action_taken: str = Field(min_length=3, max_length=_TEXT)
    outcome: OutcomeKind


class MessageIn(_Form):
    body: str = Field(max_length=100_000)
    client_key: str | None = Field(default=None, max_length=64)
    mentions: list[uuid.UUID] = Field(default_factory=list, max_length=20)


class ConsultationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    reference: str
    status: str
    urgency: str
    specialty_code: str | None
    mode: str | None
    patient_id: uuid.UUID
    requesting_facility_id: uuid.UUID
    hub_facility_id: uuid.UUID | None
    assigned_user_id: uuid.UUID | None
    question: str | None
    summary: dict[str, Any]
    info_request: str | None
    submitted_at: datetime | None
    acknowledged_at: datetime | None
    concluded_at: datetime | None
    closed_at: datetime | None
    ack_due_at: datetime | None
    answer_due_at: datetime | None
    escalation_level: int
    ack_breached_at: datetime | None
    answer_breached_at: datetime | None
    version: int


class QueueItem(BaseModel):
    id: uuid.UUID
    reference: str
    status: str
    urgency: str
    specialty_code: str | None
    requesting_facility: str
    hub_facility: str | None
    patient_label: str
    submitted_at: datetime | None
    ack_due_at: datetime | None
    answer_due_at: datetime | None
    breached: bool
    assigned_to_me: bool
    unread: int = 0


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    author_user_id: uuid.UUID
    author_name: str
    body: str
    created_at: datetime
    mentions: list[str]

"""Input and output models of the auscultation API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Urgency = Literal["emergency", "urgent", "routine"]
Murmur = Literal["Present", "Unknown", "Absent"]
Site = Literal["AV", "PV", "TV", "MV", "other"]
Timing = Literal["systolic", "diastolic", "continuous"]
Status = Literal["analysing", "flagged", "cleared", "reviewed", "rejected_quality"]


class ExamIn(BaseModel):
    patient_id: uuid.UUID
    urgency: Urgency = "routine"


class VerdictIn(BaseModel):
    murmur: Murmur = Field(description="The cardiologist's finding after re-listening")
    grade: int | None = Field(None, ge=1, le=6, description="Levine grade 1-6, when a murmur is heard")
    timing: Timing | None = None
    advice: str = Field(max_length=4000)


class RecordingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    site: str
    source: str
    file_id: uuid.UUID
    duration_s: float
    sample_rate: int
    channels: int
    quality_ok: bool
    quality_code: str
    quality_message: str = ""
    heart_rate_bpm: float | None
    murmur: str
    probability_present: float
    timing: str | None
    model_version: str
    created_at: datetime


class VerdictOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    murmur: str
    agrees: bool
    algorithm_murmur: str | None
    grade: int | None
    timing: str | None
    advice: str
    created_at: datetime
    cardiologist_name: str = ""
    cardiologist_title: str | None = None
    licence_number: str | None = None


class ExamOut(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    patient_name: str
    requesting_facility_id: uuid.UUID
    requesting_facility_name: str
    hub_facility_id: uuid.UUID
    hub_facility_name: str
    urgency: str
    status: str
    murmur: str | None
    probability_present: float | None
    timing: str | None
    sites: list[str]
    model_version: str | None
    recordings: int
    created_at: datetime
    analysed_at: datetime | None
    disclaimer: str


class ExamDetail(ExamOut):
    final_murmur: str | None = Field(description="The latest verdict's finding, else the algorithm's")
    recording_results: list[RecordingOut]
    verdicts: list[VerdictOut]
    may_add_recordings: bool
    may_give_verdict: bool


class ExamPage(BaseModel):
    items: list[ExamOut]
    total: int
    page: int
    per_page: int


class AddedRecording(BaseModel):
    recording: RecordingOut
    exam: ExamOut

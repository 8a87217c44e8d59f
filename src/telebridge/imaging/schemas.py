"""Input and output models of the imaging API."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class InstanceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    sop_uid: str
    sop_class_uid: str
    instance_number: int | None
    number_of_frames: int
    rows: int | None
    columns: int | None
    file_id: uuid.UUID


class SeriesOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    series_uid: str
    modality: str | None
    series_number: int | None
    series_description: str | None
    instances: list[InstanceOut] = []


class ViewerInstanceOut(BaseModel):
    sop_uid: str
    frames: int
    url: str


class ViewerSeriesOut(BaseModel):
    """The browser viewer's sources for one series: fetch each ``url`` with ``Accept: accept``."""

    series_uid: str
    modality: str | None
    decompressed: bool
    accept: str
    instances: list[ViewerInstanceOut]


class StudyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    patient_id: uuid.UUID
    context_type: str | None
    context_id: uuid.UUID | None
    study_uid: str
    accession_number: str | None
    study_date: date | None
    study_description: str | None
    modalities: str
    source: str
    created_at: datetime


class StudyDetail(StudyOut):
    dicom_patient_name: str | None
    dicom_patient_id: str | None
    series: list[SeriesOut] = []


class IngestOut(BaseModel):
    study: StudyOut
    instance: InstanceOut
    created: bool


class PullIn(BaseModel):
    patient_id: uuid.UUID
    study_uid: str = Field(min_length=1, max_length=64, pattern=r"^[0-9.]+$")
    consultation_id: uuid.UUID | None = None


class PullOut(BaseModel):
    study_id: uuid.UUID
    instances: int
    new: int


class PushOut(BaseModel):
    sent: int
    stored: int
    failed: int


class PacsStudyOut(BaseModel):
    study_uid: str
    patient_name: str | None
    patient_id: str | None
    study_date: str | None
    description: str | None
    modalities: str | None
    accession_number: str | None
    instances: int | None


class TeachingCopyOut(BaseModel):
    filename: str
    size: int
    warnings: list[str]
    content_base64: str

"""/api/v1/auscultation: screening exams, recordings (multipart upload), the hub worklist, verdicts.

Live streaming from a stethoscope is a WebSocket at /auscultation/exams/{exam_id}/stream (see views).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response

from telebridge.auscultation import repository as repo
from telebridge.auscultation import service
from telebridge.auscultation.schemas import (
    AddedRecording,
    ExamDetail,
    ExamIn,
    ExamPage,
    Murmur,
    Site,
    Status,
    Urgency,
    VerdictIn,
    VerdictOut,
)
from telebridge.identity.deps import ApiSubject, Db

router = APIRouter(prefix="/api/v1/auscultation", tags=["auscultation"])
PageNo = Annotated[int, Query(ge=1, le=10_000)]
PerPage = Annotated[int, Query(ge=1, le=100)]


async def read_upload(file: UploadFile) -> bytes:
    """At most the service's limit plus one byte: enough to refuse an oversize file clearly."""
    return await file.read(service.MAX_AUDIO_BYTES + 1)


@router.post("/exams", response_model=ExamDetail, status_code=201)
async def create_exam(body: ExamIn, subject: ApiSubject, db: Db) -> ExamDetail:
    exam = await service.create_exam(db, subject, data=body)
    return await service.detail(db, subject, exam_id=exam.id)


@router.get("/exams", response_model=ExamPage)
async def requested(subject: ApiSubject, db: Db, status: Status | None = None, murmur: Murmur | None = None,
                    urgency: Urgency | None = None, page: PageNo = 1, per_page: PerPage = 20) -> ExamPage:
    """Exams requested by my facilities, newest first."""
    items, total = await service.requested(db, subject, f=repo.ListFilter(status=status, murmur=murmur, urgency=urgency),
                                           offset=(page - 1) * per_page, limit=per_page)
    return ExamPage(items=items, total=total, page=page, per_page=per_page)


@router.get("/worklist", response_model=ExamPage)
async def worklist(subject: ApiSubject, db: Db, status: Status | None = None, murmur: Murmur | None = None,
                   urgency: Urgency | None = None, spoke_id: uuid.UUID | None = None, page: PageNo = 1,
                   per_page: PerPage = 20) -> ExamPage:
    """My hubs' re-listening queue: flagged exams (unless ``status`` says otherwise), most urgent first,
    then by probability of a murmur."""
    f = repo.ListFilter(status=status, murmur=murmur, urgency=urgency, facility_id=spoke_id)
    items, total = await service.worklist(db, subject, f=f, offset=(page - 1) * per_page, limit=per_page)
    return ExamPage(items=items, total=total, page=page, per_page=per_page)


@router.get("/exams/{exam_id}", response_model=ExamDetail)
async def read_exam(exam_id: uuid.UUID, subject: ApiSubject, db: Db) -> ExamDetail:
    return await service.detail(db, subject, exam_id=exam_id)


@router.post("/exams/{exam_id}/recordings", response_model=AddedRecording, status_code=201)
async def add_recording(exam_id: uuid.UUID, subject: ApiSubject, db: Db, site: Annotated[Site, Form()],
                        file: Annotated[UploadFile, File(description="WAV, FLAC or MP3; any rate, channels, depth")]
                        ) -> AddedRecording:
    rec, exam = await service.add_upload(db, subject, exam_id=exam_id, site=site, data=await read_upload(file),
                                         filename=file.filename)
    row = await repo.exam_row(db, exam.id)
    assert row is not None
    return AddedRecording(recording=service.recording_out(rec), exam=service.exam_out(row))


@router.post("/exams/{exam_id}/verdicts", response_model=VerdictOut, status_code=201)
async def give_verdict(exam_id: uuid.UUID, body: VerdictIn, subject: ApiSubject, db: Db) -> VerdictOut:
    verdict = await service.give_verdict(db, subject, exam_id=exam_id, data=body)
    return VerdictOut.model_validate(verdict)


@router.get("/recordings/{recording_id}/audio", response_class=Response)
async def recording_audio(recording_id: uuid.UUID, subject: ApiSubject, db: Db) -> Response:
    """The original audio as uploaded (every playback is audited by the files domain)."""
    _rec, media_type, data = await service.audio(db, subject, recording_id=recording_id)
    return Response(data, media_type=media_type, headers={"cache-control": "no-store"})

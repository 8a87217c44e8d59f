"""/api/v1/consultations: ask, route, answer, talk, conclude, close the loop.

``POST /api/v1/consultations`` honours an ``Idempotency-Key`` header (or ``idempotency_key``
field): a retried create returns the first request with 200 instead of 201.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import JSONResponse

from telebridge.consultations import minutes, presenters, service
from telebridge.consultations.schemas import (
    AddendumIn,
    ConsultationCreate,
    ConsultationOut,
    MessageIn,
    MessageOut,
    MinutesIn,
    OutcomeIn,
    QueueItem,
    ReasonIn,
    ReassignIn,
    RequestFields,
    SignIn,
    SubmitIn,
)
from telebridge.identity.deps import ApiSubject, Db
from telebridge.messaging import service as messaging

router = APIRouter(prefix="/api/v1/consultations", tags=["consultations"])


@router.post("", response_model=ConsultationOut, status_code=201)
async def create(body: ConsultationCreate, subject: ApiSubject, db: Db, response: Response,
                 idempotency_key: Annotated[str | None, Header(max_length=64)] = None) -> Any:
    fields = RequestFields.model_validate(body.model_dump(include=set(RequestFields.model_fields), exclude_unset=True))
    c, created = await service.create(db, subject, patient_id=body.patient_id, facility_id=body.facility_id,
                                      data=fields, idempotency_key=idempotency_key)
    if created and body.submit:
        await service.submit(db, subject, consultation_id=c.id, data=RequestFields(), consent=body.consent)
    if not created:
        response.status_code = 200
    return c


@router.get("", response_model=list[QueueItem])
async def worklist(subject: ApiSubject, db: Db, view: Literal["mine", "queue", "assigned", "open"] = "mine",
                   status: Annotated[list[str] | None, Query()] = None, urgency: str | None = None,
                   q: Annotated[str | None, Query(max_length=40)] = None,
                   page: Annotated[int, Query(ge=1, le=1000)] = 1) -> list[QueueItem]:
    return await presenters.worklist(db, subject, view=view, statuses=status, urgency=urgency, q=q, page=page)


@router.get("/{consultation_id}", response_model=ConsultationOut)
async def read(consultation_id: uuid.UUID, subject: ApiSubject, db: Db) -> Any:
    return await service.readable(db, subject, consultation_id)


@router.get("/{consultation_id}/hubs")
async def hubs(consultation_id: uuid.UUID, subject: ApiSubject, db: Db) -> list[dict[str, str]]:
    c = await service.readable(db, subject, consultation_id, action="route")
    return [{"id": str(h.id), "name": h.name} for h in await service.candidate_hubs(db, c)]


@router.patch("/{consultation_id}", response_model=ConsultationOut)
async def save_draft(consultation_id: uuid.UUID, body: RequestFields, subject: ApiSubject, db: Db) -> Any:
    return await service.save_draft(db, subject, consultation_id=consultation_id, data=body)


@router.post("/{consultation_id}/submit", response_model=ConsultationOut)
async def submit(consultation_id: uuid.UUID, body: SubmitIn, subject: ApiSubject, db: Db) -> Any:
    fields = RequestFields.model_validate(body.model_dump(include=set(RequestFields.model_fields), exclude_unset=True))
    return await service.submit(db, subject, consultation_id=consultation_id, data=fields, consent=body.consent)


@router.post("/{consultation_id}/accept", response_model=ConsultationOut)
async def accept(consultation_id: uuid.UUID, subject: ApiSubject, db: Db) -> Any:
    return await service.accept(db, subject, consultation_id=consultation_id)


@router.post("/{consultation_id}/decline", response_model=ConsultationOut)
async def decline(consultation_id: uuid.UUID, body: ReasonIn, subject: ApiSubject, db: Db) -> Any:
    return await service.decline(db, subject, consultation_id=consultation_id, reason=body.reason)


@router.post("/{consultation_id}/request-info", response_model=ConsultationOut)
async def request_info(consultation_id: uuid.UUID, body: ReasonIn, subject: ApiSubject, db: Db) -> Any:
    return await service.request_info(db, subject, consultation_id=consultation_id, question=body.reason)


@router.post("/{consultation_id}/provide-info", response_model=ConsultationOut)
async def provide_info(consultation_id: uuid.UUID, body: ReasonIn, subject: ApiSubject, db: Db) -> Any:
    return await service.provide_info(db, subject, consultation_id=consultation_id, answer=body.reason)


@router.post("/{consultation_id}/reassign", response_model=ConsultationOut)
async def reassign(consultation_id: uuid.UUID, body: ReassignIn, subject: ApiSubject, db: Db) -> Any:
    return await service.reassign(db, subject, consultation_id=consultation_id, user_id=body.user_id)


@router.post("/{consultation_id}/cancel", response_model=ConsultationOut)
async def cancel(consultation_id: uuid.UUID, body: ReasonIn, subject: ApiSubject, db: Db) -> Any:
    return await service.cancel(db, subject, consultation_id=consultation_id, reason=body.reason)


@router.post("/{consultation_id}/close", response_model=ConsultationOut)
async def close(consultation_id: uuid.UUID, subject: ApiSubject, db: Db) -> Any:
    return await service.close(db, subject, consultation_id=consultation_id)


@router.post("/{consultation_id}/outcomes", status_code=201)
async def outcome(consultation_id: uuid.UUID, body: OutcomeIn, subject: ApiSubject, db: Db) -> dict[str, Any]:
    o = await service.record_outcome(db, subject, consultation_id=consultation_id, data=body)
    return {"id": str(o.id), "checkpoint": o.checkpoint, "outcome": o.outcome}


@router.get("/{consultation_id}/timeline")
async def timeline(consultation_id: uuid.UUID, subject: ApiSubject, db: Db) -> list[dict[str, Any]]:
    return await presenters.timeline(db, subject, consultation_id)


# --------------------------------------------------------------------------- minutes

@router.get("/{consultation_id}/minutes")
async def read_minutes(consultation_id: uuid.UUID, subject: ApiSubject, db: Db) -> dict[str, Any]:
    return await presenters.minutes(db, subject, consultation_id)


@router.put("/{consultation_id}/minutes")
async def save_minutes(consultation_id: uuid.UUID, body: MinutesIn, subject: ApiSubject, db: Db) -> dict[str, Any]:
    m = await minutes.save(db, subject, consultation_id=consultation_id, data=body)
    return {"status": m.status, "version": m.draft_version}


@router.post("/{consultation_id}/minutes/sign")
async def sign_minutes(consultation_id: uuid.UUID, body: SignIn, subject: ApiSubject, db: Db) -> dict[str, Any]:
    m = await minutes.sign(db, subject, consultation_id=consultation_id, password=body.password)
    return {"status": m.status, "content_hash": m.content_hash}


@router.post("/{consultation_id}/minutes/addenda", status_code=201)
async def addendum(consultation_id: uuid.UUID, body: AddendumIn, subject: ApiSubject, db: Db) -> dict[str, Any]:
    a = await minutes.add_addendum(db, subject, consultation_id=consultation_id, data=body)
    return {"id": str(a.id), "content_hash": a.content_hash}


@router.get("/{consultation_id}/minutes.pdf")
async def minutes_pdf(consultation_id: uuid.UUID, subject: ApiSubject, db: Db) -> Response:
    data, filename = await presenters.minutes_pdf(db, subject, consultation_id)
    return Response(data, media_type="application/pdf", headers={"content-disposition": f'attachment; filename="{filename}"'})


# --------------------------------------------------------------------------- thread

@router.get("/{consultation_id}/messages", response_model=list[MessageOut])
async def list_messages(consultation_id: uuid.UUID, subject: ApiSubject, db: Db, after: datetime | None = None) -> Any:
    await service.readable(db, subject, consultation_id, action="read_thread")
    return await messaging.messages(db, consultation_id=consultation_id, after=after)


@router.post("/{consultation_id}/messages", response_model=MessageOut, status_code=201)
async def post_message(consultation_id: uuid.UUID, body: MessageIn, subject: ApiSubject, db: Db) -> Any:
    msg, created = await presenters.post_message(db, subject, consultation_id, body)
    if not created:
        return JSONResponse(MessageOut.model_validate(msg).model_dump(mode="json"), status_code=200)
    return msg


@router.post("/{consultation_id}/read", status_code=204)
async def mark_read(consultation_id: uuid.UUID, subject: ApiSubject, db: Db) -> Response:
    await service.readable(db, subject, consultation_id, action="read_thread")
    await messaging.mark_read(db, subject, consultation_id=consultation_id)
    return Response(status_code=204)

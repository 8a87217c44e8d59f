"""/api/v1/patients: registry, search, the record, consent, merges, emergency access.

A merged record answers 409 ``{"error": {"code": "merged", "message": ..., "merged_into": "<id>"}}``
(only to someone who may read the record it was merged into); the page redirects instead.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from telebridge.identity.deps import ApiSubject, Db
from telebridge.patients import access, service
from telebridge.patients.schemas import (
    BreakGlassIn, ConsentIn, ConsentOut, GrantOut, GrantPage, MergeIn, MergeOut, PatientDetail, PatientIn, PatientPage,
    PatientSummary, PatientUpdate, ReviewIn,
)

router = APIRouter(prefix="/api/v1/patients", tags=["patients"])
PageNo = Annotated[int, Query(ge=1, le=10_000)]
PerPage = Annotated[int, Query(ge=1, le=100)]


@router.get("", response_model=PatientPage)
async def search(
    subject: ApiSubject, db: Db, q: Annotated[str | None, Query(max_length=500)] = None,
    date_of_birth: date | None = None, province: int | None = None, page: PageNo = 1, per_page: PerPage = 20,
) -> PatientPage:
    found = await service.search(db, subject, q=q, date_of_birth=date_of_birth, province_code=province,
                                 offset=(page - 1) * per_page, limit=per_page)
    return PatientPage(items=[service.summary(p, name) for p, name in found.rows], total=found.total,
                       page=page, per_page=per_page, emergency_stub=found.stub)


@router.post("", response_model=PatientSummary, status_code=201)
async def register(body: PatientIn, subject: ApiSubject, db: Db) -> PatientSummary:
    patient = await service.register(db, subject, data=body)
    return service.summary(patient, None)


@router.get("/break-glass/grants", response_model=GrantPage)
async def grants(subject: ApiSubject, db: Db, page: PageNo = 1, per_page: PerPage = 20) -> GrantPage:
    rows, total = await access.grants_for_review(db, subject, offset=(page - 1) * per_page, limit=per_page)
    items = [GrantOut.model_validate(g).model_copy(update={"user_name": name}) for g, name in rows]
    return GrantPage(items=items, total=total, page=page, per_page=per_page)


@router.post("/break-glass/grants/{grant_id}/review", response_model=GrantOut)
async def review(grant_id: uuid.UUID, body: ReviewIn, subject: ApiSubject, db: Db) -> GrantOut:
    grant = await access.review(db, subject, grant_id=grant_id, outcome=body.outcome, note=body.note)
    return GrantOut.model_validate(grant)


@router.get("/{patient_id}", response_model=PatientDetail)
async def read(patient_id: uuid.UUID, subject: ApiSubject, db: Db) -> PatientDetail | JSONResponse:
    try:
        return await service.detail(db, subject, patient_id=patient_id)
    except service.MergedRecord as merged:  # returned, not raised: the redirected read stays audited
        return JSONResponse(status_code=409, content={"error": {
            "code": merged.code, "message": merged.translated(), "merged_into": str(merged.merged_into)}})


@router.patch("/{patient_id}")
async def update(patient_id: uuid.UUID, body: PatientUpdate, subject: ApiSubject, db: Db) -> dict[str, list[str]]:
    return {"changed": await service.update(db, subject, patient_id=patient_id, changes=body)}


@router.post("/{patient_id}/consents", response_model=ConsentOut, status_code=201)
async def record_consent(patient_id: uuid.UUID, body: ConsentIn, subject: ApiSubject, db: Db) -> ConsentOut:
    return ConsentOut.model_validate(await service.record_consent(db, subject, patient_id=patient_id, data=body))


@router.post("/{patient_id}/consents/{consent_id}/withdraw")
async def withdraw_consent(patient_id: uuid.UUID, consent_id: uuid.UUID, subject: ApiSubject, db: Db) -> dict[str, int]:
    return {"withdrawn": await service.withdraw_consent(db, subject, patient_id=patient_id, consent_id=consent_id)}


@router.post("/{patient_id}/merge", response_model=MergeOut, status_code=201)
async def merge(patient_id: uuid.UUID, body: MergeIn, subject: ApiSubject, db: Db) -> MergeOut:
    row = await access.merge(db, subject, source_id=patient_id, target_id=body.target_id, reason=body.reason)
    return MergeOut.model_validate(row)


@router.post("/{patient_id}/break-glass", response_model=GrantOut, status_code=201)
async def break_glass(patient_id: uuid.UUID, body: BreakGlassIn, subject: ApiSubject, db: Db) -> GrantOut:
    grant = await access.request_break_glass(db, subject, patient_id=patient_id, reason=body.reason)
    return GrantOut.model_validate(grant)

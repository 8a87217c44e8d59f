"""Emergency-access pages: the request form (reached from a masked search stub) and the
administrators' review list. Mounted by :mod:`telebridge.patients.views`."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.config import get_settings
from telebridge.identity.deps import Db, PageSubject
from telebridge.kit.access import authorize
from telebridge.kit.errors import BadInput, Conflict
from telebridge.kit.i18n import N_
from telebridge.kit.subject import Subject
from telebridge.kit.web import render
from telebridge.patients import access, policy
from telebridge.patients.access import MIN_BREAK_GLASS_REASON

router = APIRouter(include_in_schema=False)
PER_PAGE = 20


async def _review_list(request: Request, subject: Subject, db: AsyncSession, *, page: int = 1,
                       error: str | None = None, status: int = 200) -> Response:
    rows, total = await access.grants_for_review(db, subject, offset=(page - 1) * PER_PAGE, limit=PER_PAGE)
    return render(request, "patients/review.html", {
        "rows": rows, "total": total, "page": page, "pages": max(1, -(-total // PER_PAGE)), "error": error,
    }, status)


@router.get("/patients/break-glass/review")
async def review_page(request: Request, subject: PageSubject, db: Db,
                      page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    return await _review_list(request, subject, db, page=page)


@router.post("/patients/break-glass/{grant_id}/review")
async def review_submit(request: Request, grant_id: uuid.UUID, subject: PageSubject, db: Db,
                        outcome: Annotated[str, Form(max_length=16)] = "",
                        note: Annotated[str, Form(max_length=4000)] = "") -> Response:
    try:
        if outcome not in ("justified", "unjustified"):
            raise BadInput(N_("Choose whether the emergency access was justified."), field="outcome")
        await access.review(db, subject, grant_id=grant_id, outcome=outcome, note=note)
    except (BadInput, Conflict) as exc:
        await db.rollback()
        return await _review_list(request, subject, db, error=exc.translated(), status=exc.status)
    return RedirectResponse("/patients/break-glass/review", status_code=303)


@router.get("/patients/{patient_id}/break-glass")
async def break_glass_page(request: Request, patient_id: uuid.UUID, subject: PageSubject) -> Response:
    authorize(policy.can_request_break_glass(subject), action="break_glass", object_type="patient",
              object_id=patient_id, patient_id=patient_id)
    return _request_form(request, patient_id)


def _request_form(request: Request, patient_id: uuid.UUID, *, reason: str | None = None, error: str | None = None,
                  status: int = 200) -> Response:
    return render(request, "patients/break_glass.html", {
        "patient_id": patient_id, "minimum": MIN_BREAK_GLASS_REASON, "hours": get_settings().break_glass_hours,
        "reason": reason, "error": error,
    }, status)


@router.post("/patients/{patient_id}/break-glass")
async def break_glass_submit(request: Request, patient_id: uuid.UUID, subject: PageSubject, db: Db,
                             reason: Annotated[str, Form(max_length=4000)] = "") -> Response:
    try:
        grant = await access.request_break_glass(db, subject, patient_id=patient_id, reason=reason)
    except (BadInput, Conflict) as exc:
        await db.rollback()
        return _request_form(request, patient_id, reason=reason, error=exc.translated(), status=exc.status)
    return RedirectResponse(f"/patients/{grant.patient_id}?m=emergency", status_code=303)

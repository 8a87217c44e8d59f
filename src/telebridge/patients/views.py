"""Patient pages: search (htmx search-as-you-type), registration, the record, demographics,
consent, merge. Emergency access pages are in :mod:`telebridge.patients.views_emergency`."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.identity.deps import Db, PageSubject
from telebridge.kit.access import authorize
from telebridge.kit.errors import BadInput, Conflict
from telebridge.kit.i18n import N_, gettext
from telebridge.kit.subject import Role, Subject
from telebridge.kit.web import is_htmx, render
from telebridge.patients import access, policy, service, views_emergency
from telebridge.patients.schemas import METHODS, PURPOSES, SEXES, ConsentIn, PatientFields, PatientIn, PatientUpdate

router = APIRouter(include_in_schema=False)
router.include_router(views_emergency.router)
PER_PAGE = 20
MALFORMED = N_("Some fields are missing or malformed: {fields}.")
LABELS = {
    "male": N_("Male"), "female": N_("Female"), "unknown": N_("Unknown"),
    "teleconsultation": N_("Teleconsultation"), "data_sharing": N_("Sharing data with other facilities"),
    "recording": N_("Recording of sessions"), "teaching": N_("Teaching"), "research": N_("Research"),
    "written": N_("Written"), "verbal_witnessed": N_("Verbal, witnessed"), "electronic": N_("Electronic"),
    "registration": N_("Registration"), "consultation_request": N_("Consultation request"), "referral": N_("Referral"),
}


def show(request: Request, template: str, ctx: dict[str, Any], status: int = 200) -> Response:
    return render(request, template, {"labels": LABELS, **ctx}, status)


M = TypeVar("M", bound=BaseModel)


async def parse_form(request: Request, model: type[M]) -> M:
    """A form parsed into the API's input model; malformed fields are a 400 naming them."""
    form = await request.form()
    data = {k: v for k, v in form.items() if k in model.model_fields and isinstance(v, str)}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors() if e.get("loc"))
        raise BadInput(MALFORMED, fields=fields) from None


async def failed(db: AsyncSession, exc: BadInput | Conflict) -> str:
    """Undo the request's work and give the message to show on the re-rendered form."""
    await db.rollback()
    return exc.translated()


def see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --------------------------------------------------------------------------- search

@router.get("/patients")
async def search_page(
    request: Request, subject: PageSubject, db: Db, q: Annotated[str | None, Query(max_length=500)] = None,
    date_of_birth: str | None = None, province: str | None = None, page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    dob = _date(date_of_birth, "date_of_birth")
    province_code = int(province) if province and province.isdigit() else None
    found = await service.search(db, subject, q=q, date_of_birth=dob, province_code=province_code,
                                 offset=(page - 1) * PER_PAGE, limit=PER_PAGE)
    params = {"q": q or "", "date_of_birth": date_of_birth or "", "province": province or ""}
    ctx: dict[str, Any] = {
        "rows": [service.summary(p, name) for p, name in found.rows], "total": found.total, "stub": found.stub,
        "page": page, "pages": max(1, -(-found.total // PER_PAGE)), "params": params,
        "query": urlencode(params), "can_register": policy.can_register(subject),
    }
    if is_htmx(request):
        return show(request, "patients/_results.html", ctx)
    ctx["provinces"] = await service.provinces(db)
    return show(request, "patients/search.html", ctx)


def _date(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadInput(N_("Dates are written YYYY-MM-DD."), field=field) from None


@router.get("/patients/communes")
async def communes_fragment(request: Request, subject: PageSubject, db: Db, province_code: str | None = None) -> Response:
    code = int(province_code) if province_code and province_code.isdigit() else None
    return render(request, "patients/_communes.html", {"communes": await service.communes(db, code), "selected": None})


# --------------------------------------------------------------------------- registration and editing

async def _form_page(request: Request, db: Db, subject: Subject, *, values: dict[str, Any], error: str | None = None,
                     status: int = 200, patient_id: uuid.UUID | None = None) -> Response:
    province = values.get("province_code")
    return show(request, "patients/form.html", {
        "values": values, "error": error, "patient_id": patient_id, "sexes": SEXES,
        "facilities": await service.registering_facilities(db, subject) if patient_id is None else {},
        "provinces": await service.provinces(db), "communes": await service.communes(db, province),
    }, status)


@router.get("/patients/new")
async def register_page(request: Request, subject: PageSubject, db: Db) -> Response:
    authorize(policy.can_register(subject), action="create", object_type="patient", message=service.REGISTER_DENIED)
    return await _form_page(request, db, subject, values={})


@router.post("/patients/new")
async def register_submit(request: Request, subject: PageSubject, db: Db) -> Response:
    values = dict(await request.form())
    try:
        patient = await service.register(db, subject, data=await parse_form(request, PatientIn))
    except (BadInput, Conflict) as exc:
        return await _form_page(request, db, subject, values=_keep(values), error=await failed(db, exc), status=exc.status)
    return see(f"/patients/{patient.id}")


def _keep(form: dict[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in form.items() if k != "csrf_token"}
    code = values.get("province_code")
    values["province_code"] = int(code) if isinstance(code, str) and code.isdigit() else None
    return values


@router.get("/patients/{patient_id}/edit")
async def edit_page(request: Request, patient_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    patient = (await service.editable(db, subject, patient_id, action="update")).patient
    values = {f: getattr(patient, f) for f in PatientFields.model_fields}
    return await _form_page(request, db, subject, values=values, patient_id=patient_id)


@router.post("/patients/{patient_id}/edit")
async def edit_submit(request: Request, patient_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    values = dict(await request.form())
    try:
        await service.update(db, subject, patient_id=patient_id, changes=await parse_form(request, PatientUpdate))
    except (BadInput, Conflict) as exc:
        return await _form_page(request, db, subject, values=_keep(values), error=await failed(db, exc),
                                status=exc.status, patient_id=patient_id)
    return see(f"/patients/{patient_id}")


# --------------------------------------------------------------------------- the record

async def _record_page(request: Request, db: Db, subject: Subject, patient_id: uuid.UUID, *,
                       error: str | None = None, status: int = 200) -> Response:
    try:
        record = await service.detail(db, subject, patient_id=patient_id)
    except service.MergedRecord as merged:
        return see(f"/patients/{merged.merged_into}?m=merged")
    can_edit = record.access_basis == "relationship" and record.status == "active"
    return show(request, "patients/detail.html", {
        "p": record, "can_edit": can_edit, "purposes": PURPOSES, "methods": METHODS, "error": error,
        "can_ask": can_edit and bool(subject.facility_ids(Role.SPOKE_CLINICIAN, Role.HUB_SPECIALIST))
        and subject.practitioner_id is not None,
        "notice": gettext(NOTICES[m]) if (m := request.query_params.get("m")) in NOTICES else None,
    }, status)


NOTICES = {
    "merged": N_("The record you opened was merged into this one."),
    "emergency": N_("Emergency access granted. Every view of this record is flagged for review."),
}


@router.get("/patients/{patient_id}")
async def record_page(request: Request, patient_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    return await _record_page(request, db, subject, patient_id)


@router.post("/patients/{patient_id}/consents")
async def consent_submit(request: Request, patient_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    try:
        data = await parse_form(request, ConsentIn)
        await service.record_consent(db, subject, patient_id=patient_id, data=data)
    except (BadInput, Conflict) as exc:
        return await _record_page(request, db, subject, patient_id, error=await failed(db, exc), status=exc.status)
    return see(f"/patients/{patient_id}#consents")


@router.post("/patients/{patient_id}/consents/{consent_id}/withdraw")
async def consent_withdraw(request: Request, patient_id: uuid.UUID, consent_id: uuid.UUID, subject: PageSubject,
                           db: Db) -> Response:
    try:
        await service.withdraw_consent(db, subject, patient_id=patient_id, consent_id=consent_id)
    except (BadInput, Conflict) as exc:
        return await _record_page(request, db, subject, patient_id, error=await failed(db, exc), status=exc.status)
    return see(f"/patients/{patient_id}#consents")


@router.post("/patients/{patient_id}/merge")
async def merge_submit(request: Request, patient_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    form = await request.form()
    try:
        target = await service.readable_by_citizen_id(db, subject, str(form.get("target_citizen_id", "")))
        row = await access.merge(db, subject, source_id=patient_id, target_id=target.id, reason=str(form.get("reason", "")))
    except (BadInput, Conflict) as exc:
        return await _record_page(request, db, subject, patient_id, error=await failed(db, exc), status=exc.status)
    return see(f"/patients/{row.target_id}")

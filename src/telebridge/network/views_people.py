"""Practitioner pages (list, detail, forms) and a hub's on-call roster page."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from telebridge.identity.deps import Db, PageSubject
from telebridge.kit.access import authorize
from telebridge.kit.errors import DomainError
from telebridge.kit.web import is_htmx
from telebridge.network import policy, read, service, service_people
from telebridge.network import repository as repo
from telebridge.network.forms import PAGE_SIZE, form_data, form_failed, listed, page_view, pager, parse, see_other
from telebridge.network.guard import require_read
from telebridge.network.models import Facility, Practitioner
from telebridge.network.reference import PROFESSIONS
from telebridge.network.schemas import PractitionerIn, ShiftIn

router = APIRouter(include_in_schema=False)
REGISTRATION_ROWS = 3


@router.get("/practitioners")
async def practitioners(request: Request, subject: PageSubject, db: Db, q: str | None = None,
                        facility: str | None = None, specialty: str | None = None, page: int = 1) -> Response:
    require_read(subject, "practitioner")
    page = max(page, 1)
    try:
        facility_id = uuid.UUID(facility) if facility else None
    except ValueError:
        facility_id = None
    result = await read.practitioner_page(db, subject, q=q, facility_id=facility_id, specialty=specialty or None,
                                          page=page, page_size=PAGE_SIZE)
    context = {"result": result, "q": q or "", "specialty": specialty or "", "facility": facility_id,
               "facility_name": (await repo.facility_names(db, [facility_id])).get(facility_id) if facility_id else None,
               "pager": pager(request, page=page, page_size=PAGE_SIZE, total=result.total),
               "can_create": policy.can_add_practitioners(subject)}
    template = "network/_practitioner_rows.html" if is_htmx(request) else "network/practitioners.html"
    return page_view(request, template, context)


# --------------------------------------------------------------------------- forms

def _practitioner_values(p: Practitioner) -> dict[str, Any]:
    keys = ("full_name", "title", "profession", "citizen_id", "licence_number", "licence_issuer", "licence_issued_on",
            "licence_expires_on", "scope_of_practice")
    return {**{k: getattr(p, k) for k in keys}, "specialties": [s.specialty_code for s in p.specialties],
            "registrations": [{"facility": str(r.facility_id), "hours": r.hours, "valid_from": r.valid_from,
                               "valid_to": r.valid_to} for r in p.registrations]}


def _registrations(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Registration rows from the parallel reg_* form fields; blank rows are skipped."""
    def column(key: str) -> list[Any]:
        value = data.get(f"reg_{key}")
        return [v or None for v in value] if isinstance(value, list) else [value]

    rows = []
    for facility, hours, start, end in zip(column("facility"), column("hours"), column("from"), column("to"), strict=True):
        if facility or hours or start:
            rows.append({"facility": facility, "hours": hours, "valid_from": start, "valid_to": end})
    return rows


async def _as_input(db: Db, data: dict[str, Any]) -> PractitionerIn:
    rows = _registrations(data)
    ids = []
    for row in rows:
        found = await repo.facility_by_code(db, row["facility"] or "")
        ids.append(found.id if found else row["facility"])
    body = {**data, "specialties": listed(data.get("specialties")),
            "registrations": [{"facility_id": fid, "hours": r["hours"], "valid_from": r["valid_from"],
                               "valid_to": r["valid_to"]} for fid, r in zip(ids, rows, strict=True)]}
    return parse(PractitionerIn, body)


async def _form(request: Request, db: Db, p: Practitioner | None, values: dict[str, Any],
                exc: DomainError | None = None) -> Response:
    if exc is not None and "registrations" not in values:
        values = {**values, "registrations": _registrations(values)}
    regs = list(values.get("registrations") or [])
    names = await repo.facility_names(db, [uuid.UUID(r["facility"]) for r in regs if _is_uuid(r.get("facility"))])
    context = {"p": p, "v": values, "professions": PROFESSIONS, "chosen": set(listed(values.get("specialties"))),
               "regs": regs + [{}] * max(1, REGISTRATION_ROWS - len(regs)), "facility_names": names}
    if exc is not None:
        return form_failed(request, "network/practitioner_form.html", context, exc)
    return page_view(request, "network/practitioner_form.html", context)


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


async def _form_failed(request: Request, db: Db, practitioner_id: uuid.UUID | None, values: dict[str, Any],
                       exc: DomainError) -> Response:
    """Undo the request's work and show the form again; a refusal goes on to the audited 403 handler."""
    if exc.status == 403:
        raise exc
    await db.rollback()
    p = await service_people.get_practitioner(db, practitioner_id) if practitioner_id else None
    return await _form(request, db, p, values, exc)


@router.get("/practitioners/new")
async def new_practitioner(request: Request, subject: PageSubject, db: Db) -> Response:
    authorize(policy.can_add_practitioners(subject), action="create",
              object_type="practitioner")
    return await _form(request, db, None, {})


@router.post("/practitioners")
async def create_practitioner(request: Request, subject: PageSubject, db: Db) -> Response:
    values = await form_data(request)
    try:
        body = await _as_input(db, values)
        authorize(policy.can_manage_practitioner(subject, {r.facility_id for r in body.registrations}),
                  action="create", object_type="practitioner")
        p = await service_people.create_practitioner(db, subject=subject, data=body)
    except DomainError as exc:
        return await _form_failed(request, db, None, values, exc)
    return see_other(f"/practitioners/{p.id}")


@router.get("/practitioners/{practitioner_id}")
async def practitioner_page(request: Request, practitioner_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    require_read(subject, "practitioner", practitioner_id)
    p = await service_people.get_practitioner(db, practitioner_id)
    [out] = await read.practitioners_out(db, subject, [p])
    return page_view(request, "network/practitioner.html", {
        "p": out, "can_edit": policy.can_manage_practitioner(subject, service_people.registered_facility_ids(p))})


@router.get("/practitioners/{practitioner_id}/edit")
async def edit_practitioner(request: Request, practitioner_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    p = await service_people.get_practitioner(db, practitioner_id)
    authorize(policy.can_manage_practitioner(subject, service_people.registered_facility_ids(p)), action="update",
              object_type="practitioner", object_id=practitioner_id)
    return await _form(request, db, p, _practitioner_values(p))


@router.post("/practitioners/{practitioner_id}")
async def update_practitioner(request: Request, practitioner_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    p = await service_people.get_practitioner(db, practitioner_id)
    authorize(policy.can_manage_practitioner(subject, service_people.registered_facility_ids(p)), action="update",
              object_type="practitioner", object_id=practitioner_id)
    values = await form_data(request)
    try:
        await service_people.update_practitioner(db, subject=subject, practitioner=p, data=await _as_input(db, values))
    except DomainError as exc:
        return await _form_failed(request, db, practitioner_id, values, exc)
    return see_other(f"/practitioners/{practitioner_id}")


# --------------------------------------------------------------------------- roster

async def _roster(request: Request, subject: PageSubject, db: Db, hub: Facility, values: dict[str, Any],
                  exc: DomainError | None = None) -> Response:
    shifts = await read.roster(db, hub.id)
    days = [(day, list(items)) for day, items in groupby(shifts, key=lambda s: service.local_date(s.starts_at))]
    staff = await repo.staff_of(db, hub.id, service.today())
    context = {"hub": hub, "days": days, "staff": staff, "v": values,
               "can_roster": policy.can_manage_roster(subject, hub.id),
               "covered": sorted({c for link in await repo.links_of(db, hub.id) if link.hub_id == hub.id
                                  and repo.is_current(link.valid_from, link.valid_to, service.today())
                                  for c in (s.specialty_code for s in link.specialties)})}
    if exc is not None:
        return form_failed(request, "network/roster.html", context, exc)
    return page_view(request, "network/roster.html", context)


@router.get("/facilities/{hub_id}/roster")
async def roster_page(request: Request, hub_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    require_read(subject, "on_call_roster", hub_id)
    start = datetime.combine(service.today() + timedelta(days=1), datetime.min.time()).replace(hour=7)
    return await _roster(request, subject, db, await service.get_facility(db, hub_id), {
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"), "ends_at": (start + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M")})


@router.post("/facilities/{hub_id}/roster")
async def create_shift(request: Request, hub_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    authorize(policy.can_manage_roster(subject, hub_id), action="create", object_type="on_call_shift")
    hub = await service.get_facility(db, hub_id)
    values = await form_data(request)
    try:
        await service_people.create_shift(db, subject=subject, hub=hub, data=parse(ShiftIn, values))
    except DomainError as exc:
        return await _roster(request, subject, db, hub, values, exc)
    return see_other(f"/facilities/{hub_id}/roster")


@router.post("/facilities/{hub_id}/roster/{shift_id}/delete")
async def delete_shift(hub_id: uuid.UUID, shift_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    authorize(policy.can_manage_roster(subject, hub_id), action="delete", object_type="on_call_shift", object_id=shift_id)
    shift = await service_people.get_shift(db, hub_id, shift_id)
    await service_people.delete_shift(db, subject=subject, shift=shift)
    return see_other(f"/facilities/{hub_id}/roster")

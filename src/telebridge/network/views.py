"""Network pages: the facility directory (search as you type), a facility's page, facility
and link forms, remote-care declarations. Practitioner and roster pages: ``views_people``."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from telebridge.identity.deps import Db, PageSubject
from telebridge.kit.access import authorize
from telebridge.kit.errors import BadInput, DomainError
from telebridge.kit.i18n import N_
from telebridge.kit.subject import Subject
from telebridge.kit.web import is_htmx
from telebridge.network import policy, read, service, views_people
from telebridge.network import repository as repo
from telebridge.network.forms import (
    PAGE_SIZE, form_data, form_failed, listed, page_view, pager, parse, place_choices, see_other,
)
from telebridge.network.guard import require_read
from telebridge.network.models import Facility, HubLink
from telebridge.network.reference import CONSULTATION_MODES, FACILITY_KINDS, LEGACY_TIERS, TECHNICAL_LEVELS
from telebridge.network.schemas import DeclarationIn, FacilityIn, LinkIn, LinkPatch, PublishIn

router = APIRouter(include_in_schema=False)
router.include_router(views_people.router)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


@router.get("/facilities")
async def directory(request: Request, subject: PageSubject, db: Db, q: str | None = None, province: str | None = None,
                    level: str | None = None, kind: str | None = None, role: str | None = None, hub: str | None = None,
                    specialty: str | None = None, page: int = 1) -> Response:
    require_read(subject, "facility")
    page = max(page, 1)
    f = repo.FacilityFilter(q=q, province=_int(province), level=level or None, kind=kind or None,
                            role=role if role in ("hub", "spoke") else None, hub=_uuid(hub), specialty=specialty or None)
    result = await read.directory(db, subject, f, page=page, page_size=PAGE_SIZE)
    context = {"result": result, "pager": pager(request, page=page, page_size=PAGE_SIZE, total=result.total),
               "f": f, "q": q or "", "hub_name": (await repo.facility_names(db, [f.hub])).get(f.hub) if f.hub else None}
    if is_htmx(request):
        return page_view(request, "network/_facility_rows.html", context)
    context.update(provinces=await repo.provinces(db), levels=TECHNICAL_LEVELS, kinds=FACILITY_KINDS,
                   can_create=policy.can_create_facility(subject))
    return page_view(request, "network/directory.html", context)


@router.get("/facilities/communes")
async def commune_options(request: Request, subject: PageSubject, db: Db, province_code: str | None = None) -> Response:
    """<option>s of a province's communes, for the facility form (htmx)."""
    require_read(subject, "facility")
    code = _int(province_code)
    return page_view(request, "network/_commune_options.html",
                     {"communes": await repo.communes_of(db, code) if code else [], "selected": None})


# --------------------------------------------------------------------------- facility forms

def _facility_values(f: Facility | None) -> dict[str, Any]:
    return {k: getattr(f, k) for k in FacilityIn.model_fields} if f else {}


async def _facility_form(request: Request, db: Db, facility: Facility | None, values: dict[str, Any],
                         exc: DomainError | None = None) -> Response:
    context = {"facility": facility, "v": values, "kinds": FACILITY_KINDS, "levels": TECHNICAL_LEVELS,
               "tiers": LEGACY_TIERS, **await place_choices(db, _int(str(values.get("province_code") or "")))}
    if exc is not None:
        return form_failed(request, "network/facility_form.html", context, exc)
    return page_view(request, "network/facility_form.html", context)


@router.get("/facilities/new")
async def new_facility(request: Request, subject: PageSubject, db: Db) -> Response:
    authorize(policy.can_create_facility(subject), action="create", object_type="facility")
    return await _facility_form(request, db, None, {})


@router.post("/facilities")
async def create_facility(request: Request, subject: PageSubject, db: Db) -> Response:
    authorize(policy.can_create_facility(subject), action="create", object_type="facility")
    values = await form_data(request)
    try:
        facility = await service.create_facility(db, subject=subject, data=parse(FacilityIn, values))
    except DomainError as exc:
        await db.rollback()
        return await _facility_form(request, db, None, values, exc)
    return see_other(f"/facilities/{facility.id}")


@router.get("/facilities/{facility_id}")
async def facility_page(request: Request, facility_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    require_read(subject, "facility", facility_id)
    facility = await service.get_facility(db, facility_id)
    detail = await read.facility_detail(db, subject, facility)
    return page_view(request, "network/facility.html", {
        "d": detail, "modes": CONSULTATION_MODES,
        "can_edit": policy.can_edit_facility(subject, facility_id),
        "can_link": policy.can_manage_link(subject, facility_id),
        "can_roster": policy.can_manage_roster(subject, facility_id),
        "can_declare": policy.can_declare(subject, facility_id),
        "can_publish": policy.can_publish_declaration(subject),
    })


@router.get("/facilities/{facility_id}/edit")
async def edit_facility(request: Request, facility_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    authorize(policy.can_edit_facility(subject, facility_id), action="update", object_type="facility", object_id=facility_id)
    facility = await service.get_facility(db, facility_id)
    return await _facility_form(request, db, facility, _facility_values(facility))


@router.post("/facilities/{facility_id}")
async def update_facility(request: Request, facility_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    authorize(policy.can_edit_facility(subject, facility_id), action="update", object_type="facility", object_id=facility_id)
    facility = await service.get_facility(db, facility_id)
    values = await form_data(request)
    try:
        await service.update_facility(db, subject=subject, facility=facility, data=parse(FacilityIn, values))
    except DomainError as exc:
        await db.rollback()
        return await _facility_form(request, db, await service.get_facility(db, facility_id), values, exc)
    return see_other(f"/facilities/{facility_id}")


# --------------------------------------------------------------------------- links

async def _link_form(request: Request, hub: Facility, link: HubLink | None, values: dict[str, Any],
                     exc: DomainError | None = None) -> Response:
    context = {"hub": hub, "link": link, "v": values, "chosen": set(listed(values.get("specialties")))}
    if exc is not None:
        return form_failed(request, "network/link_form.html", context, exc)
    return page_view(request, "network/link_form.html", context)


async def _spoke_id(db: Db, value: str | None) -> uuid.UUID:
    found = _uuid(value)
    if found is None and value:
        by_code = await repo.facility_by_code(db, value.strip())
        found = by_code.id if by_code else None
    if found is None:
        raise BadInput(N_("No facility has this insurance code or GLN."), field="spoke")
    return found


def _link_values(data: dict[str, Any]) -> dict[str, Any]:
    keys = ("priority", "contract_ref", "contract_signed_on", "contract_terms", "valid_from", "valid_to")
    return {**{k: data.get(k) for k in keys}, "specialties": listed(data.get("specialties"))}


def _check_link(subject: Subject, hub_id: uuid.UUID, action: str, link_id: uuid.UUID | None = None) -> None:
    authorize(policy.can_manage_link(subject, hub_id), action=action, object_type="hub_link", object_id=link_id)


@router.get("/facilities/{hub_id}/links/new")
async def new_link(request: Request, hub_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    _check_link(subject, hub_id, "create")
    return await _link_form(request, await service.get_facility(db, hub_id), None, {"priority": 1})


@router.post("/facilities/{hub_id}/links")
async def create_link(request: Request, hub_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    _check_link(subject, hub_id, "create")
    hub = await service.get_facility(db, hub_id)
    values = await form_data(request)
    try:
        body = parse(LinkIn, {**_link_values(values), "priority": values.get("priority") or 1, "hub_id": hub_id,
                              "spoke_id": await _spoke_id(db, values.get("spoke"))})
        await service.create_link(db, subject=subject, data=body)
    except DomainError as exc:
        return await _link_form(request, hub, None, values, exc)
    return see_other(f"/facilities/{hub_id}")


@router.get("/links/{link_id}/edit")
async def edit_link(request: Request, link_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    link = await service.get_link(db, link_id)
    _check_link(subject, link.hub_id, "update", link_id)
    values = {k: getattr(link, k) for k in ("priority", "contract_ref", "contract_signed_on", "contract_terms",
                                            "valid_from", "valid_to")}
    values["specialties"] = [s.specialty_code for s in link.specialties]
    return await _link_form(request, await service.get_facility(db, link.hub_id), link, values)


@router.post("/links/{link_id}")
async def update_link(request: Request, link_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    link = await service.get_link(db, link_id)
    _check_link(subject, link.hub_id, "update", link_id)
    values = await form_data(request)
    try:
        await service.update_link(db, subject=subject, link=link, data=parse(LinkPatch, _link_values(values)))
    except DomainError as exc:
        await db.rollback()
        link = await service.get_link(db, link_id)
        return await _link_form(request, await service.get_facility(db, link.hub_id), link, values, exc)
    return see_other(f"/facilities/{link.hub_id}")


@router.post("/links/{link_id}/end")
async def end_link(link_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    link = await service.get_link(db, link_id)
    _check_link(subject, link.hub_id, "update", link_id)
    await service.end_link(db, subject=subject, link=link, on=None)
    return see_other(f"/facilities/{link.hub_id}")


# --------------------------------------------------------------------------- declarations

@router.post("/facilities/{facility_id}/declarations")
async def submit_declaration(request: Request, facility_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    authorize(policy.can_declare(subject, facility_id), action="create", object_type="remote_care_declaration")
    facility = await service.get_facility(db, facility_id)
    data = await form_data(request)
    body = DeclarationIn(specialties=listed(data.get("specialties")), modes=listed(data.get("modes")))
    await service.submit_declaration(db, subject=subject, facility=facility, data=body)
    return see_other(f"/facilities/{facility_id}#declarations")


@router.post("/declarations/{declaration_id}/publish")
async def publish_declaration(request: Request, declaration_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    authorize(policy.can_publish_declaration(subject), action="update", object_type="remote_care_declaration",
              object_id=declaration_id)
    declaration = await service.get_declaration(db, declaration_id)
    body = parse(PublishIn, await form_data(request))
    await service.publish_declaration(db, subject=subject, declaration=declaration, data=body)
    return see_other(f"/facilities/{declaration.facility_id}#declarations")


@router.post("/declarations/{declaration_id}/withdraw")
async def withdraw_declaration(declaration_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    declaration = await service.get_declaration(db, declaration_id)
    authorize(policy.can_declare(subject, declaration.facility_id), action="update",
              object_type="remote_care_declaration", object_id=declaration_id)
    await service.withdraw_declaration(db, subject=subject, declaration=declaration)
    return see_other(f"/facilities/{declaration.facility_id}#declarations")

"""/api/v1 JSON for the network: directory, facilities, links, declarations (practitioners and
rosters in ``api_people``). Thin: parse, authorize, call the service."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from telebridge.identity.deps import ApiSubject, Db
from telebridge.kit.access import authorize
from telebridge.network import api_people, policy, read, service
from telebridge.network.guard import require_read
from telebridge.network import repository as repo
from telebridge.network.schemas import (
    DeclarationIn, DeclarationOut, FacilityDetail, FacilityIn, FacilityPage, FacilityPatch, LinkEnd, LinkIn, LinkOut,
    LinkPatch, PublishIn,
)

router = APIRouter(prefix="/api/v1", tags=["network"])
router.include_router(api_people.router)


@router.get("/facilities", response_model=FacilityPage)
async def list_facilities(
    subject: ApiSubject, db: Db, q: Annotated[str | None, Query(max_length=100)] = None,
    province: int | None = None, level: str | None = None, kind: str | None = None,
    role: Annotated[str | None, Query(pattern="^(hub|spoke)$")] = None, hub: uuid.UUID | None = None,
    specialty: str | None = None, page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> FacilityPage:
    require_read(subject, "facility")
    f = repo.FacilityFilter(q=q, province=province, level=level, kind=kind, role=role, hub=hub, specialty=specialty)
    return await read.directory(db, subject, f, page=page, page_size=page_size)


@router.post("/facilities", response_model=FacilityDetail, status_code=201)
async def create_facility(body: FacilityIn, subject: ApiSubject, db: Db) -> FacilityDetail:
    authorize(policy.can_create_facility(subject), action="create", object_type="facility")
    facility = await service.create_facility(db, subject=subject, data=body)
    return await read.facility_detail(db, subject, facility)


@router.get("/facilities/{facility_id}", response_model=FacilityDetail)
async def get_facility(facility_id: uuid.UUID, subject: ApiSubject, db: Db) -> FacilityDetail:
    require_read(subject, "facility", facility_id)
    return await read.facility_detail(db, subject, await service.get_facility(db, facility_id))


@router.patch("/facilities/{facility_id}", response_model=FacilityDetail)
async def update_facility(facility_id: uuid.UUID, body: FacilityPatch, subject: ApiSubject, db: Db) -> FacilityDetail:
    authorize(policy.can_edit_facility(subject, facility_id), action="update", object_type="facility",
              object_id=facility_id)
    facility = await service.get_facility(db, facility_id)
    current = {k: getattr(facility, k) for k in FacilityIn.model_fields}
    data = FacilityIn.model_validate({**current, **body.model_dump(exclude_unset=True)})
    await service.update_facility(db, subject=subject, facility=facility, data=data)
    return await read.facility_detail(db, subject, facility)


# --------------------------------------------------------------------------- links

@router.post("/links", response_model=LinkOut, status_code=201)
async def create_link(body: LinkIn, subject: ApiSubject, db: Db) -> LinkOut:
    authorize(policy.can_manage_link(subject, body.hub_id), action="create", object_type="hub_link")
    return await read.link_view(db, await service.create_link(db, subject=subject, data=body))


@router.get("/links/{link_id}", response_model=LinkOut)
async def get_link(link_id: uuid.UUID, subject: ApiSubject, db: Db) -> LinkOut:
    require_read(subject, "hub_link", link_id)
    return await read.link_view(db, await service.get_link(db, link_id))


@router.patch("/links/{link_id}", response_model=LinkOut)
async def update_link(link_id: uuid.UUID, body: LinkPatch, subject: ApiSubject, db: Db) -> LinkOut:
    link = await service.get_link(db, link_id)
    authorize(policy.can_manage_link(subject, link.hub_id), action="update", object_type="hub_link", object_id=link_id)
    await service.update_link(db, subject=subject, link=link, data=body)
    return await read.link_view(db, link)


@router.post("/links/{link_id}/end", response_model=LinkOut)
async def end_link(link_id: uuid.UUID, body: LinkEnd, subject: ApiSubject, db: Db) -> LinkOut:
    link = await service.get_link(db, link_id)
    authorize(policy.can_manage_link(subject, link.hub_id), action="update", object_type="hub_link", object_id=link_id)
    await service.end_link(db, subject=subject, link=link, on=body.on)
    return await read.link_view(db, link)


# --------------------------------------------------------------------------- declarations

@router.get("/facilities/{facility_id}/declarations", response_model=list[DeclarationOut])
async def list_declarations(facility_id: uuid.UUID, subject: ApiSubject, db: Db) -> list[DeclarationOut]:
    require_read(subject, "remote_care_declaration", facility_id)
    await service.get_facility(db, facility_id)
    return [read.declaration_out(d) for d in await repo.declarations_of(db, facility_id)]


@router.post("/facilities/{facility_id}/declarations", response_model=DeclarationOut, status_code=201)
async def submit_declaration(facility_id: uuid.UUID, body: DeclarationIn, subject: ApiSubject, db: Db) -> DeclarationOut:
    authorize(policy.can_declare(subject, facility_id), action="create", object_type="remote_care_declaration")
    facility = await service.get_facility(db, facility_id)
    declaration = await service.submit_declaration(db, subject=subject, facility=facility, data=body)
    return read.declaration_out(declaration)


@router.post("/declarations/{declaration_id}/publish", response_model=DeclarationOut)
async def publish_declaration(declaration_id: uuid.UUID, body: PublishIn, subject: ApiSubject, db: Db) -> DeclarationOut:
    authorize(policy.can_publish_declaration(subject), action="update", object_type="remote_care_declaration",
              object_id=declaration_id)
    declaration = await service.get_declaration(db, declaration_id)
    await service.publish_declaration(db, subject=subject, declaration=declaration, data=body)
    return read.declaration_out(declaration)


@router.post("/declarations/{declaration_id}/withdraw", response_model=DeclarationOut)
async def withdraw_declaration(declaration_id: uuid.UUID, subject: ApiSubject, db: Db) -> DeclarationOut:
    declaration = await service.get_declaration(db, declaration_id)
    authorize(policy.can_declare(subject, declaration.facility_id), action="update",
              object_type="remote_care_declaration", object_id=declaration_id)
    await service.withdraw_declaration(db, subject=subject, declaration=declaration)
    return read.declaration_out(declaration)

"""/api/v1 JSON for practitioners and hub on-call rosters (mounted under /api/v1 by ``api``)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from telebridge.identity.deps import ApiSubject, Db
from telebridge.kit.access import authorize
from telebridge.network import policy, read, service, service_people
from telebridge.network.guard import require_read
from telebridge.network.schemas import PractitionerIn, PractitionerOut, PractitionerPage, ShiftIn, ShiftOut

router = APIRouter()


@router.get("/practitioners", response_model=PractitionerPage)
async def list_practitioners(
    subject: ApiSubject, db: Db, q: Annotated[str | None, Query(max_length=100)] = None,
    facility: uuid.UUID | None = None, specialty: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1, page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> PractitionerPage:
    require_read(subject, "practitioner")
    return await read.practitioner_page(db, subject, q=q, facility_id=facility, specialty=specialty, page=page,
                                        page_size=page_size)


@router.post("/practitioners", response_model=PractitionerOut, status_code=201)
async def create_practitioner(body: PractitionerIn, subject: ApiSubject, db: Db) -> PractitionerOut:
    authorize(policy.can_manage_practitioner(subject, {r.facility_id for r in body.registrations}),
              action="create", object_type="practitioner")
    p = await service_people.create_practitioner(db, subject=subject, data=body)
    return (await read.practitioners_out(db, subject, [p]))[0]


@router.get("/practitioners/{practitioner_id}", response_model=PractitionerOut)
async def get_practitioner(practitioner_id: uuid.UUID, subject: ApiSubject, db: Db) -> PractitionerOut:
    require_read(subject, "practitioner", practitioner_id)
    p = await service_people.get_practitioner(db, practitioner_id)
    return (await read.practitioners_out(db, subject, [p]))[0]


@router.put("/practitioners/{practitioner_id}", response_model=PractitionerOut)
async def update_practitioner(practitioner_id: uuid.UUID, body: PractitionerIn, subject: ApiSubject, db: Db) -> PractitionerOut:
    p = await service_people.get_practitioner(db, practitioner_id)
    authorize(policy.can_manage_practitioner(subject, service_people.registered_facility_ids(p)),
              action="update", object_type="practitioner", object_id=practitioner_id)
    await service_people.update_practitioner(db, subject=subject, practitioner=p, data=body)
    return (await read.practitioners_out(db, subject, [p]))[0]


# --------------------------------------------------------------------------- rosters

@router.get("/facilities/{hub_id}/roster", response_model=list[ShiftOut])
async def get_roster(hub_id: uuid.UUID, subject: ApiSubject, db: Db, start: date | None = None,
                     days: Annotated[int, Query(ge=1, le=31)] = read.ROSTER_DAYS) -> list[ShiftOut]:
    require_read(subject, "on_call_roster", hub_id)
    await service.get_facility(db, hub_id)
    return await read.roster(db, hub_id, start, days)


@router.post("/facilities/{hub_id}/roster", response_model=ShiftOut, status_code=201)
async def create_shift(hub_id: uuid.UUID, body: ShiftIn, subject: ApiSubject, db: Db) -> ShiftOut:
    authorize(policy.can_manage_roster(subject, hub_id), action="create", object_type="on_call_shift")
    hub = await service.get_facility(db, hub_id)
    shift = await service_people.create_shift(db, subject=subject, hub=hub, data=body)
    p = await service_people.get_practitioner(db, shift.practitioner_id)
    return read.shift_out(shift, p.full_name)


@router.delete("/facilities/{hub_id}/roster/{shift_id}", status_code=204)
async def delete_shift(hub_id: uuid.UUID, shift_id: uuid.UUID, subject: ApiSubject, db: Db) -> Response:
    authorize(policy.can_manage_roster(subject, hub_id), action="delete", object_type="on_call_shift", object_id=shift_id)
    shift = await service_people.get_shift(db, hub_id, shift_id)
    await service_people.delete_shift(db, subject=subject, shift=shift)
    return Response(status_code=204)

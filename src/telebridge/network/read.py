"""Read models shared by the JSON API and the pages: the directory page, a facility's whole
picture, practitioners (citizen ID only for those allowed), links, rosters, declarations."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.kit.subject import Subject
from telebridge.network import policy
from telebridge.network import repository as repo
from telebridge.network.models import Facility, HubLink, OnCallShift, Practitioner, RemoteCareDeclaration
from telebridge.network.schemas import (
    AddressOut, DeclarationOut, FacilityDetail, FacilityItem, FacilityPage, IdentifierOut, LinkOut, PractitionerOut,
    PractitionerPage, RegistrationOut, ShiftOut,
)
from telebridge.network.service import TZ, licence_status, publish_due, today
from telebridge.network.service_people import registered_facility_ids

ROSTER_DAYS = 8  # today and the next 7 days


def _item(f: Facility, province_name: str | None, commune_name: str | None, hubs: set[uuid.UUID]) -> FacilityItem:
    return FacilityItem(id=f.id, name=f.name, name_en=f.name_en, kind=f.kind, technical_level=f.technical_level,
                        legacy_tier=f.legacy_tier, insurance_code=f.insurance_code, gln_code=f.gln_code,
                        province_code=f.province_code, province_name=province_name, commune_code=f.commune_code,
                        commune_name=commune_name, is_hub=f.id in hubs)


async def directory(db: AsyncSession, subject: Subject, f: repo.FacilityFilter, *, page: int,
                    page_size: int) -> FacilityPage:
    """One page: one query for the rows, one count, one for which rows are hubs."""
    on = today()
    rows, total = await repo.search_facilities(db, subject, f, on=on, page=page, page_size=page_size)
    hubs = await repo.hub_ids_among(db, (r[0].id for r in rows), on)
    return FacilityPage(items=[_item(fac, p, c, hubs) for fac, p, c in rows], total=total, page=page,
                        page_size=page_size)


def link_out(link: HubLink, names: dict[uuid.UUID, str], on: date) -> LinkOut:
    return LinkOut(id=link.id, hub_id=link.hub_id, hub_name=names.get(link.hub_id, ""), spoke_id=link.spoke_id,
                   spoke_name=names.get(link.spoke_id, ""), specialties=sorted(s.specialty_code for s in link.specialties),
                   priority=link.priority, contract_ref=link.contract_ref, contract_signed_on=link.contract_signed_on,
                   contract_terms=link.contract_terms, valid_from=link.valid_from, valid_to=link.valid_to,
                   current=repo.is_current(link.valid_from, link.valid_to, on))


async def link_view(db: AsyncSession, link: HubLink) -> LinkOut:
    return link_out(link, await repo.facility_names(db, [link.hub_id, link.spoke_id]), today())


async def practitioners_out(db: AsyncSession, subject: Subject, rows: Iterable[Practitioner]) -> list[PractitionerOut]:
    rows = list(rows)
    names = await repo.facility_names(db, (r.facility_id for p in rows for r in p.registrations))
    on = today()
    return [
        PractitionerOut(
            id=p.id, full_name=p.full_name, title=p.title, profession=p.profession,
            citizen_id=p.citizen_id if policy.can_see_citizen_id(subject, registered_facility_ids(p)) else None,
            licence_number=p.licence_number, licence_issuer=p.licence_issuer, licence_issued_on=p.licence_issued_on,
            licence_expires_on=p.licence_expires_on, licence_status=licence_status(p, on),
            scope_of_practice=p.scope_of_practice, specialties=sorted(s.specialty_code for s in p.specialties),
            registrations=[RegistrationOut(facility_id=r.facility_id, facility_name=names.get(r.facility_id, ""),
                                           hours=r.hours, valid_from=r.valid_from, valid_to=r.valid_to,
                                           current=repo.is_current(r.valid_from, r.valid_to, on))
                           for r in sorted(p.registrations, key=lambda r: r.valid_from)],
        )
        for p in rows
    ]


async def practitioner_page(db: AsyncSession, subject: Subject, *, q: str | None, facility_id: uuid.UUID | None,
                            specialty: str | None, page: int, page_size: int) -> PractitionerPage:
    rows, total = await repo.search_practitioners(db, subject, q=q, facility_id=facility_id, specialty=specialty,
                                                  on=today(), page=page, page_size=page_size)
    return PractitionerPage(items=await practitioners_out(db, subject, rows), total=total, page=page,
                            page_size=page_size)


def roster_window(start: date | None = None, days: int = ROSTER_DAYS) -> tuple[datetime, datetime]:
    first = start or today()
    begin = datetime.combine(first, time.min, tzinfo=TZ)
    return begin, begin + timedelta(days=days)


async def roster(db: AsyncSession, hub_id: uuid.UUID, start: date | None = None, days: int = ROSTER_DAYS) -> list[ShiftOut]:
    begin, end = roster_window(start, days)
    return [shift_out(s, name) for s, name in await repo.shifts(db, hub_id, begin, end)]


def shift_out(s: OnCallShift, practitioner_name: str) -> ShiftOut:
    return ShiftOut(id=s.id, hub_id=s.hub_id, specialty_code=s.specialty_code, practitioner_id=s.practitioner_id,
                    practitioner_name=practitioner_name, starts_at=s.starts_at, ends_at=s.ends_at)


def declaration_out(d: RemoteCareDeclaration) -> DeclarationOut:
    return DeclarationOut(id=d.id, facility_id=d.facility_id, declared_on=d.declared_on, publish_due=publish_due(d),
                          published_on=d.published_on, authority=d.authority, status=d.status,
                          modes=[m for m in d.modes.split(",") if m],
                          specialties=sorted(s.specialty_code for s in d.services))


async def facility_detail(db: AsyncSession, subject: Subject, f: Facility) -> FacilityDetail:
    on = today()
    province = await repo.province(db, f.province_code)
    commune = await repo.commune(db, f.commune_code) if f.commune_code else None
    links = await repo.links_of(db, f.id)
    names = await repo.facility_names(db, {f.id} | {x for link in links for x in (link.hub_id, link.spoke_id)})
    outs = [link_out(link, names, on) for link in links]
    hubs = {f.id} if any(o.current and o.hub_id == f.id for o in outs) else set()
    base = _item(f, province.name if province else None, commune.name if commune else None, hubs)
    return FacilityDetail(
        **base.model_dump(), address_line=f.address_line, phone=f.phone, beds=f.beds, is_active=f.is_active,
        identifiers=[IdentifierOut.model_validate(i) for i in await repo.identifiers_of(db, f.id)],
        addresses=[AddressOut.model_validate(a) for a in await repo.addresses_of(db, f.id)],
        links_as_hub=[o for o in outs if o.hub_id == f.id], links_as_spoke=[o for o in outs if o.spoke_id == f.id],
        staff=await practitioners_out(db, subject, await repo.staff_of(db, f.id, on)),
        roster=await roster(db, f.id),
        declarations=[declaration_out(d) for d in await repo.declarations_of(db, f.id)],
    )

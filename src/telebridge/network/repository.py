"""Every query of the network domain. List queries take the acting subject and return only
what it may read.

Effective dates are half-open: a row is current on day ``d`` when
``valid_from <= d`` and (``valid_to`` is empty or ``d < valid_to``). Ending something
"today" therefore makes it no longer current today.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from telebridge.kit.subject import Subject
from telebridge.kit.validators import fold
from telebridge.network import policy
from telebridge.network.models import (
    Commune, DeclaredService, Facility, FacilityAddress, FacilityIdentifier, HubLink, HubLinkSpecialty, OnCallShift, Practitioner,
    PractitionerRegistration, PractitionerSpecialty, Province, RemoteCareDeclaration, Specialty,
)


def current(valid_from: Any, valid_to: Any, on: date) -> ColumnElement[bool]:
    return and_(valid_from <= on, or_(valid_to.is_(None), valid_to > on))


def is_current(valid_from: date, valid_to: date | None, on: date) -> bool:
    return valid_from <= on and (valid_to is None or on < valid_to)


async def _page(db: AsyncSession, stmt: Select[Any], order: Sequence[Any], page: int, page_size: int) -> tuple[list[Any], int]:
    total = int(await db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)
    rows = (await db.execute(stmt.order_by(*order).limit(page_size).offset((page - 1) * page_size))).all()
    return list(rows), total


# --------------------------------------------------------------------------- places, specialties

async def provinces(db: AsyncSession) -> list[Province]:
    return list((await db.scalars(select(Province).order_by(Province.name))).all())


async def communes_of(db: AsyncSession, province_code: int) -> list[Commune]:
    return list((await db.scalars(
        select(Commune).where(Commune.province_code == province_code).order_by(Commune.search_text))).all())


async def province(db: AsyncSession, code: int) -> Province | None:
    return await db.get(Province, code)


async def commune(db: AsyncSession, code: int) -> Commune | None:
    return await db.get(Commune, code)


async def specialties(db: AsyncSession) -> list[Specialty]:
    return list((await db.scalars(select(Specialty).order_by(Specialty.code))).all())


async def known_specialties(db: AsyncSession, codes: Iterable[str]) -> set[str]:
    wanted = set(codes)
    if not wanted:
        return set()
    return set((await db.scalars(select(Specialty.code).where(Specialty.code.in_(wanted)))).all())


# --------------------------------------------------------------------------- facilities

@dataclass
class FacilityFilter:
    q: str | None = None
    province: int | None = None
    level: str | None = None
    kind: str | None = None
    role: str | None = None  # hub | spoke
    hub: uuid.UUID | None = None
    specialty: str | None = None


def _facility_conditions(f: FacilityFilter, on: date) -> list[ColumnElement[bool]]:
    link_now = current(HubLink.valid_from, HubLink.valid_to, on)
    where: list[ColumnElement[bool]] = []
    if f.q and f.q.strip():
        raw = f.q.strip()
        where.append(or_(Facility.search_text.contains(fold(raw), autoescape=True),
                         Facility.insurance_code == raw, Facility.gln_code == raw))
    for column, value in ((Facility.province_code, f.province), (Facility.technical_level, f.level),
                          (Facility.kind, f.kind)):
        if value is not None:
            where.append(column == value)
    if f.role == "hub":
        where.append(Facility.id.in_(select(HubLink.hub_id).where(link_now)))
    elif f.role == "spoke":
        where.append(Facility.id.in_(select(HubLink.spoke_id).where(link_now)))
    if f.hub is not None:
        where.append(Facility.id.in_(select(HubLink.spoke_id).where(link_now, HubLink.hub_id == f.hub)))
    if f.specialty:
        def linked(side: Any) -> ColumnElement[bool]:
            return Facility.id.in_(select(side).join(HubLinkSpecialty, HubLinkSpecialty.link_id == HubLink.id)
                                   .where(link_now, HubLinkSpecialty.specialty_code == f.specialty))

        where.append(or_(linked(HubLink.hub_id), linked(HubLink.spoke_id)))
    return where


async def search_facilities(db: AsyncSession, subject: Subject, f: FacilityFilter, *, on: date, page: int,
                            page_size: int) -> tuple[list[tuple[Facility, str | None, str | None]], int]:
    """One page of the directory as (facility, province name, commune name), and the total."""
    where = _facility_conditions(f, on) if policy.can_read_network(subject) else [false()]
    total = int(await db.scalar(select(func.count()).select_from(Facility).where(*where)) or 0)
    stmt = (select(Facility, Province.name, Commune.name)
            .join(Province, Province.code == Facility.province_code)
            .outerjoin(Commune, Commune.code == Facility.commune_code)
            .where(*where).order_by(Facility.search_text, Facility.id)
            .limit(page_size).offset((page - 1) * page_size))
    rows = (await db.execute(stmt)).all()
    return [(r[0], r[1], r[2]) for r in rows], total


async def hub_ids_among(db: AsyncSession, ids: Iterable[uuid.UUID], on: date) -> set[uuid.UUID]:
    wanted = list(ids)
    if not wanted:
        return set()
    stmt = select(HubLink.hub_id).where(HubLink.hub_id.in_(wanted), current(HubLink.valid_from, HubLink.valid_to, on))
    return set((await db.scalars(stmt.distinct())).all())


async def facility(db: AsyncSession, facility_id: uuid.UUID) -> Facility | None:
    return await db.get(Facility, facility_id)


async def facility_by_code(db: AsyncSession, code: str) -> Facility | None:
    """By insurance code or GLN."""
    return await db.scalar(select(Facility).where(or_(Facility.insurance_code == code, Facility.gln_code == code)))


async def facility_holding(db: AsyncSession, column: Any, value: str, *, other_than: uuid.UUID | None) -> bool:
    stmt = select(Facility.id).where(column == value)
    if other_than is not None:
        stmt = stmt.where(Facility.id != other_than)
    return await db.scalar(stmt.limit(1)) is not None


async def facility_names(db: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = await db.execute(select(Facility.id, Facility.name).where(Facility.id.in_(wanted)))
    return {fid: name for fid, name in rows.all()}


async def identifiers_of(db: AsyncSession, facility_id: uuid.UUID) -> list[FacilityIdentifier]:
    stmt = select(FacilityIdentifier).where(FacilityIdentifier.facility_id == facility_id)
    return list((await db.scalars(stmt.order_by(
        FacilityIdentifier.system, FacilityIdentifier.valid_from, FacilityIdentifier.valid_to.is_(None)))).all())


async def addresses_of(db: AsyncSession, facility_id: uuid.UUID) -> list[FacilityAddress]:
    stmt = select(FacilityAddress).where(FacilityAddress.facility_id == facility_id)
    return list((await db.scalars(stmt.order_by(FacilityAddress.valid_from, FacilityAddress.valid_to.is_(None)))).all())


async def open_identifier(db: AsyncSession, facility_id: uuid.UUID, system: str) -> FacilityIdentifier | None:
    return await db.scalar(select(FacilityIdentifier).where(
        FacilityIdentifier.facility_id == facility_id, FacilityIdentifier.system == system,
        FacilityIdentifier.valid_to.is_(None)))


async def open_address(db: AsyncSession, facility_id: uuid.UUID) -> FacilityAddress | None:
    return await db.scalar(select(FacilityAddress).where(
        FacilityAddress.facility_id == facility_id, FacilityAddress.valid_to.is_(None)))


# --------------------------------------------------------------------------- links

async def links_of(db: AsyncSession, facility_id: uuid.UUID) -> list[HubLink]:
    """Every link where the facility is hub or spoke (current and ended), specialties loaded."""
    stmt = (select(HubLink).options(selectinload(HubLink.specialties))
            .where(or_(HubLink.hub_id == facility_id, HubLink.spoke_id == facility_id))
            .order_by(HubLink.priority, HubLink.valid_from))
    return list((await db.scalars(stmt)).all())


async def link(db: AsyncSession, link_id: uuid.UUID) -> HubLink | None:
    return await db.scalar(select(HubLink).options(selectinload(HubLink.specialties)).where(HubLink.id == link_id))


async def open_link_for_pair(db: AsyncSession, hub_id: uuid.UUID, spoke_id: uuid.UUID, on: date) -> HubLink | None:
    """The pair's link that has not ended by ``on`` (current or starting later), if any."""
    return await db.scalar(select(HubLink).where(
        HubLink.hub_id == hub_id, HubLink.spoke_id == spoke_id,
        or_(HubLink.valid_to.is_(None), HubLink.valid_to > on)).limit(1))


async def hub_covers(db: AsyncSession, hub_id: uuid.UUID, specialty_code: str, on: date) -> bool:
    stmt = (select(HubLink.id).join(HubLinkSpecialty, HubLinkSpecialty.link_id == HubLink.id)
            .where(HubLink.hub_id == hub_id, HubLinkSpecialty.specialty_code == specialty_code,
                   current(HubLink.valid_from, HubLink.valid_to, on)).limit(1))
    return await db.scalar(stmt) is not None


async def hubs_for(db: AsyncSession, *, spoke_id: uuid.UUID, specialty_code: str, on: date) -> list[Facility]:
    """Hubs linked to the spoke for the specialty on ``on`` whose published declaration covers it."""
    declared = (select(RemoteCareDeclaration.facility_id)
                .join(DeclaredService, DeclaredService.declaration_id == RemoteCareDeclaration.id)
                .where(RemoteCareDeclaration.status == "published", RemoteCareDeclaration.published_on <= on,
                       DeclaredService.specialty_code == specialty_code))
    stmt = (select(Facility).join(HubLink, HubLink.hub_id == Facility.id)
            .join(HubLinkSpecialty, HubLinkSpecialty.link_id == HubLink.id)
            .where(HubLink.spoke_id == spoke_id, HubLinkSpecialty.specialty_code == specialty_code,
                   current(HubLink.valid_from, HubLink.valid_to, on), Facility.is_active.is_(True),
                   Facility.id.in_(declared))
            .order_by(HubLink.priority, Facility.search_text))
    return list((await db.scalars(stmt)).all())


# --------------------------------------------------------------------------- practitioners

def _practitioner_options() -> tuple[Any, ...]:
    return selectinload(Practitioner.specialties), selectinload(Practitioner.registrations)


async def search_practitioners(db: AsyncSession, subject: Subject, *, q: str | None, facility_id: uuid.UUID | None,
                               specialty: str | None, on: date, page: int, page_size: int) -> tuple[list[Practitioner], int]:
    stmt = select(Practitioner)
    if not policy.can_read_network(subject):
        stmt = stmt.where(false())
    if q and q.strip():
        raw = q.strip()
        stmt = stmt.where(or_(Practitioner.search_text.contains(fold(raw), autoescape=True),
                              Practitioner.licence_number == raw.upper()))
    if facility_id is not None:
        stmt = stmt.where(Practitioner.id.in_(select(PractitionerRegistration.practitioner_id).where(
            PractitionerRegistration.facility_id == facility_id,
            current(PractitionerRegistration.valid_from, PractitionerRegistration.valid_to, on))))
    if specialty:
        stmt = stmt.where(Practitioner.id.in_(select(PractitionerSpecialty.practitioner_id).where(
            PractitionerSpecialty.specialty_code == specialty)))
    rows, total = await _page(db, stmt.options(*_practitioner_options()), (Practitioner.search_text, Practitioner.id),
                              page, page_size)
    return [r[0] for r in rows], total


async def practitioner(db: AsyncSession, practitioner_id: uuid.UUID) -> Practitioner | None:
    return await db.scalar(select(Practitioner).options(*_practitioner_options()).where(Practitioner.id == practitioner_id))


async def practitioner_holding(db: AsyncSession, column: Any, value: str, *, other_than: uuid.UUID | None) -> bool:
    stmt = select(Practitioner.id).where(column == value)
    if other_than is not None:
        stmt = stmt.where(Practitioner.id != other_than)
    return await db.scalar(stmt.limit(1)) is not None


async def staff_of(db: AsyncSession, facility_id: uuid.UUID, on: date) -> list[Practitioner]:
    stmt = (select(Practitioner).options(*_practitioner_options())
            .where(Practitioner.id.in_(select(PractitionerRegistration.practitioner_id).where(
                PractitionerRegistration.facility_id == facility_id,
                current(PractitionerRegistration.valid_from, PractitionerRegistration.valid_to, on))))
            .order_by(Practitioner.search_text).limit(200))
    return list((await db.scalars(stmt)).all())


async def registered_at(db: AsyncSession, practitioner_id: uuid.UUID, facility_id: uuid.UUID, on: date) -> bool:
    stmt = select(PractitionerRegistration.id).where(
        PractitionerRegistration.practitioner_id == practitioner_id, PractitionerRegistration.facility_id == facility_id,
        current(PractitionerRegistration.valid_from, PractitionerRegistration.valid_to, on)).limit(1)
    return await db.scalar(stmt) is not None


# --------------------------------------------------------------------------- rosters

async def shifts(db: AsyncSession, hub_id: uuid.UUID, start: datetime, end: datetime) -> list[tuple[OnCallShift, str]]:
    """Shifts of a hub that overlap [start, end), with the practitioner's name."""
    stmt = (select(OnCallShift, Practitioner.full_name).join(Practitioner, Practitioner.id == OnCallShift.practitioner_id)
            .where(OnCallShift.hub_id == hub_id, OnCallShift.starts_at < end, OnCallShift.ends_at > start)
            .order_by(OnCallShift.starts_at, OnCallShift.specialty_code).limit(500))
    return [(s, name) for s, name in (await db.execute(stmt)).all()]


async def overlapping_shift(db: AsyncSession, practitioner_id: uuid.UUID, start: datetime, end: datetime) -> bool:
    stmt = select(OnCallShift.id).where(OnCallShift.practitioner_id == practitioner_id,
                                        OnCallShift.starts_at < end, OnCallShift.ends_at > start).limit(1)
    return await db.scalar(stmt) is not None


async def shift(db: AsyncSession, shift_id: uuid.UUID) -> OnCallShift | None:
    return await db.get(OnCallShift, shift_id)


async def on_call(db: AsyncSession, *, hub_id: uuid.UUID, specialty_code: str, at: datetime,
                  on: date) -> list[Practitioner]:
    """On shift at ``at`` and still registered at the hub on ``on``."""
    registered = select(PractitionerRegistration.practitioner_id).where(
        PractitionerRegistration.facility_id == hub_id,
        current(PractitionerRegistration.valid_from, PractitionerRegistration.valid_to, on))
    stmt = (select(Practitioner).join(OnCallShift, OnCallShift.practitioner_id == Practitioner.id)
            .where(OnCallShift.hub_id == hub_id, OnCallShift.specialty_code == specialty_code,
                   OnCallShift.starts_at <= at, OnCallShift.ends_at > at, Practitioner.id.in_(registered))
            .order_by(OnCallShift.starts_at, Practitioner.search_text))
    return list((await db.scalars(stmt)).unique().all())


# --------------------------------------------------------------------------- declarations

async def declared_modes(db: AsyncSession, *, facility_ids: list[uuid.UUID], on: date) -> dict[uuid.UUID, set[str]]:
    """Consultation modes of each facility's published declarations on ``on``."""
    if not facility_ids:
        return {}
    stmt = select(RemoteCareDeclaration.facility_id, RemoteCareDeclaration.modes).where(
        RemoteCareDeclaration.facility_id.in_(facility_ids), RemoteCareDeclaration.status == "published",
        RemoteCareDeclaration.published_on <= on)
    found: dict[uuid.UUID, set[str]] = {}
    for facility_id, modes in (await db.execute(stmt)).all():
        found.setdefault(facility_id, set()).update(m.strip() for m in (modes or "").split(",") if m.strip())
    return found


async def declarations_of(db: AsyncSession, facility_id: uuid.UUID) -> list[RemoteCareDeclaration]:
    stmt = (select(RemoteCareDeclaration).options(selectinload(RemoteCareDeclaration.services))
            .where(RemoteCareDeclaration.facility_id == facility_id)
            .order_by(RemoteCareDeclaration.declared_on.desc(), RemoteCareDeclaration.created_at.desc()))
    return list((await db.scalars(stmt)).all())


async def declaration(db: AsyncSession, declaration_id: uuid.UUID) -> RemoteCareDeclaration | None:
    return await db.scalar(select(RemoteCareDeclaration).options(selectinload(RemoteCareDeclaration.services))
                           .where(RemoteCareDeclaration.id == declaration_id))


async def declared_specialties(db: AsyncSession, *, facility_id: uuid.UUID, on: date) -> set[str]:
    stmt = (select(DeclaredService.specialty_code)
            .join(RemoteCareDeclaration, RemoteCareDeclaration.id == DeclaredService.declaration_id)
            .where(RemoteCareDeclaration.facility_id == facility_id, RemoteCareDeclaration.status == "published",
                   RemoteCareDeclaration.published_on <= on))
    return set((await db.scalars(stmt)).all())


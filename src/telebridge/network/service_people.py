"""Practitioners (licence, scope, specialties, registrations) and hub on-call rosters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.kit import validators
from telebridge.kit.access import authorize
from telebridge.kit.errors import BadInput, Conflict, NotFound
from telebridge.kit.i18n import N_
from telebridge.kit.subject import Subject
from telebridge.network import policy
from telebridge.network import repository as repo
from telebridge.network.models import (
    Facility, OnCallShift, Practitioner, PractitionerRegistration, PractitionerSpecialty,
)
from telebridge.network.reference import PROFESSIONS
from telebridge.network.schemas import PractitionerIn, RegistrationIn, ShiftIn
from telebridge.network.service import (
    TZ, check_period, check_specialties, choice, licence_valid, local_date, record,
)

MAX_SHIFT = timedelta(hours=24)


async def get_practitioner(db: AsyncSession, practitioner_id: uuid.UUID) -> Practitioner:
    found = await repo.practitioner(db, practitioner_id)
    if found is None:
        raise NotFound(N_("No such practitioner."))
    return found


def registered_facility_ids(p: Practitioner) -> set[uuid.UUID]:
    return {r.facility_id for r in p.registrations}


async def _clean_registrations(db: AsyncSession, rows: list[RegistrationIn]) -> list[dict[str, Any]]:
    names = await repo.facility_names(db, (r.facility_id for r in rows))
    cleaned: list[dict[str, Any]] = []
    seen: set[tuple[uuid.UUID, Any]] = set()
    for r in rows:
        if r.facility_id not in names:
            raise BadInput(N_("Unknown facility in the registrations."), field="registrations")
        check_period(r.valid_from, r.valid_to, field="registrations")
        key = (r.facility_id, r.valid_from)
        if key in seen:
            raise BadInput(N_("The same registration is listed twice."), field="registrations")
        seen.add(key)
        cleaned.append({"facility_id": r.facility_id, "valid_from": r.valid_from, "valid_to": r.valid_to,
                        "hours": validators.clean_text(r.hours, field="registrations", max_len=120, required=True)})
    return cleaned


async def _clean_practitioner(db: AsyncSession, data: PractitionerIn, *, practitioner_id: uuid.UUID | None
                              ) -> tuple[dict[str, Any], list[str], list[dict[str, Any]]]:
    citizen = (data.citizen_id or "").strip()
    values: dict[str, Any] = {
        "full_name": validators.clean_text(data.full_name, field="full_name", max_len=200, required=True),
        "title": validators.clean_text(data.title, field="title", max_len=60),
        "profession": choice(data.profession, PROFESSIONS, field="profession"),
        "citizen_id": validators.citizen_id(citizen) if citizen else None,
        "licence_number": validators.licence_number(data.licence_number),
        "licence_issuer": validators.clean_text(data.licence_issuer, field="licence_issuer", max_len=200, required=True),
        "licence_issued_on": data.licence_issued_on,
        "licence_expires_on": data.licence_expires_on,
        "scope_of_practice": validators.clean_text(data.scope_of_practice, field="scope_of_practice", max_len=300,
                                                   required=True),
    }
    if data.licence_expires_on is not None and data.licence_expires_on <= data.licence_issued_on:
        raise BadInput(N_("A licence must expire after the day it was issued."), field="licence_expires_on")
    codes = await check_specialties(db, data.specialties) if data.specialties else []
    registrations = await _clean_registrations(db, data.registrations)
    if await repo.practitioner_holding(db, Practitioner.licence_number, values["licence_number"],
                                       other_than=practitioner_id):
        raise Conflict(N_("Another practitioner already has the licence number {number}."),
                       field="licence_number", number=values["licence_number"])
    if values["citizen_id"] and await repo.practitioner_holding(db, Practitioner.citizen_id, values["citizen_id"],
                                                                other_than=practitioner_id):
        raise Conflict(N_("Another practitioner already has this citizen ID."), field="citizen_id")
    return values, codes, registrations


async def create_practitioner(db: AsyncSession, *, subject: Subject, data: PractitionerIn) -> Practitioner:
    values, codes, registrations = await _clean_practitioner(db, data, practitioner_id=None)
    _check_registration_changes(subject, [], registrations)
    p = Practitioner(**values, search_text=validators.fold(values["full_name"]),
                     specialties=[PractitionerSpecialty(specialty_code=c) for c in codes],
                     registrations=[PractitionerRegistration(**r) for r in registrations])
    db.add(p)
    await db.flush()
    record(db, subject, action="create", object_type="practitioner", object_id=p.id,
           fields=[k for k, v in values.items() if v is not None] + ["specialties", "registrations"])
    return p


async def update_practitioner(db: AsyncSession, *, subject: Subject, practitioner: Practitioner,
                              data: PractitionerIn) -> list[str]:
    """Replace the practitioner's details, specialties and registrations with ``data``."""
    values, codes, registrations = await _clean_practitioner(db, data, practitioner_id=practitioner.id)
    changed = sorted(k for k, v in values.items() if getattr(practitioner, k) != v)
    for key in changed:
        setattr(practitioner, key, values[key])
    practitioner.search_text = validators.fold(practitioner.full_name)
    if codes != sorted(s.specialty_code for s in practitioner.specialties):
        practitioner.specialties = [PractitionerSpecialty(specialty_code=c) for c in codes]
        changed.append("specialties")
    if _registration_changes(practitioner.registrations, registrations):
        _check_registration_changes(subject, practitioner.registrations, registrations)
        kept = {(r.facility_id, r.valid_from): r for r in practitioner.registrations}
        rows = []
        for values_ in registrations:
            row = kept.get((values_["facility_id"], values_["valid_from"])) or PractitionerRegistration()
            for key, value in values_.items():
                setattr(row, key, value)
            rows.append(row)
        practitioner.registrations = rows
        changed.append("registrations")
    if changed:
        await db.flush()
        record(db, subject, action="update", object_type="practitioner", object_id=practitioner.id, fields=changed)
    return changed


def _registration_changes(rows: list[PractitionerRegistration], wanted: list[dict[str, Any]]) -> set[uuid.UUID]:
    """The facilities whose registrations would be added, changed or removed."""
    have = {(r.facility_id, r.valid_from, r.valid_to, r.hours) for r in rows}
    want = {(r["facility_id"], r["valid_from"], r["valid_to"], r["hours"]) for r in wanted}
    return {entry[0] for entry in have ^ want}


def _check_registration_changes(subject: Subject, rows: list[PractitionerRegistration],
                                wanted: list[dict[str, Any]]) -> None:
    changed = _registration_changes(rows, wanted)
    authorize(policy.can_change_registrations(subject, changed), action="update", object_type="practitioner_registration",
              message=N_("Only the administrators of a facility can register practitioners there."))


# --------------------------------------------------------------------------- rosters

def as_utc(value: datetime) -> datetime:
    """A naive date-time (from a form) is local Vietnamese time."""
    return (value.replace(tzinfo=TZ) if value.tzinfo is None else value).astimezone(UTC)


async def create_shift(db: AsyncSession, *, subject: Subject, hub: Facility, data: ShiftIn) -> OnCallShift:
    starts, ends = as_utc(data.starts_at), as_utc(data.ends_at)
    if ends <= starts:
        raise BadInput(N_("A shift must end after it starts."), field="ends_at")
    if ends - starts > MAX_SHIFT:
        raise BadInput(N_("A shift lasts at most 24 hours."), field="ends_at")
    first_day, last_day = local_date(starts), local_date(ends)
    if not await repo.hub_covers(db, hub.id, data.specialty_code, first_day):
        raise BadInput(N_("This hub does not cover that specialty on any current link."), field="specialty_code")
    p = await get_practitioner(db, data.practitioner_id)
    if not all([await repo.registered_at(db, p.id, hub.id, first_day), await repo.registered_at(db, p.id, hub.id, last_day)]):
        raise BadInput(N_("The practitioner is not registered at this hub for the whole shift."), field="practitioner_id")
    if not (licence_valid(p, first_day) and licence_valid(p, last_day)):
        raise BadInput(N_("The practitioner's licence is not valid for the whole shift."), field="practitioner_id")
    if data.specialty_code not in {s.specialty_code for s in p.specialties}:
        raise BadInput(N_("The practitioner does not practise that specialty."), field="specialty_code")
    if await repo.overlapping_shift(db, p.id, starts, ends):
        raise Conflict(N_("The practitioner already has a shift at that time."), field="starts_at")
    shift = OnCallShift(hub_id=hub.id, specialty_code=data.specialty_code, practitioner_id=p.id,
                        starts_at=starts, ends_at=ends, created_by=subject.user_id)
    db.add(shift)
    await db.flush()
    record(db, subject, action="create", object_type="on_call_shift", object_id=shift.id,
           fields=["hub_id", "specialty_code", "practitioner_id", "starts_at", "ends_at"])
    return shift


async def get_shift(db: AsyncSession, hub_id: uuid.UUID, shift_id: uuid.UUID) -> OnCallShift:
    found = await repo.shift(db, shift_id)
    if found is None or found.hub_id != hub_id:
        raise NotFound(N_("No such shift."))
    return found


async def delete_shift(db: AsyncSession, *, subject: Subject, shift: OnCallShift) -> None:
    await db.delete(shift)
    await db.flush()
    record(db, subject, action="delete", object_type="on_call_shift", object_id=shift.id, fields=[])

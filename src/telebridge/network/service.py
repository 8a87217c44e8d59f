"""Network rules: facilities (with identifier and address history), hub↔spoke links,
remote-care declarations, and the questions other domains ask (who may act, who is on
call, which hubs to ask). Practitioner and roster writes are in ``service_people``.

Functions take keyword-only arguments and ``flush()``; the request boundary commits.
Dates are the local (Asia/Ho_Chi_Minh) calendar day; effective dates are half-open
(see ``repository``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.kit import audit, validators
from telebridge.kit.errors import BadInput, Conflict, NotFound
from telebridge.kit.i18n import N_
from telebridge.kit.subject import Subject
from telebridge.network import repository as repo
from telebridge.network.models import (
    Commune, DeclaredService, Facility, FacilityAddress, FacilityIdentifier, HubLink, HubLinkSpecialty, Practitioner,
    Province, RemoteCareDeclaration,
)
from telebridge.network.reference import CONSULTATION_MODES, FACILITY_KINDS, LEGACY_TIERS, TECHNICAL_LEVELS
from telebridge.network.schemas import DeclarationIn, FacilityIn, LinkIn, LinkPatch, PublishIn

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
EXPIRY_WARNING_DAYS = 60
PUBLISH_WITHIN_DAYS = 10


# --------------------------------------------------------------------------- places
# Provinces and communes (since the July 2025 reform) belong to this domain; other domains
# validate and name addresses through these functions.

async def check_place(db: AsyncSession, *, province_code: int | None, commune_code: int | None) -> None:
    if province_code is not None and await repo.province(db, province_code) is None:
        raise BadInput(N_("Unknown province."), field="province_code")
    if commune_code is not None:
        if province_code is None:
            raise BadInput(N_("Choose the province before the commune."), field="province_code")
        found = await repo.commune(db, commune_code)
        if found is None or found.province_code != province_code:
            raise BadInput(N_("The commune does not belong to the chosen province."), field="commune_code")


async def place(db: AsyncSession, *, province_code: int | None, commune_code: int | None) -> tuple[Province | None, Commune | None]:
    province = await repo.province(db, province_code) if province_code else None
    commune = await repo.commune(db, commune_code) if commune_code else None
    return province, commune


async def provinces(db: AsyncSession) -> list[Province]:
    return await repo.provinces(db)


async def communes(db: AsyncSession, province_code: int | None) -> list[Commune]:
    return await repo.communes_of(db, province_code) if province_code else []


def today() -> date:
    return datetime.now(TZ).date()


def local_date(at: datetime) -> date:
    return at.astimezone(TZ).date()


def record(db: AsyncSession, subject: Subject, *, action: str, object_type: str, object_id: Any,
           fields: Iterable[str]) -> None:
    """Audit a write of network data: only the names of the fields written."""
    audit.record(db, subject, action=action, object_type=object_type, object_id=object_id,
                 detail={"fields": sorted(fields)})


def choice(value: str | None, allowed: Iterable[str], *, field: str, required: bool = True) -> str | None:
    if value in (None, "") and not required:
        return None
    if value not in allowed:
        raise BadInput(N_("Choose one of the listed values."), field=field)
    return value


async def check_specialties(db: AsyncSession, codes: Iterable[str], *, field: str = "specialties") -> list[str]:
    wanted = sorted(set(codes))
    if not wanted:
        raise BadInput(N_("Choose at least one specialty."), field=field)
    unknown = set(wanted) - await repo.known_specialties(db, wanted)
    if unknown:
        raise BadInput(N_("Unknown specialty: {codes}."), field=field, codes=", ".join(sorted(unknown)))
    return wanted


def check_period(valid_from: date, valid_to: date | None, *, field: str = "valid_to") -> None:
    if valid_to is not None and valid_to <= valid_from:
        raise BadInput(N_("The end date must be after the start date."), field=field)


def _optional(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


# --------------------------------------------------------------------------- facilities

async def get_facility(db: AsyncSession, facility_id: uuid.UUID) -> Facility:
    found = await repo.facility(db, facility_id)
    if found is None:
        raise NotFound(N_("No such facility."))
    return found


async def _clean_facility(db: AsyncSession, data: FacilityIn, *, facility_id: uuid.UUID | None) -> dict[str, Any]:
    insurance = _optional(data.insurance_code)
    gln = _optional(data.gln_code)
    values: dict[str, Any] = {
        "name": validators.clean_text(data.name, field="name", max_len=200, required=True),
        "name_en": validators.clean_text(data.name_en, field="name_en", max_len=200),
        "kind": choice(data.kind, FACILITY_KINDS, field="kind"),
        "technical_level": choice(data.technical_level, TECHNICAL_LEVELS, field="technical_level"),
        "legacy_tier": choice(data.legacy_tier, LEGACY_TIERS, field="legacy_tier", required=False),
        "insurance_code": validators.insurance_facility_code(insurance) if insurance else None,
        "gln_code": validators.gln(gln) if gln else None,
        "province_code": data.province_code,
        "commune_code": data.commune_code,
        "address_line": validators.clean_text(data.address_line, field="address_line", max_len=300),
        "phone": validators.phone(data.phone),
        "beds": data.beds,
    }
    await check_place(db, province_code=data.province_code, commune_code=data.commune_code)
    if values["insurance_code"] and await repo.facility_holding(
            db, Facility.insurance_code, values["insurance_code"], other_than=facility_id):
        raise Conflict(N_("Another facility already has the insurance facility code {value}."),
                       field="insurance_code", value=values["insurance_code"])
    if values["gln_code"] and await repo.facility_holding(db, Facility.gln_code, values["gln_code"], other_than=facility_id):
        raise Conflict(N_("Another facility already has the GLN {value}."), field="gln_code", value=values["gln_code"])
    return values


_IDENTIFIER_SYSTEMS = (("insurance", "insurance_code"), ("gln", "gln_code"))
_ADDRESS_FIELDS = ("province_code", "commune_code", "address_line")


async def create_facility(db: AsyncSession, *, subject: Subject, data: FacilityIn) -> Facility:
    values = await _clean_facility(db, data, facility_id=None)
    facility = Facility(**values, search_text=validators.fold(values["name"]))
    db.add(facility)
    await db.flush()
    on = today()
    db.add_all(FacilityIdentifier(facility_id=facility.id, system=system, value=values[field], valid_from=on)
               for system, field in _IDENTIFIER_SYSTEMS if values[field])
    db.add(FacilityAddress(facility_id=facility.id, valid_from=on, **{k: values[k] for k in _ADDRESS_FIELDS}))
    await db.flush()
    record(db, subject, action="create", object_type="facility", object_id=facility.id,
           fields=[k for k, v in values.items() if v is not None])
    return facility


async def update_facility(db: AsyncSession, *, subject: Subject, facility: Facility, data: FacilityIn) -> list[str]:
    """Apply the new values; close and reopen identifier and address history rows that changed."""
    values = await _clean_facility(db, data, facility_id=facility.id)
    changed = sorted(k for k, v in values.items() if getattr(facility, k) != v)
    if not changed:
        return []
    on = today()
    for system, field in _IDENTIFIER_SYSTEMS:
        if field in changed:
            old = await repo.open_identifier(db, facility.id, system)
            if old is not None:
                old.valid_to = on
            if values[field]:
                db.add(FacilityIdentifier(facility_id=facility.id, system=system, value=values[field], valid_from=on))
    if any(k in changed for k in _ADDRESS_FIELDS):
        old_address = await repo.open_address(db, facility.id)
        if old_address is not None:
            old_address.valid_to = on
        db.add(FacilityAddress(facility_id=facility.id, valid_from=on, **{k: values[k] for k in _ADDRESS_FIELDS}))
    for key in changed:
        setattr(facility, key, values[key])
    facility.search_text = validators.fold(facility.name)
    await db.flush()
    record(db, subject, action="update", object_type="facility", object_id=facility.id, fields=changed)
    return changed


# --------------------------------------------------------------------------- links

async def get_link(db: AsyncSession, link_id: uuid.UUID) -> HubLink:
    found = await repo.link(db, link_id)
    if found is None:
        raise NotFound(N_("No such link."))
    return found


async def create_link(db: AsyncSession, *, subject: Subject, data: LinkIn) -> HubLink:
    if data.hub_id == data.spoke_id:
        raise BadInput(N_("A facility cannot be linked to itself."), field="spoke_id")
    await get_facility(db, data.hub_id)
    await get_facility(db, data.spoke_id)
    codes = await check_specialties(db, data.specialties)
    valid_from = data.valid_from or today()
    check_period(valid_from, data.valid_to)
    if await repo.open_link_for_pair(db, data.hub_id, data.spoke_id, today()) is not None:
        raise Conflict(N_("These facilities are already linked; edit the existing link."), field="spoke_id")
    link = HubLink(hub_id=data.hub_id, spoke_id=data.spoke_id, priority=data.priority,
                   contract_ref=validators.clean_text(data.contract_ref, field="contract_ref", max_len=100),
                   contract_signed_on=data.contract_signed_on,
                   contract_terms=validators.clean_text(data.contract_terms, field="contract_terms", max_len=5000),
                   valid_from=valid_from, valid_to=data.valid_to,
                   specialties=[HubLinkSpecialty(specialty_code=c) for c in codes])
    db.add(link)
    await db.flush()
    record(db, subject, action="create", object_type="hub_link", object_id=link.id,
           fields=["hub_id", "spoke_id", "specialties", "priority", "valid_from", *(
               k for k in ("contract_ref", "contract_signed_on", "contract_terms", "valid_to") if getattr(link, k))])
    return link


async def update_link(db: AsyncSession, *, subject: Subject, link: HubLink, data: LinkPatch) -> list[str]:
    sent = data.model_dump(exclude_unset=True)
    changed: list[str] = []
    if "specialties" in sent:
        codes = await check_specialties(db, sent.pop("specialties") or [])
        if codes != sorted(s.specialty_code for s in link.specialties):
            link.specialties = [HubLinkSpecialty(specialty_code=c) for c in codes]
            changed.append("specialties")
    for key in ("priority", "valid_from"):
        if key in sent and sent[key] is None:
            raise BadInput(N_("This field is required."), field=key)
    for key in ("contract_ref", "contract_terms"):
        if key in sent:
            sent[key] = validators.clean_text(sent[key], field=key, max_len=100 if key == "contract_ref" else 5000)
    check_period(sent.get("valid_from", link.valid_from), sent.get("valid_to", link.valid_to))
    for key, value in sent.items():
        if getattr(link, key) != value:
            setattr(link, key, value)
            changed.append(key)
    if changed:
        await db.flush()
        record(db, subject, action="update", object_type="hub_link", object_id=link.id, fields=changed)
    return changed


async def end_link(db: AsyncSession, *, subject: Subject, link: HubLink, on: date | None) -> None:
    end = on or today()
    if link.valid_to is not None and link.valid_to <= today():
        raise Conflict(N_("This link has already ended."))
    if end < link.valid_from:
        raise BadInput(N_("A link cannot end before it starts."), field="on")
    link.valid_to = end
    await db.flush()
    record(db, subject, action="update", object_type="hub_link", object_id=link.id, fields=["valid_to"])


# --------------------------------------------------------------------------- declarations

async def get_declaration(db: AsyncSession, declaration_id: uuid.UUID) -> RemoteCareDeclaration:
    found = await repo.declaration(db, declaration_id)
    if found is None:
        raise NotFound(N_("No such declaration."))
    return found


async def submit_declaration(db: AsyncSession, *, subject: Subject, facility: Facility,
                             data: DeclarationIn) -> RemoteCareDeclaration:
    codes = await check_specialties(db, data.specialties)
    modes = sorted(set(data.modes))
    if not modes:
        raise BadInput(N_("Choose at least one consultation mode."), field="modes")
    for mode in modes:
        choice(mode, CONSULTATION_MODES, field="modes")
    declaration = RemoteCareDeclaration(facility_id=facility.id, declared_on=today(), status="submitted",
                                        modes=",".join(modes), services=[DeclaredService(specialty_code=c) for c in codes])
    db.add(declaration)
    await db.flush()
    record(db, subject, action="create", object_type="remote_care_declaration", object_id=declaration.id,
           fields=["specialties", "modes"])
    return declaration


async def publish_declaration(db: AsyncSession, *, subject: Subject, declaration: RemoteCareDeclaration,
                              data: PublishIn) -> None:
    if declaration.status != "submitted":
        raise Conflict(N_("Only a submitted declaration can be published."))
    if data.published_on < declaration.declared_on or data.published_on > today():
        raise BadInput(N_("The publication date must be between the declaration date and today."), field="published_on")
    declaration.authority = validators.clean_text(data.authority, field="authority", max_len=200, required=True)
    declaration.published_on = data.published_on
    declaration.status = "published"
    await db.flush()
    record(db, subject, action="update", object_type="remote_care_declaration", object_id=declaration.id,
           fields=["status", "published_on", "authority"])


async def withdraw_declaration(db: AsyncSession, *, subject: Subject, declaration: RemoteCareDeclaration) -> None:
    if declaration.status == "withdrawn":
        raise Conflict(N_("This declaration has already been withdrawn."))
    declaration.status = "withdrawn"
    await db.flush()
    record(db, subject, action="update", object_type="remote_care_declaration", object_id=declaration.id,
           fields=["status"])


def publish_due(declaration: RemoteCareDeclaration) -> date:
    """The authority publishes a declaration within 10 days."""
    return declaration.declared_on + timedelta(days=PUBLISH_WITHIN_DAYS)


# --------------------------------------------------------------------------- questions other domains ask

def licence_valid(p: Practitioner, on: date) -> bool:
    return p.licence_issued_on <= on and (p.licence_expires_on is None or on <= p.licence_expires_on)


def licence_status(p: Practitioner, on: date) -> str:
    """valid | expiring (within 60 days) | expired | not_yet_valid."""
    if p.licence_issued_on > on:
        return "not_yet_valid"
    if p.licence_expires_on is not None and p.licence_expires_on < on:
        return "expired"
    if p.licence_expires_on is not None and p.licence_expires_on <= on + timedelta(days=EXPIRY_WARNING_DAYS):
        return "expiring"
    return "valid"


async def practitioner_may_act(db: AsyncSession, *, practitioner_id: uuid.UUID, facility_id: uuid.UUID,
                               at: datetime) -> bool:
    """True when the licence is valid at ``at`` and the practitioner is registered at the facility then."""
    p = await db.get(Practitioner, practitioner_id)
    on = local_date(at)
    return p is not None and licence_valid(p, on) and await repo.registered_at(db, practitioner_id, facility_id, on)


async def on_call_now(db: AsyncSession, *, hub_id: uuid.UUID, specialty_code: str, at: datetime) -> list[Practitioner]:
    """Practitioners on shift for the hub's specialty at ``at`` who may still act there."""
    on = local_date(at)
    found = await repo.on_call(db, hub_id=hub_id, specialty_code=specialty_code, at=at, on=on)
    return [p for p in found if licence_valid(p, on)]


async def declared_specialties(db: AsyncSession, *, facility_id: uuid.UUID, on: date) -> set[str]:
    """Specialties of the facility's published (not withdrawn) remote-care declarations."""
    return await repo.declared_specialties(db, facility_id=facility_id, on=on)


async def declared_modes(db: AsyncSession, *, facility_ids: list[uuid.UUID], on: date) -> dict[uuid.UUID, set[str]]:
    """Consultation modes each facility has declared (published declarations)."""
    return await repo.declared_modes(db, facility_ids=facility_ids, on=on)


async def hubs_for(db: AsyncSession, *, spoke_id: uuid.UUID, specialty_code: str, on: date) -> list[Facility]:
    """Hubs to ask for a spoke's request, best first (link priority). Only hubs linked to the
    spoke for that specialty on ``on`` and whose published declaration covers it: a facility
    provides remote care only for the services it has declared."""
    return await repo.hubs_for(db, spoke_id=spoke_id, specialty_code=specialty_code, on=on)

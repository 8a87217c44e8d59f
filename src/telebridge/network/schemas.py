"""Input and output models of the network domain (JSON API; pages parse their forms into the
same input models). National identifiers and enumerations are checked by the service with
kit.validators, so a bad value is a 400 with a translated message, not a 422."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field


# --------------------------------------------------------------------------- facilities

class FacilityIn(BaseModel):
    name: str = Field(max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    kind: str = Field(max_length=32)
    technical_level: str = Field(max_length=16)
    legacy_tier: str | None = Field(default=None, max_length=16)
    insurance_code: str | None = Field(default=None, max_length=20)
    gln_code: str | None = Field(default=None, max_length=20)
    province_code: int
    commune_code: int | None = None
    address_line: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=20)
    beds: int | None = Field(default=None, ge=0, le=100_000)


class FacilityPatch(BaseModel):
    """Partial update: only the fields sent are changed."""

    name: str | None = Field(default=None, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    kind: str | None = Field(default=None, max_length=32)
    technical_level: str | None = Field(default=None, max_length=16)
    legacy_tier: str | None = Field(default=None, max_length=16)
    insurance_code: str | None = Field(default=None, max_length=20)
    gln_code: str | None = Field(default=None, max_length=20)
    province_code: int | None = None
    commune_code: int | None = None
    address_line: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=20)
    beds: int | None = Field(default=None, ge=0, le=100_000)


class FacilityItem(BaseModel):
    id: uuid.UUID
    name: str
    name_en: str | None
    kind: str
    technical_level: str
    legacy_tier: str | None
    insurance_code: str | None
    gln_code: str | None
    province_code: int
    province_name: str | None
    commune_code: int | None
    commune_name: str | None
    is_hub: bool


class FacilityPage(BaseModel):
    items: list[FacilityItem]
    total: int
    page: int
    page_size: int


class IdentifierOut(BaseModel):
    system: str
    value: str
    valid_from: date
    valid_to: date | None

    model_config = {"from_attributes": True}


class AddressOut(BaseModel):
    province_code: int | None
    commune_code: int | None
    address_line: str | None
    legacy_text: str | None
    valid_from: date
    valid_to: date | None

    model_config = {"from_attributes": True}


# --------------------------------------------------------------------------- links

class LinkIn(BaseModel):
    hub_id: uuid.UUID
    spoke_id: uuid.UUID
    specialties: list[str] = Field(max_length=40)
    priority: int = Field(default=1, ge=1, le=99)
    contract_ref: str | None = Field(default=None, max_length=100)
    contract_signed_on: date | None = None
    contract_terms: str | None = Field(default=None, max_length=5000)
    valid_from: date | None = None
    valid_to: date | None = None


class LinkPatch(BaseModel):
    specialties: list[str] | None = Field(default=None, max_length=40)
    priority: int | None = Field(default=None, ge=1, le=99)
    contract_ref: str | None = Field(default=None, max_length=100)
    contract_signed_on: date | None = None
    contract_terms: str | None = Field(default=None, max_length=5000)
    valid_from: date | None = None
    valid_to: date | None = None


class LinkEnd(BaseModel):
    on: date | None = None


class LinkOut(BaseModel):
    id: uuid.UUID
    hub_id: uuid.UUID
    hub_name: str
    spoke_id: uuid.UUID
    spoke_name: str
    specialties: list[str]
    priority: int
    contract_ref: str | None
    contract_signed_on: date | None
    contract_terms: str | None
    valid_from: date
    valid_to: date | None
    current: bool


# --------------------------------------------------------------------------- practitioners

class RegistrationIn(BaseModel):
    facility_id: uuid.UUID
    hours: str = Field(max_length=120)
    valid_from: date
    valid_to: date | None = None


class PractitionerIn(BaseModel):
    full_name: str = Field(max_length=200)
    title: str | None = Field(default=None, max_length=60)
    profession: str = Field(max_length=32)
    citizen_id: str | None = Field(default=None, max_length=20)
    licence_number: str = Field(max_length=30)
    licence_issuer: str = Field(max_length=200)
    licence_issued_on: date
    licence_expires_on: date | None = None
    scope_of_practice: str = Field(max_length=300)
    specialties: list[str] = Field(default_factory=list, max_length=40)
    registrations: list[RegistrationIn] = Field(default_factory=list, max_length=20)


class RegistrationOut(BaseModel):
    facility_id: uuid.UUID
    facility_name: str
    hours: str
    valid_from: date
    valid_to: date | None
    current: bool


class PractitionerOut(BaseModel):
    id: uuid.UUID
    full_name: str
    title: str | None
    profession: str
    citizen_id: str | None = Field(description="Only for system administrators and the practitioner's facility admins")
    licence_number: str
    licence_issuer: str
    licence_issued_on: date
    licence_expires_on: date | None
    licence_status: str = Field(description="valid | expiring | expired | not_yet_valid")
    scope_of_practice: str
    specialties: list[str]
    registrations: list[RegistrationOut]


class PractitionerPage(BaseModel):
    items: list[PractitionerOut]
    total: int
    page: int
    page_size: int


# --------------------------------------------------------------------------- rosters

class ShiftIn(BaseModel):
    specialty_code: str = Field(max_length=32)
    practitioner_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime


class ShiftOut(BaseModel):
    id: uuid.UUID
    hub_id: uuid.UUID
    specialty_code: str
    practitioner_id: uuid.UUID
    practitioner_name: str
    starts_at: datetime
    ends_at: datetime


# --------------------------------------------------------------------------- declarations

class DeclarationIn(BaseModel):
    specialties: list[str] = Field(max_length=40)
    modes: list[str] = Field(max_length=4)


class PublishIn(BaseModel):
    published_on: date
    authority: str = Field(max_length=200)


class DeclarationOut(BaseModel):
    id: uuid.UUID
    facility_id: uuid.UUID
    declared_on: date
    publish_due: date
    published_on: date | None
    authority: str | None
    status: str
    modes: list[str]
    specialties: list[str]


class FacilityDetail(FacilityItem):
    address_line: str | None
    phone: str | None
    beds: int | None
    is_active: bool
    identifiers: list[IdentifierOut]
    addresses: list[AddressOut]
    links_as_hub: list[LinkOut]
    links_as_spoke: list[LinkOut]
    staff: list[PractitionerOut]
    roster: list[ShiftOut]
    declarations: list[DeclarationOut]

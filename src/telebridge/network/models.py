"""Administrative units, facilities, hub↔spoke links, specialties, practitioners, rosters.

Hub and spoke roles are never derived from a facility's level: a facility is a hub for a
spoke because a :class:`HubLink` says so, for the specialties listed on that link.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from telebridge.kit.db import Base, Timestamps, UUIDPk

REFORM_DATE = date(2025, 7, 1)


class Province(Base):
    __tablename__ = "provinces"

    code: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    division_type: Mapped[str] = mapped_column(String(40))
    codename: Mapped[str] = mapped_column(String(60))
    valid_from: Mapped[date] = mapped_column(Date, default=REFORM_DATE)
    valid_to: Mapped[date | None] = mapped_column(Date)


class Commune(Base):
    __tablename__ = "communes"

    code: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    province_code: Mapped[int] = mapped_column(ForeignKey("provinces.code"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    division_type: Mapped[str] = mapped_column(String(40))
    search_text: Mapped[str] = mapped_column(String(100))
    valid_from: Mapped[date] = mapped_column(Date, default=REFORM_DATE)
    valid_to: Mapped[date | None] = mapped_column(Date)


class Specialty(Base):
    __tablename__ = "specialties"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_vi: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))


class Facility(UUIDPk, Timestamps, Base):
    __tablename__ = "facilities"

    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    search_text: Mapped[str] = mapped_column(String(400), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # hospital, health_station, medical_centre, clinic
    technical_level: Mapped[str] = mapped_column(String(16))  # primary, basic, specialised
    legacy_tier: Mapped[str | None] = mapped_column(String(16))  # central, provincial, district, commune
    # Current identifiers; every value ever held is in facility_identifiers (effective-dated).
    insurance_code: Mapped[str | None] = mapped_column(String(5), unique=True)
    gln_code: Mapped[str | None] = mapped_column(String(13), unique=True)
    province_code: Mapped[int] = mapped_column(ForeignKey("provinces.code"), index=True)
    commune_code: Mapped[int | None] = mapped_column(ForeignKey("communes.code"), index=True)
    address_line: Mapped[str | None] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(20))
    beds: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (Index("ix_facilities_province_level", "province_code", "technical_level"),)


class FacilityIdentifier(UUIDPk, Base):
    """Effective-dated identifiers (facilities merge and are renamed)."""

    __tablename__ = "facility_identifiers"

    facility_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facilities.id", ondelete="CASCADE"), index=True)
    system: Mapped[str] = mapped_column(String(16))  # insurance, gln
    value: Mapped[str] = mapped_column(String(20))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (Index("ix_facility_identifiers_value", "system", "value"),)


class FacilityAddress(UUIDPk, Base):
    """Address history: province + commune since the 2025 reform, the older text kept."""

    __tablename__ = "facility_addresses"

    facility_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facilities.id", ondelete="CASCADE"), index=True)
    province_code: Mapped[int | None] = mapped_column(Integer)
    commune_code: Mapped[int | None] = mapped_column(Integer)
    address_line: Mapped[str | None] = mapped_column(String(300))
    legacy_text: Mapped[str | None] = mapped_column(String(300))  # pre-2025 district/province wording
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)


class HubLink(UUIDPk, Timestamps, Base):
    """A hub supports a spoke (the contract between them), for some specialties."""

    __tablename__ = "hub_links"

    hub_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facilities.id", ondelete="CASCADE"), index=True)
    spoke_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facilities.id", ondelete="CASCADE"), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=1)  # 1 = first hub to ask
    contract_ref: Mapped[str | None] = mapped_column(String(100))
    contract_signed_on: Mapped[date | None] = mapped_column(Date)
    contract_terms: Mapped[str | None] = mapped_column(Text)  # responsibilities, infrastructure, data, costs
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)

    specialties: Mapped[list[HubLinkSpecialty]] = relationship(lazy="raise", cascade="all, delete-orphan")

    # One current link per pair (migration 0003); an ended link may be renewed by a new one.
    __table_args__ = (
        Index("uq_hub_links_current_pair", "hub_id", "spoke_id", unique=True,
              sqlite_where=text("valid_to IS NULL"), postgresql_where=text("valid_to IS NULL")),
    )


class HubLinkSpecialty(Base):
    __tablename__ = "hub_link_specialties"

    link_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hub_links.id", ondelete="CASCADE"), primary_key=True)
    specialty_code: Mapped[str] = mapped_column(ForeignKey("specialties.code"), primary_key=True, index=True)


class RemoteCareDeclaration(UUIDPk, Timestamps, Base):
    """A facility's declaration of the remote services it offers (published by the authority)."""

    __tablename__ = "remote_care_declarations"

    facility_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facilities.id", ondelete="CASCADE"), index=True)
    declared_on: Mapped[date] = mapped_column(Date)
    published_on: Mapped[date | None] = mapped_column(Date)
    authority: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="submitted")  # submitted, published, withdrawn
    modes: Mapped[str] = mapped_column(String(200))  # comma-separated consultation modes

    services: Mapped[list[DeclaredService]] = relationship(lazy="raise", cascade="all, delete-orphan")


class DeclaredService(Base):
    __tablename__ = "declared_services"

    declaration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("remote_care_declarations.id", ondelete="CASCADE"), primary_key=True)
    specialty_code: Mapped[str] = mapped_column(ForeignKey("specialties.code"), primary_key=True)


class Practitioner(UUIDPk, Timestamps, Base):
    __tablename__ = "practitioners"

    full_name: Mapped[str] = mapped_column(String(200))
    search_text: Mapped[str] = mapped_column(String(200), index=True)
    title: Mapped[str | None] = mapped_column(String(60))  # e.g. BSCKII, ThS.BS, PGS.TS
    profession: Mapped[str] = mapped_column(String(32))  # doctor, nurse, midwife, technician
    citizen_id: Mapped[str | None] = mapped_column(String(12), unique=True)
    licence_number: Mapped[str] = mapped_column(String(20), unique=True)
    licence_issuer: Mapped[str] = mapped_column(String(200))
    licence_issued_on: Mapped[date] = mapped_column(Date)
    licence_expires_on: Mapped[date | None] = mapped_column(Date)
    scope_of_practice: Mapped[str] = mapped_column(String(300))

    specialties: Mapped[list[PractitionerSpecialty]] = relationship(lazy="raise", cascade="all, delete-orphan")
    registrations: Mapped[list[PractitionerRegistration]] = relationship(lazy="raise", cascade="all, delete-orphan")


class PractitionerSpecialty(Base):
    __tablename__ = "practitioner_specialties"

    practitioner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practitioners.id", ondelete="CASCADE"), primary_key=True)
    specialty_code: Mapped[str] = mapped_column(ForeignKey("specialties.code"), primary_key=True, index=True)


class PractitionerRegistration(UUIDPk, Base):
    """A practitioner is registered to practise at a facility, in stated hours."""

    __tablename__ = "practitioner_registrations"

    practitioner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practitioners.id", ondelete="CASCADE"), index=True)
    facility_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facilities.id", ondelete="CASCADE"), index=True)
    hours: Mapped[str] = mapped_column(String(120))  # e.g. "Mon-Fri 07:00-16:30"
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (UniqueConstraint("practitioner_id", "facility_id", "valid_from", name="uq_registration"),)


class OnCallShift(UUIDPk, Base):
    """Who answers for a hub's specialty between two instants."""

    __tablename__ = "on_call_shifts"

    hub_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("facilities.id", ondelete="CASCADE"))
    specialty_code: Mapped[str] = mapped_column(ForeignKey("specialties.code"))
    practitioner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("practitioners.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (Index("ix_on_call_hub_specialty_time", "hub_id", "specialty_code", "starts_at"),)

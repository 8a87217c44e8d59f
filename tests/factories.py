"""Test data builders. Each ``build_world`` makes a small network with unique codes, so
tests sharing one database never collide.

World layout (relationships the access tests walk):
  hub_a (Hà Nội)  ──link: cardiology, paediatrics──▶  spoke_a (Hà Nội)
  hub_b (TP HCM)  ──link: cardiology──────────────▶  spoke_b (TP HCM)   (unrelated to hub_a)
Users: spoke_clinician (spoke_a), hub_specialist / hub_coordinator (hub_a),
facility_admin (spoke_a), analyst_province (Hà Nội), analyst_national, sysadmin,
other_clinician (spoke_b), patient_user. Patients: patient_a (registered at spoke_a),
patient_b (registered at spoke_b).
"""

from __future__ import annotations

import itertools
import random
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

import pyotp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telebridge.identity.models import ApiToken, RoleAssignment, User
from telebridge.identity.service import hash_password, sha256
from telebridge.kit.db import utcnow
from telebridge.kit.subject import Role
from telebridge.kit.validators import PROVINCE_CODES_2004, fold, gln_check_digit
from telebridge.network.models import (
    Facility, HubLink, HubLinkSpecialty, Practitioner, PractitionerRegistration, PractitionerSpecialty,
)
from telebridge.patients.models import CareRelationship, Patient

PASSWORD = "correct horse battery"
HANOI, HCMC = 1, 79
_counter = itertools.count(random.SystemRandom().randrange(0, 900) * 1000)
_PASSWORD_HASH = hash_password(PASSWORD)


_insurance = itertools.count(random.SystemRandom().randrange(0, 1000))
_PREFIXES = sorted(PROVINCE_CODES_2004)


def next_insurance_code(_province: int) -> str:
    """Unique for 63,000 calls: every pre-2025 province prefix × 1,000 numbers."""
    n = next(_insurance)
    return f"{_PREFIXES[n % len(_PREFIXES)]:02d}{(n // len(_PREFIXES)) % 1000:03d}"


def next_gln() -> str:
    body = f"893{next(_counter):09d}"
    return body + str(gln_check_digit(body))


def next_licence() -> str:
    return f"{next(_counter) % 1_000_000:06d}/BYT-CCHN"


@dataclass
class UserRef:
    id: uuid.UUID
    username: str
    password: str = PASSWORD
    totp_secret: str | None = None
    roles: tuple[Role, ...] = ()

    def totp_now(self) -> str:
        assert self.totp_secret
        return pyotp.TOTP(self.totp_secret).now()


@dataclass
class World:
    tag: str
    hub_a: Facility
    hub_b: Facility
    spoke_a: Facility
    spoke_b: Facility
    link_a: HubLink
    users: dict[str, UserRef] = field(default_factory=dict)
    patient_a: Patient | None = None
    patient_b: Patient | None = None
    practitioners: dict[str, Practitioner] = field(default_factory=dict)

    def __getattr__(self, name: str) -> UserRef:
        users = self.__dict__.get("users", {})
        if name in users:
            return users[name]
        raise AttributeError(name)


def facility(name: str, province: int, *, level: str = "basic", kind: str = "hospital", tier: str | None = None) -> Facility:
    return Facility(
        name=name, search_text=fold(name), kind=kind, technical_level=level, legacy_tier=tier,
        insurance_code=next_insurance_code(province), gln_code=next_gln(), province_code=province,
    )


async def add_user(db: AsyncSession, username: str, roles: list[tuple[Role, uuid.UUID | None, int | None]], *,
                   mfa: bool = True, practitioner_id: uuid.UUID | None = None, patient_id: uuid.UUID | None = None,
                   display_name: str | None = None) -> UserRef:
    secret = pyotp.random_base32() if mfa else None
    user = User(username=username, display_name=display_name or username, password_hash=_PASSWORD_HASH,
                totp_secret=secret, totp_confirmed_at=utcnow() if mfa else None,
                practitioner_id=practitioner_id, patient_id=patient_id)
    db.add(user)
    await db.flush()
    db.add_all(RoleAssignment(user_id=user.id, role=r.value, facility_id=f, province_code=p, granted_at=utcnow())
               for r, f, p in roles)
    await db.flush()
    return UserRef(user.id, username, PASSWORD, secret, tuple(r for r, _f, _p in roles))


async def add_practitioner(db: AsyncSession, name: str, facility_id: uuid.UUID, specialties: list[str], *,
                           expires: date | None = None) -> Practitioner:
    p = Practitioner(full_name=name, search_text=fold(name), title="BS", profession="doctor",
                     licence_number=next_licence(), licence_issuer="Bộ Y tế", licence_issued_on=date(2020, 1, 1),
                     licence_expires_on=expires or date.today() + timedelta(days=3 * 365),
                     scope_of_practice="Khám bệnh, chữa bệnh chuyên khoa")
    db.add(p)
    await db.flush()
    db.add_all(PractitionerSpecialty(practitioner_id=p.id, specialty_code=s) for s in specialties)
    db.add(PractitionerRegistration(practitioner_id=p.id, facility_id=facility_id, hours="T2-T6 07:00-16:30",
                                    valid_from=date(2024, 1, 1)))
    await db.flush()
    return p


async def add_patient(db: AsyncSession, name: str, facility_id: uuid.UUID, province: int, *, citizen_id: str | None = None) -> Patient:
    p = Patient(full_name=name, search_text=fold(name), sex="female", date_of_birth=date(2019, 5, 4),
                citizen_id=citizen_id, provisional=citizen_id is None, province_code=province,
                registered_by_facility_id=facility_id)
    db.add(p)
    await db.flush()
    db.add(CareRelationship(patient_id=p.id, facility_id=facility_id, basis="registration", created_at=utcnow()))
    await db.flush()
    return p


async def build_world(maker: async_sessionmaker[AsyncSession]) -> World:
    tag = secrets.token_hex(3)
    async with maker() as db:
        hub_a = facility(f"Bệnh viện Trung ương A {tag}", HANOI, level="specialised", tier="central")
        hub_b = facility(f"Bệnh viện Trung ương B {tag}", HCMC, level="specialised", tier="central")
        spoke_a = facility(f"Trạm Y tế xã Đông Anh {tag}", HANOI, level="primary", kind="health_station", tier="commune")
        spoke_b = facility(f"Trung tâm Y tế Cần Giờ {tag}", HCMC, level="basic", kind="medical_centre", tier="district")
        db.add_all([hub_a, hub_b, spoke_a, spoke_b])
        await db.flush()
        link_a = HubLink(hub_id=hub_a.id, spoke_id=spoke_a.id, valid_from=date(2025, 1, 1), contract_ref=f"HD-{tag}")
        link_b = HubLink(hub_id=hub_b.id, spoke_id=spoke_b.id, valid_from=date(2025, 1, 1))
        db.add_all([link_a, link_b])
        await db.flush()
        db.add_all([HubLinkSpecialty(link_id=link_a.id, specialty_code="cardiology"),
                    HubLinkSpecialty(link_id=link_a.id, specialty_code="paediatrics"),
                    HubLinkSpecialty(link_id=link_b.id, specialty_code="cardiology")])
        world = World(tag, hub_a, hub_b, spoke_a, spoke_b, link_a)
        pr_spoke = await add_practitioner(db, f"Nguyễn Văn Xã {tag}", spoke_a.id, ["paediatrics"])
        pr_hub = await add_practitioner(db, f"Trần Thị Tim {tag}", hub_a.id, ["cardiology"])
        pr_other = await add_practitioner(db, f"Lê Văn Khác {tag}", spoke_b.id, ["internal_medicine"])
        world.practitioners = {"spoke": pr_spoke, "hub": pr_hub, "other": pr_other}
        world.patient_a = await add_patient(db, f"Phạm Thị Hồng {tag}", spoke_a.id, HANOI)
        world.patient_b = await add_patient(db, f"Hoàng Văn Nam {tag}", spoke_b.id, HCMC)
        u = world.users
        u["spoke_clinician"] = await add_user(db, f"spoke-{tag}", [(Role.SPOKE_CLINICIAN, spoke_a.id, None)], practitioner_id=pr_spoke.id)
        u["hub_specialist"] = await add_user(db, f"hubspec-{tag}", [(Role.HUB_SPECIALIST, hub_a.id, None)], practitioner_id=pr_hub.id)
        u["hub_coordinator"] = await add_user(db, f"hubcoord-{tag}", [(Role.HUB_COORDINATOR, hub_a.id, None)])
        u["facility_admin"] = await add_user(db, f"fadmin-{tag}", [(Role.FACILITY_ADMIN, spoke_a.id, None)])
        u["analyst_province"] = await add_user(db, f"analyst-{tag}", [(Role.AUTHORITY_ANALYST, None, HANOI)])
        u["analyst_national"] = await add_user(db, f"analystvn-{tag}", [(Role.AUTHORITY_ANALYST, None, None)])
        u["sysadmin"] = await add_user(db, f"sysadmin-{tag}", [(Role.SYSTEM_ADMIN, None, None)])
        u["other_clinician"] = await add_user(db, f"other-{tag}", [(Role.SPOKE_CLINICIAN, spoke_b.id, None)], practitioner_id=pr_other.id)
        u["patient_user"] = await add_user(db, f"patient-{tag}", [(Role.PATIENT, None, None)], mfa=False, patient_id=world.patient_a.id)
        await db.commit()
    return world


async def api_token(maker: async_sessionmaker[AsyncSession], user: UserRef) -> str:
    token = "tb_test_" + secrets.token_urlsafe(24)
    async with maker() as db:
        db.add(ApiToken(token_hash=sha256(token), user_id=user.id, created_at=utcnow(),
                        expires_at=utcnow() + timedelta(hours=1)))
        await db.commit()
    return token

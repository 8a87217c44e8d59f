"""What the seeded demo network holds: real hubs, every province, valid identifiers, links,
rosters, patients and one account per role."""

from __future__ import annotations

from collections import Counter

from pwdlib import PasswordHash
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.demo.accounts import DEMO_ACCOUNTS, DEMO_PASSWORD
from telebridge.demo.data import HUBS
from telebridge.identity.models import RoleAssignment, User
from telebridge.kit import audit, validators
from telebridge.kit.subject import Role
from telebridge.network.models import (
    DeclaredService, Facility, FacilityAddress, FacilityIdentifier, HubLink, HubLinkSpecialty, OnCallShift,
    Practitioner, PractitionerRegistration, PractitionerSpecialty, Province, RemoteCareDeclaration,
)
from telebridge.patients.models import CareRelationship, Patient
from tests.demo.conftest import FACILITIES, Seeded


async def test_every_province_has_bridge_points_and_the_real_hubs_exist(db: AsyncSession) -> None:
    provinces = set((await db.scalars(select(Province.code))).all())
    covered = set((await db.scalars(select(Facility.province_code).join(HubLink, HubLink.spoke_id == Facility.id))).all())
    assert len(provinces) == 34
    assert covered == provinces
    names = set((await db.scalars(select(Facility.name))).all())
    assert len(HUBS) >= 30
    assert {h.name for h in HUBS} <= names
    assert {"Bệnh viện Bạch Mai", "Bệnh viện Chợ Rẫy", "Bệnh viện Nhi Trung ương", "Bệnh viện Trung ương Huế"} <= names
    hubs = (await db.scalars(select(Facility).where(Facility.name.in_([h.name for h in HUBS])))).all()
    assert {h.technical_level for h in hubs} == {"specialised"}
    assert all(h.name_en and h.legacy_tier in ("central", "provincial") for h in hubs)
    total = await db.scalar(select(func.count()).select_from(Facility))
    assert total == FACILITIES + len(HUBS)


async def test_facility_identifiers_are_valid_and_unique(db: AsyncSession) -> None:
    rows = (await db.execute(select(Facility.id, Facility.insurance_code, Facility.gln_code, Facility.search_text,
                                    Facility.name, Facility.commune_code))).all()
    insurance = [r.insurance_code for r in rows if r.insurance_code]
    assert len(insurance) == len(rows)  # no prefix is exhausted at this size
    assert len(set(insurance)) == len(insurance)
    assert len({r.gln_code for r in rows}) == len(rows)
    for r in rows:
        validators.insurance_facility_code(r.insurance_code)
        validators.gln(r.gln_code)
        assert r.search_text == validators.fold(r.name)
    spokes = set((await db.scalars(select(HubLink.spoke_id))).all())
    assert len(spokes) == FACILITIES
    assert all(r.commune_code for r in rows if r.id in spokes)
    identifiers = Counter((await db.scalars(select(FacilityIdentifier.system))).all())
    assert identifiers == {"insurance": len(rows), "gln": len(rows)}
    addresses = (await db.scalars(select(FacilityAddress))).all()
    assert len(addresses) == len(rows)
    assert any(a.legacy_text and ("tỉnh" in a.legacy_text or "thành phố" in a.legacy_text) for a in addresses)


async def test_links_join_existing_facilities_with_specialties_the_hub_covers(db: AsyncSession) -> None:
    facility_ids = set((await db.scalars(select(Facility.id))).all())
    hub_specialties = {h.name: set(h.specialties) for h in HUBS}
    names = dict((await db.execute(select(Facility.id, Facility.name))).all())
    links = (await db.scalars(select(HubLink))).all()
    by_link: dict[object, set[str]] = {}
    for link_id, code in (await db.execute(select(HubLinkSpecialty.link_id, HubLinkSpecialty.specialty_code))).all():
        by_link.setdefault(link_id, set()).add(code)
    spokes = Counter()
    for link in links:
        assert link.hub_id in facility_ids and link.spoke_id in facility_ids
        assert by_link.get(link.id), "every link names at least one specialty"
        assert by_link[link.id] <= hub_specialties[names[link.hub_id]]
        assert link.contract_ref and link.contract_ref.startswith("HĐ-")
        spokes[link.spoke_id] += 1
    assert len(spokes) == FACILITIES
    assert set(spokes.values()) <= {1, 2, 3}
    published = await db.scalar(select(func.count()).select_from(RemoteCareDeclaration)
                                 .where(RemoteCareDeclaration.status == "published"))
    assert published >= len(HUBS)
    assert await db.scalar(select(func.count()).select_from(DeclaredService)) > 0


async def test_practitioners_have_valid_unique_ids_and_registrations(db: AsyncSession) -> None:
    people = (await db.scalars(select(Practitioner))).all()
    assert len(people) >= 3 * FACILITIES
    assert len({p.licence_number for p in people}) == len(people)
    assert len({p.citizen_id for p in people}) == len(people)
    for p in people:
        validators.licence_number(p.licence_number)
        validators.citizen_id(p.citizen_id)
        assert p.search_text == validators.fold(p.full_name)
        assert p.title in ("BS", "BSCKI", "BSCKII", "ThS.BS", "TS.BS", "PGS.TS", "ĐD", "NHS", "KTV")
    registered = set((await db.scalars(select(PractitionerRegistration.practitioner_id))).all())
    assert registered == {p.id for p in people}


async def test_hub_rosters_cover_the_next_seven_days_with_qualified_staff(db: AsyncSession) -> None:
    shifts = (await db.scalars(select(OnCallShift))).all()
    assert len(shifts) == 14 * sum(len(h.specialties) for h in HUBS)
    qualified = set((await db.execute(select(PractitionerSpecialty.practitioner_id, PractitionerSpecialty.specialty_code))).all())
    works_at = set((await db.execute(select(PractitionerRegistration.practitioner_id, PractitionerRegistration.facility_id))).all())
    for s in shifts:
        assert (s.practitioner_id, s.specialty_code) in qualified
        assert (s.practitioner_id, s.hub_id) in works_at
        assert (s.ends_at - s.starts_at).total_seconds() == 12 * 3600


async def test_patients_have_valid_ids_and_a_registration_relationship(db: AsyncSession) -> None:
    patients = (await db.scalars(select(Patient))).all()
    assert len(patients) == 3 * FACILITIES
    ids = [p.citizen_id for p in patients if p.citizen_id]
    assert len(set(ids)) == len(ids)
    provisional = [p for p in patients if p.provisional]
    assert provisional and all(p.citizen_id is None and p.guardian_name and p.full_name.startswith("Con bà ")
                               for p in provisional)
    for p in patients:
        assert p.search_text == validators.fold(p.full_name)
        if not p.provisional:
            validators.citizen_id(p.citizen_id, birth_date=p.date_of_birth, sex=p.sex)
    care = set((await db.execute(select(CareRelationship.patient_id, CareRelationship.facility_id)
                                 .where(CareRelationship.basis == "registration"))).all())
    assert care == {(p.id, p.registered_by_facility_id) for p in patients}


async def test_every_role_has_a_demo_account_without_totp(db: AsyncSession, seeded: Seeded) -> None:
    usernames = [a.username for a in DEMO_ACCOUNTS]
    rows = (await db.execute(select(User, RoleAssignment).join(RoleAssignment, RoleAssignment.user_id == User.id)
                             .where(User.username.in_(usernames)))).all()
    assert {ra.role for _u, ra in rows} == {r.value for r in Role}
    assert {u.username for u, _ra in rows} == set(usernames)
    assert all(u.totp_secret is None and u.totp_confirmed_at is None for u, _ra in rows)
    assert PasswordHash.recommended().verify(DEMO_PASSWORD, rows[0][0].password_hash)
    assert [a.username for a in seeded.result.accounts] == usernames
    station = next(ra.facility_id for u, ra in rows if u.username == "bs.xa")
    hubs = set((await db.scalars(select(Facility.name).join(HubLink, HubLink.hub_id == Facility.id)
                                 .where(HubLink.spoke_id == station))).all())
    assert {"Bệnh viện Bạch Mai", "Bệnh viện Nhi Trung ương"} <= hubs
    specialist = next(u for u, _ra in rows if u.username == "bs.nhitw")
    codes = set((await db.scalars(select(PractitionerSpecialty.specialty_code)
                                  .where(PractitionerSpecialty.practitioner_id == specialist.practitioner_id))).all())
    assert "paediatric_cardiology" in codes
    patient = next(u for u, _ra in rows if u.username == "benhnhan")
    assert patient.patient_id is not None
    clinicians = await db.scalar(select(func.count()).select_from(User).where(User.practitioner_id.is_not(None)))
    assert clinicians > 2  # about one account per ten practitioners besides the demo ones


async def test_the_audit_chain_holds_one_seed_record(db: AsyncSession) -> None:
    result = await audit.verify(db)
    assert result.ok, result.problem
    events = (await db.scalars(select(audit.AuditEvent).where(audit.AuditEvent.object_type == "demo_seed"))).all()
    assert len(events) == 1 and events[0].actor_role == "system"
    assert '"facilities": ' + str(FACILITIES + len(HUBS)) in (events[0].detail or "")

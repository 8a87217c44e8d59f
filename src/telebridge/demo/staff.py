"""The people of the demo network: practitioners with licences and registrations, on-call
rosters at the hubs, and patients registered at bridge points."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from telebridge.demo.context import Context, Site
from telebridge.demo.data import HOURS
from telebridge.demo.people import birth_date, person_name, phone
from telebridge.demo.places import hamlet, region_of
from telebridge.kit.validators import fold
from telebridge.network.models import OnCallShift, Practitioner, PractitionerRegistration, PractitionerSpecialty
from telebridge.network.reference import SPECIALTIES
from telebridge.patients.models import CareRelationship, Patient

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
SPECIALTY_VI = {code: vi for code, vi, _en in SPECIALTIES}
SPOKE_TITLES = (("BS", 60), ("BSCKI", 28), ("ThS.BS", 8), ("BSCKII", 4))
HUB_TITLES = (("BS", 10), ("BSCKI", 18), ("ThS.BS", 25), ("BSCKII", 17), ("TS.BS", 18), ("PGS.TS", 12))
OTHER = {"nurse": ("ĐD", "Chăm sóc điều dưỡng"), "midwife": ("NHS", "Hộ sinh, chăm sóc bà mẹ và trẻ sơ sinh")}
SPOKE_MIX = (("doctor", 35), ("nurse", 35), ("midwife", 15), ("technician", 15))
STAFF_PER_KIND = {"health_station": (2, 4), "clinic": (3, 5), "medical_centre": (5, 8), "hospital": (6, 10)}


@dataclass(frozen=True)
class Staff:
    id: uuid.UUID
    full_name: str
    title: str
    profession: str
    facility_id: uuid.UUID
    specialties: tuple[str, ...]


def _weighted(ctx: Context, pairs: tuple[tuple[str, int], ...]) -> str:
    return ctx.rng.choices([v for v, _w in pairs], weights=[w for _v, w in pairs])[0]


def _licence_dates(ctx: Context) -> tuple[date, date | None]:
    """Issue date since 2012; GPHN licences last 5 years; a few expired or about to expire."""
    rng, today = ctx.rng, ctx.today
    issued = date(2012, 6, 1) + timedelta(days=rng.randrange((today - date(2012, 6, 1)).days - 30))
    expires = issued + timedelta(days=5 * 365 + 1) if issued >= date(2024, 1, 1) else None
    roll = rng.random()
    if roll < 0.03:
        expires = today - timedelta(days=rng.randrange(1, 365))
    elif roll < 0.06:
        expires = today + timedelta(days=rng.randrange(1, 60))
    return issued, expires


def add_practitioner(ctx: Context, site: Site, profession: str, specialties: tuple[str, ...], *, at_hub: bool) -> Staff:
    rng = ctx.rng
    prov = ctx.provinces[site.province]
    sex = "female" if profession == "midwife" or rng.random() < (0.75 if profession == "nurse" else 0.45) else "male"
    name = person_name(rng, sex, region_of(site.province))
    born = birth_date(rng, ctx.today, 24, 64)
    birth_province = site.place.old_province if site.place and rng.random() < 0.7 else rng.choice(prov.old_codes)
    if profession == "doctor":
        title = _weighted(ctx, HUB_TITLES if at_hub else SPOKE_TITLES)
        scope = (f"Khám bệnh, chữa bệnh chuyên khoa {SPECIALTY_VI[specialties[0]]}" if specialties and at_hub
                 else "Khám bệnh, chữa bệnh đa khoa")
    elif profession == "technician":
        title, scope = "KTV", f"Kỹ thuật viên {SPECIALTY_VI[specialties[0]]}"
    else:
        title, scope = OTHER[profession]
    issued, expires = _licence_dates(ctx)
    issuer, issuer_code = ("Bộ Y tế", "BYT") if at_hub else (prov.department, prov.issuer_code)
    staff = Staff(ctx.ids.uuid(), name, title, profession, site.id, specialties)
    ctx.add(Practitioner.__table__, {
        "id": staff.id, "full_name": name, "search_text": fold(name), "title": title, "profession": profession,
        "citizen_id": ctx.ids.citizen_id(birth_province, born, sex),
        "licence_number": ctx.ids.licence(issuer_code, issued), "licence_issuer": issuer,
        "licence_issued_on": issued, "licence_expires_on": expires, "scope_of_practice": scope,
        "created_at": ctx.now, "updated_at": ctx.now,
    })
    for code in specialties:
        ctx.add(PractitionerSpecialty.__table__, {"practitioner_id": staff.id, "specialty_code": code})
    registered = max(issued, ctx.today - timedelta(days=rng.randrange(30, 3650)))
    ctx.add(PractitionerRegistration.__table__, {
        "id": ctx.ids.uuid(), "practitioner_id": staff.id, "facility_id": site.id, "hours": rng.choice(HOURS),
        "valid_from": registered, "valid_to": None,
    })
    return staff


def _spoke_specialties(ctx: Context, site: Site, profession: str) -> tuple[str, ...]:
    rng = ctx.rng
    if profession == "doctor":
        extra = rng.choice(("paediatrics", "traditional_medicine", "obstetrics", "emergency"))
        return ("internal_medicine", extra) if rng.random() < 0.5 else ("internal_medicine",)
    if profession == "midwife":
        return ("obstetrics",)
    if profession == "technician":
        return (rng.choice(("radiology", "pathology")),)
    return ()


def build_spoke_staff(ctx: Context, spokes: list[Site]) -> dict[uuid.UUID, list[Staff]]:
    """Every bridge point gets a doctor first, then a realistic mix of nurses, midwives and technicians."""
    staff: dict[uuid.UUID, list[Staff]] = {}
    for site in spokes:
        low, high = STAFF_PER_KIND[site.kind]
        people = []
        for i in range(ctx.rng.randint(low, high)):
            profession = "doctor" if i == 0 else _weighted(ctx, SPOKE_MIX)
            people.append(add_practitioner(ctx, site, profession, _spoke_specialties(ctx, site, profession), at_hub=False))
        staff[site.id] = people
    return staff


def build_hub_staff(ctx: Context, hubs: list[Site], per_specialty: int = 3) -> dict[uuid.UUID, list[Staff]]:
    """Each hub: three doctors per specialty it covers (some with a second one), and nurses."""
    staff: dict[uuid.UUID, list[Staff]] = {}
    for site in hubs:
        people = []
        for code in site.specialties:
            for _ in range(per_specialty):
                second = ctx.rng.choice(site.specialties)
                codes = (code,) if second == code or ctx.rng.random() < 0.7 else (code, second)
                people.append(add_practitioner(ctx, site, "doctor", codes, at_hub=True))
        for _ in range(max(1, len(site.specialties) // 3)):
            people.append(add_practitioner(ctx, site, "nurse", (), at_hub=True))
        staff[site.id] = people
    return staff


def build_on_call(ctx: Context, hubs: list[Site], staff: dict[uuid.UUID, list[Staff]], days: int = 7) -> None:
    """Day (07:00-19:00) and night (19:00-07:00) shifts for every hub specialty, local time."""
    start_day = ctx.now.astimezone(LOCAL).date()
    for site in hubs:
        for code in site.specialties:
            roster = [s for s in staff[site.id] if code in s.specialties]
            turn = 0
            for d in range(days):
                day = start_day + timedelta(days=d)
                for start_hour in (7, 19):
                    starts = datetime.combine(day, time(start_hour), LOCAL).astimezone(UTC)
                    ctx.add(OnCallShift.__table__, {
                        "id": ctx.ids.uuid(), "hub_id": site.id, "specialty_code": code,
                        "practitioner_id": roster[turn % len(roster)].id, "starts_at": starts,
                        "ends_at": starts + timedelta(hours=12), "created_by": None,
                    })
                    turn += 1


# ------------------------------------------------------------------ patients

AGE_BANDS = ((0, 6, 10), (6, 18, 15), (18, 60, 50), (60, 95, 25))


def build_patients(ctx: Context, spokes: list[Site], per_site: int = 3) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Patients registered at each bridge point (the first always with a citizen ID); the last
    one at every seventh bridge point is a newborn without an ID yet."""
    rng = ctx.rng
    registered: dict[uuid.UUID, list[uuid.UUID]] = {}
    for site_no, site in enumerate(spokes):
        region = region_of(site.province)
        place = site.place
        assert place is not None
        registered[site.id] = []
        for i in range(per_site):
            sex = rng.choice(("male", "female"))
            row = {"id": ctx.ids.uuid(), "province_code": site.province, "commune_code": place.code,
                   "address_line": hamlet(rng, place),  # commune and province are their own fields
                   "status": "active", "merged_into_id": None, "registered_by_facility_id": site.id, "sex": sex,
                   "created_at": ctx.now, "updated_at": ctx.now}
            if i == per_site - 1 and site_no % 7 == 0:
                mother = person_name(rng, "female", region)
                row.update(full_name=f"Con bà {mother}", guardian_name=mother, provisional=True, citizen_id=None,
                           date_of_birth=ctx.today - timedelta(days=rng.randrange(0, 21)), phone=phone(rng))
            else:
                low, high, _w = rng.choices(AGE_BANDS, weights=[w for *_r, w in AGE_BANDS])[0]
                born = birth_date(rng, ctx.today, low, high)
                name = person_name(rng, sex, region)
                adult = low >= 18
                father = person_name(rng, "male", region).split()
                row.update(full_name=name, provisional=False, date_of_birth=born,
                           citizen_id=ctx.ids.citizen_id(place.old_province, born, sex),
                           guardian_name=None if adult else " ".join([name.split()[0], *father[1:]]),
                           phone=phone(rng) if adult else None)
            row["search_text"] = fold(row["full_name"])
            ctx.add(Patient.__table__, row)
            ctx.add(CareRelationship.__table__, {"id": ctx.ids.uuid(), "patient_id": row["id"], "facility_id": site.id,
                                                 "basis": "registration", "basis_ref": None,
                                                 "created_at": ctx.now, "ended_at": None})
            registered[site.id].append(row["id"])
    return registered

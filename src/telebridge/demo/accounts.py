"""Demo sign-in accounts: one per role at the demo bridge point and hub, plus about one
account per ten practitioners. All share one password hash and start without TOTP, so the
first sign-in walks through the real enrolment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.demo.context import Context, Row, Site
from telebridge.demo.staff import Staff
from telebridge.identity.models import RoleAssignment, User
from telebridge.kit.subject import Role
from telebridge.kit.validators import fold
from telebridge.network.models import Facility, Province

DEMO_PASSWORD = "Telebridge@2025"
SENTINEL = "admin"  # its presence means the demo was seeded

ROLE_NAMES = {
    Role.SPOKE_CLINICIAN: "Bác sĩ điểm cầu (bridge-point clinician)",
    Role.HUB_SPECIALIST: "Bác sĩ chuyên khoa tuyến trên (hub specialist)",
    Role.HUB_COORDINATOR: "Điều phối viên (hub coordinator)",
    Role.FACILITY_ADMIN: "Quản trị cơ sở (facility admin)",
    Role.AUTHORITY_ANALYST: "Chuyên viên phân tích (analyst)",
    Role.SYSTEM_ADMIN: "Quản trị hệ thống (system admin)",
    Role.PATIENT: "Người bệnh (patient)",
}


@dataclass(frozen=True)
class DemoAccountSpec:
    username: str
    role: Role
    display_name: str
    where: str  # station | hub | hanoi | national | none


DEMO_ACCOUNTS = (
    DemoAccountSpec("bs.xa", Role.SPOKE_CLINICIAN, "", "station"),
    DemoAccountSpec("bs.nhitw", Role.HUB_SPECIALIST, "", "hub"),
    DemoAccountSpec("dieuphoi.nhitw", Role.HUB_COORDINATOR, "Điều phối Nhi Trung ương", "hub"),
    DemoAccountSpec("quantri.tram", Role.FACILITY_ADMIN, "Quản trị trạm y tế", "station"),
    DemoAccountSpec("phantich.hanoi", Role.AUTHORITY_ANALYST, "Sở Y tế Hà Nội - phân tích", "hanoi"),
    DemoAccountSpec("phantich.quocgia", Role.AUTHORITY_ANALYST, "Bộ Y tế - phân tích", "national"),
    DemoAccountSpec("admin", Role.SYSTEM_ADMIN, "Quản trị hệ thống", "none"),
    DemoAccountSpec("benhnhan", Role.PATIENT, "", "none"),
)


@dataclass(frozen=True)
class AccountLine:
    username: str
    role: str
    facility: str


def _user(ctx: Context, username: str, display_name: str, password_hash: str, *,
          practitioner_id: uuid.UUID | None = None, patient_id: uuid.UUID | None = None) -> uuid.UUID:
    user_id = ctx.ids.uuid()
    ctx.add(User.__table__, {
        "id": user_id, "username": username, "display_name": display_name, "email": None, "phone": None,
        "password_hash": password_hash, "password_changed_at": ctx.now, "locale": "vi", "is_active": True,
        "totp_secret": None, "totp_confirmed_at": None, "totp_last_step": None, "failed_logins": 0,
        "locked_until": None, "practitioner_id": practitioner_id, "patient_id": patient_id,
        "created_at": ctx.now, "updated_at": ctx.now,
    })
    return user_id


def _assign(ctx: Context, user_id: uuid.UUID, role: Role, facility_id: uuid.UUID | None = None,
            province: int | None = None) -> None:
    row: Row = {"id": ctx.ids.uuid(), "user_id": user_id, "role": role.value, "facility_id": facility_id,
                "province_code": province, "granted_at": ctx.now, "granted_by": None}
    ctx.add(RoleAssignment.__table__, row)


def build_demo_accounts(ctx: Context, password_hash: str, *, station: Site, hub: Site,
                        station_staff: list[Staff], hub_staff: list[Staff], patient_id: uuid.UUID) -> list[str]:
    """The accounts of every role; returns their usernames (suffixed when a demo already exists)."""
    clinician = station_staff[0]  # every bridge point's first practitioner is a doctor
    specialist = next(s for s in hub_staff if s.specialties[:1] == ("paediatric_cardiology",))
    usernames = []
    for spec in DEMO_ACCOUNTS:
        username = ctx.ids.username(spec.username)
        practitioner = {"bs.xa": clinician, "bs.nhitw": specialist}.get(spec.username)
        name = f"{practitioner.title} {practitioner.full_name}" if practitioner else spec.display_name
        user_id = _user(ctx, username, name or "Người bệnh demo", password_hash,
                        practitioner_id=practitioner.id if practitioner else None,
                        patient_id=patient_id if spec.role == Role.PATIENT else None)
        facility = {"station": station.id, "hub": hub.id}.get(spec.where)
        _assign(ctx, user_id, spec.role, facility, 1 if spec.where == "hanoi" else None)
        usernames.append(username)
    return usernames


def build_clinician_accounts(ctx: Context, password_hash: str, staff: dict[uuid.UUID, list[Staff]],
                             hub_ids: set[uuid.UUID]) -> None:
    """About one account per ten doctors and nurses, e.g. 'an.nv' for Nguyễn Văn An."""
    for facility_id, people in staff.items():
        role = Role.HUB_SPECIALIST if facility_id in hub_ids else Role.SPOKE_CLINICIAN
        for person in people:
            if person.profession not in ("doctor", "nurse") or ctx.rng.random() >= 0.1:
                continue
            words = fold(person.full_name).split()
            username = ctx.ids.username(f"{words[-1]}.{''.join(w[0] for w in words[:-1])}")
            user_id = _user(ctx, username, f"{person.title} {person.full_name}", password_hash,
                            practitioner_id=person.id)
            _assign(ctx, user_id, role, facility_id)


async def load_accounts(session: AsyncSession, usernames: list[str]) -> list[AccountLine]:
    """The demo accounts as stored: username, role, facility or scope."""
    rows = (await session.execute(
        select(User.username, RoleAssignment.role, Facility.name, Province.name)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .outerjoin(Facility, Facility.id == RoleAssignment.facility_id)
        .outerjoin(Province, Province.code == RoleAssignment.province_code)
        .where(User.username.in_(usernames))
    )).all()
    order = {u: i for i, u in enumerate(usernames)}
    lines = []
    for username, role, facility, province in sorted(rows, key=lambda r: order[r[0]]):
        if facility is None:
            facility = province or ("Toàn quốc (national)" if role == Role.AUTHORITY_ANALYST else "-")
        lines.append(AccountLine(username, ROLE_NAMES[Role(role)], facility))
    return lines

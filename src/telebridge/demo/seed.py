"""``telebridge demo`` and ``telebridge stats``: seed the national demo network in one
transaction of bulk inserts, and count what the network holds."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import distinct, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

import telebridge.models  # noqa: F401  (every table in the metadata, for the insert order)
from telebridge.demo.accounts import (
    DEMO_ACCOUNTS, DEMO_PASSWORD, SENTINEL, AccountLine, build_clinician_accounts, build_demo_accounts,
    load_accounts,
)
from telebridge.demo.context import Context
from telebridge.demo.data import DEMO_HUB
from telebridge.demo.network import build_declarations, build_hubs, build_links, build_spokes, demo_station
from telebridge.demo.people import Identifiers, Taken
from telebridge.demo.places import load_provinces
from telebridge.demo.staff import build_hub_staff, build_on_call, build_patients, build_spoke_staff
from telebridge.identity.models import User
from telebridge.identity.service import hash_password
from telebridge.kit import audit
from telebridge.kit.db import Base, make_engine, make_sessionmaker, utcnow
from telebridge.network.models import (
    Commune, Facility, HubLink, OnCallShift, Practitioner, Province, Specialty,
)
from telebridge.patients.models import Patient

URL = "http://127.0.0.1:8000"
BATCH = 5000
MIN_FACILITIES = 34


@dataclass
class DemoResult:
    created: bool
    elapsed_s: float
    totals: dict[str, int]
    accounts: list[AccountLine] = field(default_factory=list)
    added: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        t = self.totals
        head = (f"Đã tạo mạng lưới demo (demo network seeded) trong {self.elapsed_s:.1f} giây (s)."
                if self.created else
                "Mạng lưới demo đã có sẵn, không thêm gì (demo already seeded, nothing added; --reset adds another).")
        lines = [
            head,
            f"  Cơ sở y tế (facilities): {t['facilities']} — tuyến trên (hubs): {t['hubs']}, "
            f"điểm cầu (bridge points): {t['bridge_points']}, tỉnh/thành (provinces): {t['provinces_covered']}/{t['provinces']}",
            f"  Liên kết hỗ trợ (hub links): {t['links']}",
            f"  Nhân viên y tế (practitioners): {t['practitioners']}",
            f"  Người bệnh (patients): {t['patients']}",
            f"  Ca trực 7 ngày tới (on-call shifts): {t['on_call_shifts']}",
            f"  Tài khoản (user accounts): {t['users']}",
            "",
            f"Mở (open) {URL} sau khi chạy (after running) `telebridge serve`.",
            "",
            f"Tài khoản demo (demo accounts) — mật khẩu chung (shared password): {DEMO_PASSWORD}",
        ]
        table = [("Tên đăng nhập (username)", "Vai trò (role)", "Cơ sở (facility)", "Mật khẩu (password)")]
        table += [(a.username, a.role, a.facility, DEMO_PASSWORD) for a in self.accounts]
        widths = [max(len(row[i]) for row in table) for i in range(4)]
        for n, row in enumerate(table):
            lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
            if n == 0:
                lines.append("  " + "  ".join("-" * w for w in widths))
        lines += [
            "",
            "Lưu ý (note): các tài khoản chưa đăng ký TOTP; lần đăng nhập đầu tiên của nhân viên sẽ hướng dẫn "
            "quét mã QR bằng ứng dụng xác thực (no TOTP yet: the first sign-in walks through enrolment with a QR code).",
        ]
        return "\n".join(lines)


async def _taken(session: AsyncSession) -> Taken:
    async def values(column: Any) -> set[str]:
        return {v for v in (await session.scalars(select(column).where(column.is_not(None)))).all()}

    return Taken(
        insurance=await values(Facility.insurance_code), gln=await values(Facility.gln_code),
        licences=await values(Practitioner.licence_number),
        citizen_ids=await values(Practitioner.citizen_id) | await values(Patient.citizen_id),
        usernames=await values(User.username),
    )


async def _insert_all(session: AsyncSession, ctx: Context) -> None:
    for table in Base.metadata.sorted_tables:
        rows = ctx.rows.get(table, [])
        for start in range(0, len(rows), BATCH):
            await session.execute(insert(table), rows[start:start + BATCH])


def _build(ctx: Context, facilities: int, password_hash: str) -> list[str]:
    """Every row of the demo, in memory; returns the demo usernames."""
    hubs = build_hubs(ctx)
    spokes = build_spokes(ctx, facilities)
    station = demo_station(spokes)
    hub = next(h for h in hubs if h.name == DEMO_HUB)
    build_links(ctx, hubs, spokes, station)
    build_declarations(ctx, hubs, spokes)
    hub_staff = build_hub_staff(ctx, hubs)
    spoke_staff = build_spoke_staff(ctx, spokes)
    build_on_call(ctx, hubs, hub_staff)
    patients = build_patients(ctx, spokes)
    usernames = build_demo_accounts(ctx, password_hash, station=station, hub=hub, station_staff=spoke_staff[station.id],
                                    hub_staff=hub_staff[hub.id], patient_id=patients[station.id][0])
    build_clinician_accounts(ctx, password_hash, {**hub_staff, **spoke_staff}, {h.id for h in hubs})
    return usernames


async def run_demo(url: str, *, facilities: int = 1000, seed: int = 2025, force: bool = False) -> DemoResult:
    """Seed the demo network unless it exists (``force`` adds another one beside it)."""
    if facilities < MIN_FACILITIES:
        raise ValueError(f"--facilities must be at least {MIN_FACILITIES}: one bridge point per province")
    started = time.perf_counter()
    engine = make_engine(url)
    try:
        maker = make_sessionmaker(engine)
        async with maker() as session:
            seeded = await session.scalar(select(User.id).where(User.username == SENTINEL))
            if seeded is not None and not force:
                return DemoResult(False, time.perf_counter() - started, await _totals(session),
                                  await load_accounts(session, [a.username for a in DEMO_ACCOUNTS]))
            taken = await _taken(session)
            rng = random.Random(seed)
            ids = Identifiers(random.Random(f"{seed}:{len(taken.usernames)}"), taken)
            ctx = Context(rng, ids, await load_provinces(session), utcnow().date(), utcnow())
            usernames = _build(ctx, facilities, hash_password(DEMO_PASSWORD))
            added = {table.name: len(rows) for table, rows in ctx.rows.items()}
            await _insert_all(session, ctx)
            audit.record(session, audit.SystemActor(), action="create", object_type="demo_seed",
                         detail={"seed": seed, **added})
            await session.commit()
            return DemoResult(True, time.perf_counter() - started, await _totals(session),
                              await load_accounts(session, usernames), added)
    finally:
        await engine.dispose()


async def _totals(session: AsyncSession) -> dict[str, int]:
    today = utcnow().date()
    current = select(HubLink).where(
        HubLink.valid_from <= today, or_(HubLink.valid_to.is_(None), HubLink.valid_to >= today)
    ).subquery()

    async def count(stmt: Any) -> int:
        return int(await session.scalar(stmt) or 0)

    return {
        "facilities": await count(select(func.count()).select_from(Facility).where(Facility.is_active.is_(True))),
        "hubs": await count(select(func.count(distinct(current.c.hub_id)))),
        "bridge_points": await count(select(func.count(distinct(current.c.spoke_id)))),
        "links": await count(select(func.count()).select_from(current)),
        "practitioners": await count(select(func.count()).select_from(Practitioner)),
        "patients": await count(select(func.count()).select_from(Patient).where(Patient.status == "active")),
        "users": await count(select(func.count()).select_from(User)),
        "provinces": await count(select(func.count()).select_from(Province)),
        "provinces_covered": await count(select(func.count(distinct(Facility.province_code)))),
        "communes": await count(select(func.count()).select_from(Commune)),
        "on_call_shifts": await count(select(func.count()).select_from(OnCallShift)),
        "specialties": await count(select(func.count()).select_from(Specialty)),
    }


async def network_stats(url: str) -> dict[str, int]:
    """Counts of what the network holds (``telebridge stats``)."""
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await _totals(session)
    finally:
        await engine.dispose()

"""Rerunning the demo, ``network_stats`` and the ``telebridge stats`` command."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from telebridge.cli import app as cli
from telebridge.config import get_settings
from telebridge.demo.accounts import DEMO_ACCOUNTS
from telebridge.demo.data import HUBS
from telebridge.demo.seed import network_stats, run_demo
from telebridge.identity.models import User
from telebridge.kit import audit
from telebridge.kit.db import make_engine, make_sessionmaker
from telebridge.network.models import Commune, Facility, HubLink, OnCallShift, Practitioner, Province, Specialty
from telebridge.patients.models import Patient
from tests.conftest import fresh_database
from tests.demo.conftest import FACILITIES, Seeded


async def _count(db: AsyncSession, model: type) -> int:
    return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_stats_match_the_tables(db: AsyncSession, seeded: Seeded) -> None:
    stats = await network_stats(seeded.url)
    expected = {
        "facilities": Facility, "links": HubLink, "practitioners": Practitioner, "patients": Patient,
        "users": User, "provinces": Province, "communes": Commune, "on_call_shifts": OnCallShift,
        "specialties": Specialty,
    }
    for key, model in expected.items():
        assert stats[key] == await _count(db, model), key
    assert stats["hubs"] == await db.scalar(select(func.count(func.distinct(HubLink.hub_id))))
    assert stats["bridge_points"] == FACILITIES
    assert (stats["provinces"], stats["communes"], stats["specialties"]) == (34, 3321, 30)
    assert seeded.result.created and seeded.result.totals == stats


async def test_rerun_without_force_adds_nothing(seeded: Seeded) -> None:
    before = await network_stats(seeded.url)
    again = await run_demo(seeded.url, facilities=FACILITIES, seed=7)
    assert not again.created
    assert await network_stats(seeded.url) == before
    assert [a.username for a in again.accounts] == [a.username for a in DEMO_ACCOUNTS]
    text = again.summary()
    assert "bs.xa" in text and "Telebridge@2025" in text and "http://127.0.0.1:8000" in text


async def test_force_adds_a_second_demo_beside_the_first(backend: str, tmp_path: Path) -> None:
    url = await fresh_database(tmp_path, backend, "_demo2")
    first = await run_demo(url, facilities=34, seed=3)
    second = await run_demo(url, facilities=34, seed=3, force=True)
    assert second.created
    assert second.totals["facilities"] == 2 * first.totals["facilities"]
    assert second.totals["patients"] == 2 * first.totals["patients"]
    assert {a.username for a in second.accounts}.isdisjoint({a.username for a in first.accounts})
    assert second.accounts[-1].username == "benhnhan2"
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            assert (await audit.verify(session)).ok
            names = Counter((await session.scalars(select(Facility.name))).all())
    finally:
        await engine.dispose()
    assert set(names.values()) == {2}, "the same seed builds the same network"


async def test_too_few_facilities_to_cover_every_province_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 34"):
        await run_demo("sqlite+aiosqlite:///unused.db", facilities=20)


@pytest.fixture
def cli_env(seeded: Seeded, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TELEBRIDGE_DATABASE_URL", seeded.url)
    get_settings.cache_clear()
    yield seeded
    get_settings.cache_clear()


def test_stats_command_prints_one_json_object(cli_env: Seeded) -> None:
    result = CliRunner().invoke(cli, ["stats"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    stats = json.loads(lines[0])
    assert stats["facilities"] == FACILITIES + len(HUBS)
    assert stats["provinces"] == 34 and stats["bridge_points"] == FACILITIES

"""Migrations run from empty, all the way down, and up again, on every backend."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, inspect, select

from telebridge.kit.db import make_engine
from telebridge.kit.migrate import downgrade, upgrade
from telebridge.models import metadata
from telebridge.network.models import Commune, Province, Specialty
from tests.conftest import fresh_database


async def test_upgrade_downgrade_upgrade(backend: str, tmp_path: Path) -> None:
    url = await fresh_database(tmp_path, backend, "_migrations")
    await asyncio.to_thread(downgrade, url, "base")
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert tables <= {"alembic_version"}
        await asyncio.to_thread(upgrade, url, "heads")
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            counts = [await conn.scalar(select(func.count()).select_from(t)) for t in (Province, Commune, Specialty)]
        assert set(metadata.tables) <= tables  # every model has its table
        assert counts[:2] == [34, 3321] and counts[2] >= 30
    finally:
        await engine.dispose()

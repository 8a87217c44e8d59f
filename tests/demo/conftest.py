"""A small demo network, seeded once per backend into a database of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telebridge.demo.seed import DemoResult, run_demo
from telebridge.kit.db import make_engine, make_sessionmaker
from tests.conftest import fresh_database

FACILITIES = 60


@dataclass
class Seeded:
    url: str
    result: DemoResult
    maker: async_sessionmaker[AsyncSession]


@pytest.fixture(scope="module")
async def seeded(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Seeded]:
    url = await fresh_database(tmp_path_factory.mktemp("demo"), backend, "_demo1")
    result = await run_demo(url, facilities=FACILITIES, seed=7)
    engine = make_engine(url)
    yield Seeded(url, result, make_sessionmaker(engine))
    await engine.dispose()


@pytest.fixture
async def db(seeded: Seeded) -> AsyncIterator[AsyncSession]:
    """In this folder ``db`` reads the seeded demo database (not the shared test database)."""
    async with seeded.maker() as session:
        yield session

"""The audit chain: records are sealed in order, and tampering is detected by `telebridge audit verify`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text, update

from telebridge.kit import audit
from telebridge.kit.audit import AuditEvent, SystemActor
from telebridge.kit.db import make_engine, make_sessionmaker
from tests.conftest import fresh_database


async def _append(maker, n: int, *, tag: str = "t") -> None:  # type: ignore[no-untyped-def]
    async with maker() as s:
        for i in range(n):
            audit.record(s, SystemActor(), action="read", object_type="probe", object_id=f"{tag}{i}")
        await s.commit()


def _verify_cli(url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TELEBRIDGE_DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "telebridge.cli", "audit", "verify"], env=env,
                          capture_output=True, text=True, timeout=120)


async def _drop_guard(maker, backend: str) -> None:  # type: ignore[no-untyped-def]
    """What an attacker with database rights would do first."""
    async with maker() as s:
        if backend == "postgresql":
            await s.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            await s.execute(text("DROP TRIGGER audit_events_no_update"))
            await s.execute(text("DROP TRIGGER audit_events_no_delete"))
        await s.commit()


@pytest.fixture
async def chain(backend: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    url = await fresh_database(tmp_path, backend, "_audit")
    engine = make_engine(url)
    yield url, make_sessionmaker(engine)
    await engine.dispose()


async def test_intact_chain_verifies(chain) -> None:  # type: ignore[no-untyped-def]
    url, maker = chain
    await _append(maker, 5)
    await _append(maker, 3)
    async with maker() as s:
        result = await audit.verify(s)
    assert result.ok and result.checked == 8
    done = await asyncio.to_thread(_verify_cli, url)
    assert done.returncode == 0, done.stderr
    assert "8 records" in done.stdout


async def test_database_refuses_update_and_delete(chain) -> None:  # type: ignore[no-untyped-def]
    _url, maker = chain
    await _append(maker, 2)
    for stmt in (update(AuditEvent).values(outcome="denied"), delete(AuditEvent)):
        async with maker() as s:
            with pytest.raises(Exception, match="append-only"):
                await s.execute(stmt)
            await s.rollback()
    async with maker() as s:
        assert (await audit.verify(s)).checked == 2


async def test_altered_and_deleted_rows_are_caught(chain, backend: str) -> None:  # type: ignore[no-untyped-def]
    url, maker = chain
    await _append(maker, 10)
    await _drop_guard(maker, backend)
    async with maker() as s:
        await s.execute(update(AuditEvent).where(AuditEvent.seq == 4).values(outcome="denied"))
        await s.commit()
    done = await asyncio.to_thread(_verify_cli, url)
    assert done.returncode == 1
    assert "record 4" in done.stderr and "altered" in done.stderr

    # Put it back, then delete another row: the gap is named.
    async with maker() as s:
        await s.execute(update(AuditEvent).where(AuditEvent.seq == 4).values(outcome="ok"))
        await s.execute(delete(AuditEvent).where(AuditEvent.seq == 7))
        await s.commit()
    done = await asyncio.to_thread(_verify_cli, url)
    assert done.returncode == 1
    assert "record 7" in done.stderr and "missing" in done.stderr


async def test_removed_tail_is_caught(chain, backend: str) -> None:  # type: ignore[no-untyped-def]
    url, maker = chain
    await _append(maker, 4)
    await _drop_guard(maker, backend)
    async with maker() as s:
        await s.execute(delete(AuditEvent).where(AuditEvent.seq == 4))
        await s.commit()
        result = await audit.verify(s)
    assert not result.ok and result.first_bad_seq == 4


async def test_rollback_discards_pending_records(chain) -> None:  # type: ignore[no-untyped-def]
    _url, maker = chain
    async with maker() as s:
        audit.record(s, SystemActor(), action="read", object_type="probe")
        await s.rollback()
        await s.commit()
        assert await s.scalar(select(func.count()).select_from(AuditEvent)) == 0


async def test_concurrent_writers_keep_one_chain(chain) -> None:  # type: ignore[no-untyped-def]
    _url, maker = chain
    await asyncio.gather(*(_append(maker, 3, tag=f"w{i}-") for i in range(12)))
    async with maker() as s:
        result = await audit.verify(s)
        seqs = (await s.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq))).all()
    assert result.ok, result.problem
    assert list(seqs) == list(range(1, 37))


async def test_rewound_head_is_caught(chain) -> None:  # type: ignore[no-untyped-def]
    """Verify also flags an edited head (someone rewinding the chain)."""
    _url, maker = chain
    await _append(maker, 2)
    async with maker() as s:
        await s.execute(text("UPDATE audit_head SET seq = 1"))
        await s.commit()
        result = await audit.verify(s)
    assert not result.ok

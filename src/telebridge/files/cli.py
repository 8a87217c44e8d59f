"""``telebridge files ...``: master keys, key rotation, retention batches, the job worker."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Annotated

import typer

from telebridge.config import get_settings

app = typer.Typer(help="Clinical files: encryption keys, retention batches, background jobs.", no_args_is_help=True)


def _maker():  # type: ignore[no-untyped-def]
    from telebridge.kit.db import make_engine, make_sessionmaker

    engine = make_engine(get_settings().database_url)
    return engine, make_sessionmaker(engine)


@app.command("new-key")
def new_key() -> None:
    """Print a new random master key (for TELEBRIDGE_MASTER_KEY or its _FILE)."""
    from telebridge.kit.crypto import new_master_key

    typer.echo(new_master_key())


@app.command("rotate-key")
def rotate_key() -> None:
    """Re-wrap every data key under the current master key (keep the old one in
    TELEBRIDGE_PREVIOUS_MASTER_KEYS while this runs, remove it afterwards)."""
    from telebridge.files import retention, runtime

    async def run() -> dict[str, int]:
        engine, maker = _maker()
        try:
            async with maker() as db:
                counts = await retention.rotate_keys(db, runtime.build(get_settings()))
                await db.commit()
                return counts
        finally:
            await engine.dispose()

    try:
        counts = asyncio.run(run())
    except Exception as exc:  # noqa: BLE001 - an unknown old key: say which setting is missing
        typer.echo(f"rotation failed: {exc}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(json.dumps({"key_id": runtime_key_id(), **counts}))


def runtime_key_id() -> str:
    from telebridge.kit.crypto import keyring_from_settings

    return keyring_from_settings(get_settings()).current_id


@app.command("retention")
def retention_batch(
    approved_by: Annotated[str, typer.Option(help="Who approved the destruction (name, title)")],
    reference: Annotated[str, typer.Option(help="Reference of the approved minutes")],
    on: Annotated[str | None, typer.Option(help="Date of the batch (YYYY-MM-DD), default today")] = None,
    dry_run: Annotated[bool, typer.Option(help="List what would be destroyed, change nothing")] = False,
) -> None:
    """Destroy files whose retention has expired (crypto-shredding); prints the minutes as JSON."""
    from telebridge.files import retention, runtime

    async def run() -> dict[str, object]:
        engine, maker = _maker()
        try:
            async with maker() as db:
                minutes = await retention.run_batch(db, runtime.build(get_settings()),
                                                    today=date.fromisoformat(on) if on else date.today(),
                                                    approved_by=approved_by, reference=reference, dry_run=dry_run)
                await db.commit()
                return minutes
        finally:
            await engine.dispose()

    typer.echo(json.dumps(asyncio.run(run()), ensure_ascii=False))


@app.command("clean-uploads")
def clean_uploads() -> None:
    """Drop abandoned uploads past their expiry (TELEBRIDGE_UPLOAD_EXPIRY_HOURS) and their spool files,
    and request spools as old left by a stopped process."""
    from telebridge.files import retention, runtime

    async def run() -> dict[str, int]:
        engine, maker = _maker()
        rt = runtime.build(get_settings())
        try:
            async with maker() as db:
                count = await retention.expire_uploads(db, rt)
                await db.commit()
            return {"expired_uploads": count, "stale_request_spools": retention.sweep_request_spools(rt)}
        finally:
            rt.previews.close()
            await engine.dispose()

    typer.echo(json.dumps(asyncio.run(run())))


@app.command("worker")
def worker() -> None:
    """Run background jobs from Redis (TELEBRIDGE_REDIS_URL) until interrupted."""
    from telebridge.files import (
        runtime,
        tasks,  # noqa: F401  (registers the jobs)
    )
    from telebridge.kit.jobs import JobContext, RedisJobs

    settings = get_settings()
    if not settings.redis_url:
        typer.echo("TELEBRIDGE_REDIS_URL is not set: jobs run inside the app process", err=True)
        raise typer.Exit(code=2)

    async def run() -> None:
        engine, maker = _maker()
        queue = RedisJobs(settings.redis_url, JobContext(maker, settings))
        runtime.configure(runtime.build(settings, queue))
        try:
            await queue.work()
        finally:
            runtime.configure(None)  # stops the previews' sandbox workers
            await queue.close()
            await engine.dispose()

    asyncio.run(run())

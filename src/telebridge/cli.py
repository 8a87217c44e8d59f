"""The ``telebridge`` command: serve, migrate, demo, stats, audit verify, users."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from telebridge.auscultation.cli import app as auscultation_app
from telebridge.calls.cli import app as calls_app
from telebridge.files.cli import app as files_app
from telebridge.config import get_settings

app = typer.Typer(help="Telebridge: the national telehealth network platform.", no_args_is_help=True,
                  add_completion=False)
audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite") and ":///" in url:
        path = url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


@app.command()
def migrate(
    revision: Annotated[str, typer.Option(help="Target revision")] = "head",
) -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    from telebridge.kit.migrate import upgrade

    url = get_settings().database_url
    _ensure_sqlite_dir(url)
    upgrade(url, revision)
    typer.echo(f"database at {revision}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Serve the web application and the API."""
    import uvicorn

    uvicorn.run("telebridge.app:create_app", factory=True, host=host, port=port, workers=workers,
                proxy_headers=True, log_config=None, access_log=False)


@app.command()
def demo(
    facilities: Annotated[int, typer.Option(help="Bridge-point facilities to create (national target: 14000)")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 2025,
    reset: Annotated[bool, typer.Option(help="Add a second demo even if one exists")] = False,
) -> None:
    """Seed the demo network (provinces, hubs, bridge points, links, staff, patients, accounts)."""
    from telebridge.demo.seed import run_demo

    url = get_settings().database_url
    try:
        result = asyncio.run(run_demo(url, facilities=facilities, seed=seed, force=reset))
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from None
    typer.echo(result.summary())


@app.command()
def stats() -> None:
    """Print counts of the network as one JSON object."""
    from telebridge.demo.seed import network_stats

    typer.echo(json.dumps(asyncio.run(network_stats(get_settings().database_url))))


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit chain; exit non-zero naming the first bad record."""
    from telebridge.kit import audit
    from telebridge.kit.db import make_engine, make_sessionmaker

    async def run() -> audit.VerifyResult:
        engine = make_engine(get_settings().database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return await audit.verify(session)
        finally:
            await engine.dispose()

    result = asyncio.run(run())
    if result.ok:
        typer.echo(f"audit chain intact: {result.checked} records")
        return
    typer.echo(f"audit chain BROKEN at record {result.first_bad_seq}: {result.problem}", err=True)
    raise typer.Exit(code=1)


app.add_typer(auscultation_app, name="auscultation", help="Heart-sound screening: train, evaluate, predict.")
app.add_typer(calls_app, name="calls", help="Live sessions: run the single-machine Janus.")
app.add_typer(files_app, name="files")


def main() -> None:
    app(prog_name="telebridge")


if __name__ == "__main__":
    sys.exit(main())

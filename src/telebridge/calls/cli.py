"""Command line: ``telebridge calls janus`` runs the single-machine Janus for live sessions."""

from __future__ import annotations

import secrets
import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from telebridge.calls import janus as jn
from telebridge.config import get_settings

app = typer.Typer(help="Live sessions: the Janus media server.", no_args_is_help=True)


@app.command("janus")
def run_janus(
    directory: Annotated[Path, typer.Option(help="Private directory for Janus's configuration")] = Path("var/janus"),
    port: Annotated[int, typer.Option(help="WebSocket API port on 127.0.0.1")] = 8188,
    rtp_ports: Annotated[str, typer.Option(help="UDP port range for media, e.g. 40000-40999")] = "40000-40999",
    ice_interfaces: Annotated[str | None, typer.Option(help="Interfaces ICE may use (Janus ice_enforce_list)")] = None,
) -> None:
    """Write a minimal Janus configuration (VideoRoom + WebSocket on loopback) and run Janus until stopped."""
    s = get_settings()
    api_secret = s.janus_api_secret or secrets.token_urlsafe(24)
    admin_key = s.janus_admin_key or secrets.token_urlsafe(24)
    lo, hi = (int(x) for x in rtp_ports.split("-", 1))
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    cfg = jn.JanusConfig(directory=directory.resolve(), ws_port=port, api_secret=api_secret, admin_key=admin_key,
                         rtp_ports=(lo, hi), ice_enforce_list=ice_interfaces)
    proc = jn.JanusProcess(cfg)
    proc.start()
    typer.echo(f"janus is running (pid {proc.proc.pid if proc.proc else '?'}); log: {proc.log_path}")
    if not (s.janus_api_secret and s.janus_admin_key):
        typer.echo("start the app with:")
        typer.echo(f"  TELEBRIDGE_JANUS_URL={cfg.url}")
        typer.echo("  TELEBRIDGE_JANUS_API_SECRET=<written to " + str(directory / "janus.jcfg") + ">")
        typer.echo("  TELEBRIDGE_JANUS_ADMIN_KEY=<written to " + str(directory / "janus.plugin.videoroom.jcfg") + ">")
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stop and proc.proc is not None and proc.proc.poll() is None:
            time.sleep(0.5)
    finally:
        proc.stop()

"""A real server on loopback and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from telebridge.kit.db import make_engine, make_sessionmaker
from tests import factories
from tests.conftest import fresh_database, need

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    world: factories.World


@contextlib.asynccontextmanager
async def serving(database_url: str, **env: str) -> AsyncIterator[str]:
    """An app process (uvicorn) on a free loopback port; yields its base URL."""
    port = _free_port()
    full_env = {**os.environ, "TELEBRIDGE_DATABASE_URL": database_url, "TELEBRIDGE_LOG_LEVEL": "WARNING", **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "telebridge.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"], env=full_env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as http:
        while True:
            try:
                if (await http.get(base + "/readyz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("the test server did not start")
            await asyncio.sleep(0.2)
    try:
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # long-lived connections (SSE, WebSocket) still open
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
async def live_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    url = await fresh_database(tmp_path_factory.mktemp("live"), "sqlite", "_live")
    engine = make_engine(url)
    world = await factories.build_world(make_sessionmaker(engine))
    await engine.dispose()
    async with serving(url) as base:
        yield LiveServer(base, world)


@pytest.fixture
async def browser():  # type: ignore[no-untyped-def]
    need(Path(CHROMIUM).exists() and shutil.which("chromium") is not None,
         "browser tests need Debian's chromium (make test installs it as root)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()

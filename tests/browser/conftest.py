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
async def serving(database_url: str, *, workers: int = 1, start_seconds: float = 60, **env: str) -> AsyncIterator[str]:
    """An app process (uvicorn) on a free loopback port; yields its base URL. It uses Redis only
    when ``TELEBRIDGE_REDIS_URL`` is passed in ``env``."""
    port = _free_port()
    full_env = {k: v for k, v in os.environ.items() if k != "TELEBRIDGE_REDIS_URL"}
    full_env.update({"TELEBRIDGE_DATABASE_URL": database_url, "TELEBRIDGE_LOG_LEVEL": "WARNING", **env})
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "telebridge.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--workers", str(workers)], env=full_env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_seconds
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


async def sign_in_page(page, base: str, user: factories.UserRef) -> None:  # type: ignore[no-untyped-def]
    """Password then TOTP through the sign-in pages of a real browser page."""
    await page.goto(base + "/login")
    await page.fill("input[name=username]", user.username)
    await page.fill("input[name=password]", user.password)
    async with page.expect_navigation(url="**/login/totp**"):
        await page.click("form[action='/login'] button[type=submit]")
    await page.fill("input[name=code]", user.totp_now())
    async with page.expect_navigation(url=base + "/"):
        await page.click("form[action='/login/totp'] button[type=submit]")


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

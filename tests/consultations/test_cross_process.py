"""Two app processes sharing PostgreSQL and Redis: a request created through one process
reaches the on-call specialist's live connection held by the other, and the thread's
WebSocket delivers across processes too."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from telebridge.kit.db import make_engine, make_sessionmaker
from tests import factories
from tests.browser.conftest import serving
from tests.conftest import PG_URL, REDIS_URL, fresh_database, need
from tests.consultations.conftest import build_case_world, request_body

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def sign_in(client: httpx.AsyncClient, user: factories.UserRef) -> None:
    """Password then TOTP through the sign-in pages: the client holds the session cookie."""
    page = await client.get("/login")
    r = await client.post("/login", data={"username": user.username, "password": user.password,
                                          "csrf_token": CSRF.search(page.text).group(1)})  # type: ignore[union-attr]
    page = await client.get(r.headers["location"])
    r = await client.post("/login/totp", data={"code": user.totp_now(), "csrf_token": CSRF.search(page.text).group(1)})  # type: ignore[union-attr]
    assert r.status_code == 303 and r.headers["location"] == "/", r.text


async def test_notification_crosses_processes(tmp_path: Path) -> None:
    need(PG_URL is not None and REDIS_URL is not None, "needs PostgreSQL and Redis (TELEBRIDGE_TEST_*_URL)")
    url = await fresh_database(tmp_path, "postgresql", "_xproc")
    engine = make_engine(url)
    cw = await build_case_world(make_sessionmaker(engine))
    token = await factories.api_token(make_sessionmaker(engine), cw.w.spoke_clinician)
    await engine.dispose()
    env = {"TELEBRIDGE_REDIS_URL": str(REDIS_URL)}
    async with serving(url, **env) as a, serving(url, **env) as b:
        async with httpx.AsyncClient(base_url=b, timeout=20) as hub:
            await sign_in(hub, cw.w.hub_specialist)
            async with hub.stream("GET", "/events") as stream:
                lines = stream.aiter_lines()
                assert (await anext(lines)).startswith("retry:")
                async with httpx.AsyncClient(base_url=a, headers={"authorization": f"Bearer {token}"}) as spoke:
                    r = await spoke.post("/api/v1/consultations", json=request_body(cw))
                    assert r.status_code == 201, r.text
                    created = r.json()
                events: list[dict] = []

                async def read() -> None:
                    async for line in lines:
                        if line.startswith("data: "):
                            events.append(json.loads(line[6:]))
                            if any(e.get("kind") == "notification" for e in events):
                                return

                await asyncio.wait_for(read(), 15)
            # The thread: a WebSocket held on process B hears a message posted through A.
            await hub.post(f"/api/v1/consultations/{created['id']}/accept",
                           headers={"x-csrf-token": hub.cookies.get("tb_csrf") or ""})
            cookie = "; ".join(f"{k}={v}" for k, v in hub.cookies.items())
            ws_url = b.replace("http", "ws") + f"/consultations/{created['id']}/ws"
            async with websockets.connect(ws_url, additional_headers={"cookie": cookie, "origin": b}) as ws:
                async with httpx.AsyncClient(base_url=a, headers={"authorization": f"Bearer {token}"}) as spoke:
                    r = await spoke.post(f"/api/v1/consultations/{created['id']}/messages",
                                         json={"body": "<img src=x onerror=alert(1)> SpO2 85%", "client_key": "x1"})
                    assert r.status_code == 201
                got = json.loads(await asyncio.wait_for(ws.recv(), 10))
                while got.get("kind") != "message":
                    got = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert got["message"]["body"] == "<img src=x onerror=alert(1)> SpO2 85%"
                await ws.send(json.dumps({"type": "send", "body": "Đã nhận", "client_key": "h1"}))
                acks = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(2)]
                assert {m["kind"] for m in acks} == {"ack", "message"}
            with pytest.raises(InvalidStatus):  # another site's page: refused
                async with websockets.connect(ws_url, additional_headers={"cookie": cookie, "origin": "http://evil.example"}):
                    pass
        note = next(e for e in events if e["kind"] == "notification")
        assert note["link"] == f"/consultations/{created['id']}" and note["urgent"] is True
        assert "Phạm" not in json.dumps(events)  # ids and kinds only, never clinical content

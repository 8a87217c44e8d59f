"""The thread's WebSocket on a real server: another site's page cannot open it with the
user's cookie, and a hub that declines (and so loses the case) is disconnected."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from telebridge.kit.db import make_engine, make_sessionmaker
from tests import factories
from tests.browser.conftest import serving
from tests.conftest import fresh_database
from tests.consultations.conftest import build_case_world, request_body
from tests.consultations.test_cross_process import sign_in


async def test_socket_origin_and_losing_the_case(tmp_path: Path) -> None:
    url = await fresh_database(tmp_path, "sqlite", "_socket")
    engine = make_engine(url)
    cw = await build_case_world(make_sessionmaker(engine))
    token = await factories.api_token(make_sessionmaker(engine), cw.w.spoke_clinician)
    await engine.dispose()
    async with serving(url) as base, httpx.AsyncClient(base_url=base, timeout=20) as hub:
        async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {token}"}) as spoke:
            c = (await spoke.post("/api/v1/consultations", json=request_body(cw))).json()
        await sign_in(hub, cw.w.hub_specialist)
        cookie = "; ".join(f"{k}={v}" for k, v in hub.cookies.items())
        ws_url = base.replace("http", "ws") + f"/consultations/{c['id']}/ws"
        with pytest.raises(InvalidStatus):
            async with websockets.connect(ws_url, additional_headers={"cookie": cookie, "origin": "http://evil.example"}):
                pass
        async with websockets.connect(ws_url, additional_headers={"cookie": cookie, "origin": base}) as ws:
            r = await hub.post(f"/api/v1/consultations/{c['id']}/decline", json={"reason": "Hết giường"},
                               headers={"x-csrf-token": hub.cookies.get("tb_csrf") or ""})
            assert r.status_code == 200, r.text
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    json.loads(await ws.recv())
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403

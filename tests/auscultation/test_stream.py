"""Live streaming of a stethoscope over WebSocket against a real server: results update while
audio arrives, the recording is stored like an upload on end; bad framing, strangers and missing
sign-in are refused (and the refusal audited)."""

from __future__ import annotations

import asyncio
import io
import json
import uuid

import numpy as np
import pytest
import soundfile as sf
import websockets
from scipy import signal
from sqlalchemy import select

from telebridge.kit.audit import AuditEvent
from telebridge.kit.db import make_engine, make_sessionmaker

from .server import Server, cookie_header, sign_in
from .workflow import PRESENT, recording

pytestmark = pytest.mark.usefixtures("circor_dir")


def _pcm(patient: str, site: str, rate: int) -> bytes:
    x, fs = sf.read(io.BytesIO(recording(patient, site)), dtype="float64")
    y = signal.resample_poly(x, rate // np.gcd(rate, fs), fs // np.gcd(rate, fs))
    return (np.clip(y, -1, 1) * 32767).astype("<i2").tobytes()


@pytest.fixture(scope="module")
async def clients(ausc_server: Server):  # type: ignore[no-untyped-def]
    """Signed in once per user for the module (a TOTP code is accepted once)."""
    w = ausc_server.world
    made = {role: await sign_in(ausc_server.url, getattr(w, role)) for role in ("spoke_clinician", "other_clinician")}
    yield made
    for c in made.values():
        await c.aclose()


async def _new_exam(ausc_server: Server, spoke) -> str:  # type: ignore[no-untyped-def]
    token = spoke.cookies.get("tb_csrf")
    r = await spoke.post("/api/v1/auscultation/exams", json={"patient_id": str(ausc_server.world.patient_a.id)},
                         headers={"x-csrf-token": token})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _ws(server: Server, exam_id: str, cookies: str | None):  # type: ignore[no-untyped-def]
    uri = server.url.replace("http://", "ws://") + f"/auscultation/exams/{exam_id}/stream"
    headers = {"Cookie": cookies} if cookies else {}
    return websockets.connect(uri, additional_headers=headers, origin=server.url, max_size=2**22)


async def test_stream_updates_results_and_stores_the_recording(ausc_server: Server, clients) -> None:  # type: ignore[no-untyped-def]
    spoke = clients["spoke_clinician"]
    exam_id = await _new_exam(ausc_server, spoke)
    rate = 4000
    pcm = _pcm(PRESENT, "AV", rate)
    chunk = rate // 4 * 2  # 250 ms of 16-bit mono
    results, progress = [], []
    async with _ws(ausc_server, exam_id, cookie_header(spoke)) as ws:
        await ws.send(json.dumps({"site": "AV", "rate": rate, "channels": 1, "format": "s16le"}))
        assert json.loads(await ws.recv()) == {"type": "ready"}

        async def reader() -> dict:
            while True:
                m = json.loads(await ws.recv())
                if m["type"] == "result":
                    results.append(m)
                elif m["type"] == "progress":
                    progress.append(m["seconds"])
                else:
                    return m

        task = asyncio.create_task(reader())
        for i in range(0, len(pcm), chunk):
            await ws.send(pcm[i:i + chunk])
            if i // chunk % 8 == 0:
                await asyncio.sleep(0.05)  # let analyses interleave with the stream, as in real time
        await ws.send(json.dumps({"type": "end"}))
        saved = await asyncio.wait_for(task, 60)
    assert saved["type"] == "saved", saved
    assert len(results) >= 2, "results should update while audio arrives"
    seconds = [r["seconds"] for r in results]
    assert seconds == sorted(seconds) and seconds[0] >= 5.0
    assert progress[-1] == pytest.approx(len(pcm) / 2 / rate, abs=0.01)
    assert saved["result"]["usable"] and saved["result"]["murmur"] == "Present"
    assert saved["exam"]["status"] == "flagged"
    detail = (await spoke.get(f"/api/v1/auscultation/exams/{exam_id}")).json()
    rec = detail["recording_results"][0]
    assert rec["id"] == saved["recording_id"] and rec["source"] == "stream" and rec["sample_rate"] == rate
    stored = await spoke.get(f"/api/v1/auscultation/recordings/{rec['id']}/audio")
    audio, fs = sf.read(io.BytesIO(stored.content), dtype="int16")
    assert fs == rate and audio.tobytes() == pcm  # exactly what was streamed


@pytest.mark.parametrize(("header", "code"), [
    ({"site": "XX", "rate": 4000}, "bad_site"),
    ({"site": "MV", "rate": 4000, "format": "f32le"}, "bad_format"),
    ({"site": "MV", "rate": 10}, "bad_format"),
    ("not json", "bad_header"),
])
async def test_bad_stream_header(ausc_server: Server, clients, header, code) -> None:  # type: ignore[no-untyped-def]
    spoke = clients["spoke_clinician"]
    exam_id = await _new_exam(ausc_server, spoke)
    async with _ws(ausc_server, exam_id, cookie_header(spoke)) as ws:
        await ws.send(header if isinstance(header, str) else json.dumps(header))
        m = json.loads(await ws.recv())
        assert m["type"] == "error" and m["code"] == code and m["message"]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 4400


async def test_short_or_odd_streams_store_nothing(ausc_server: Server, clients) -> None:  # type: ignore[no-untyped-def]
    spoke = clients["spoke_clinician"]
    exam_id = await _new_exam(ausc_server, spoke)
    pcm = _pcm(PRESENT, "MV", 2000)
    async with _ws(ausc_server, exam_id, cookie_header(spoke)) as ws:
        await ws.send(json.dumps({"site": "MV", "rate": 2000}))
        await ws.recv()
        await ws.send(pcm[: 2000 * 2 * 3])  # 3 s
        await ws.send(json.dumps({"type": "end"}))
        messages = [json.loads(await ws.recv()) for _ in range(2)]
    assert messages[-1]["type"] == "error" and messages[-1]["code"] == "too_short" and "5 giây" in messages[-1]["message"]
    async with _ws(ausc_server, exam_id, cookie_header(spoke)) as ws:
        await ws.send(json.dumps({"site": "MV", "rate": 2000, "channels": 2}))
        await ws.recv()
        await ws.send(b"\x00\x01\x02")  # not whole stereo 16-bit frames
        m = json.loads(await ws.recv())
    assert m["type"] == "error" and m["code"] == "bad_chunk"
    detail = (await spoke.get(f"/api/v1/auscultation/exams/{exam_id}")).json()
    assert detail["recordings"] == 0


async def test_strangers_and_anonymous_are_refused(ausc_server: Server, clients) -> None:  # type: ignore[no-untyped-def]
    exam_id = await _new_exam(ausc_server, clients["spoke_clinician"])
    async with _ws(ausc_server, exam_id, None) as ws:
        m = json.loads(await ws.recv())
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert m["code"] == "unauthenticated" and closed.value.rcvd.code == 4401
    other = clients["other_clinician"]
    async with _ws(ausc_server, exam_id, cookie_header(other)) as ws:
        m = json.loads(await ws.recv())
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert m["type"] == "error" and closed.value.rcvd.code == 4403
    # A page of another site may not open the stream with the user's cookie.
    uri = ausc_server.url.replace("http://", "ws://") + f"/auscultation/exams/{exam_id}/stream"
    async with websockets.connect(uri, additional_headers={"Cookie": cookie_header(clients["spoke_clinician"])},
                                  origin="http://evil.example") as ws:
        await ws.recv()
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 4403
    engine = make_engine(ausc_server.database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            denied = await db.scalar(select(AuditEvent).where(
                AuditEvent.actor_user_id == ausc_server.world.other_clinician.id, AuditEvent.outcome == "denied",
                AuditEvent.object_id == str(uuid.UUID(exam_id))))
    finally:
        await engine.dispose()
    assert denied is not None and denied.patient_id == ausc_server.world.patient_a.id

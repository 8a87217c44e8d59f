"""Analysis speed of the auscultation pipeline per 20 s of recording, on one core, and the
latency of live streaming from a stethoscope.

Usage: PYTHONPATH=src python bench/auscultation_speed.py [--data DIR] [--n 80] [--streams 4]
Prints one JSON line. Timed: quality gate + HSMM segmentation + features + model (audio
decoding is excluded; it is I/O). Times are scaled to a 20 s recording.

Streaming (``--streams N``, 0 to skip): a real server (uvicorn on loopback, a fresh SQLite
database and file store) and a signed-in WebSocket client stream N real recordings as 16-bit
PCM at 4 kHz in 250 ms chunks, paced at ``--pace`` times real time. ``stream_update_ms``: from
sending the chunk that completes a 2 s step to receiving the result that covers it;
``stream_final_ms``: from the last chunk (then ``end``) to the stored recording's final result.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import asyncio
import json
import time
from pathlib import Path

import numpy as np

from telebridge.auscultation.data import load_directory
from telebridge.auscultation.dsp import load_audio
from telebridge.auscultation.model import default_model

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "circor-dev"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=80, help="number of recordings sampled (evenly spaced)")
    parser.add_argument("--streams", type=int, default=4, help="recordings streamed over WebSocket (0: skip)")
    parser.add_argument("--pace", type=float, default=4.0, help="streaming speed, times real time")
    args = parser.parse_args()
    model = default_model()
    recs = [r for p in load_directory(args.data) for r in p.recordings]
    sample = recs[:: max(1, len(recs) // args.n)][: args.n]
    total, segment = [], []
    for rec in sample:
        audio = load_audio(rec.audio_path)
        scale = 20.0 / audio.duration
        t0 = time.perf_counter()
        model.analyze_recording(audio.samples, audio.sample_rate, rec.site)
        total.append((time.perf_counter() - t0) * scale)
        t0 = time.perf_counter()
        model.segmenter.segment(audio.samples)
        segment.append((time.perf_counter() - t0) * scale)
    ms = lambda v, q: round(float(np.percentile(v, q)) * 1000, 1)
    figures = {
        "recordings": len(sample),
        "median_ms_per_20s": ms(total, 50),
        "p95_ms_per_20s": ms(total, 95),
        "segmentation_median_ms_per_20s": ms(segment, 50),
        "segmentation_p95_ms_per_20s": ms(segment, 95),
        "threads": 1,
        "model_version": model.version,
    }
    if args.streams > 0:
        streamed = [r.audio_path for r in sample[:: max(1, len(sample) // args.streams)][: args.streams]]
        updates, finals = asyncio.run(stream_latency(streamed, pace=args.pace))
        figures.update({
            "streams": len(streamed),
            "stream_pace_x_realtime": args.pace,
            "stream_update_median_ms": ms(updates, 50),
            "stream_update_p95_ms": ms(updates, 95),
            "stream_updates": len(updates),
            "stream_final_median_ms": ms(finals, 50),
            "stream_final_max_ms": round(max(finals) * 1000, 1),
        })
    print(json.dumps(figures))


# --------------------------------------------------------------------------- streaming latency

async def _server(tmp: Path):  # type: ignore[no-untyped-def]
    """A fresh database with a small network (hub declared for cardiology) and a uvicorn server."""
    import socket
    import subprocess
    import sys
    from datetime import date

    import httpx

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests.factories
    from telebridge.kit.db import make_engine, make_sessionmaker
    from telebridge.kit.migrate import upgrade
    from telebridge.network.models import DeclaredService, RemoteCareDeclaration
    from tests import factories

    url = f"sqlite+aiosqlite:///{tmp}/bench.db"
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    world = await factories.build_world(maker)
    async with maker() as db:
        d = RemoteCareDeclaration(facility_id=world.hub_a.id, declared_on=date(2025, 1, 1),
                                  published_on=date(2025, 1, 5), status="published", modes="remote_consultation")
        db.add(d)
        await db.flush()
        db.add(DeclaredService(declaration_id=d.id, specialty_code="cardiology"))
        await db.commit()
    await engine.dispose()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TELEBRIDGE_DATABASE_URL": url, "TELEBRIDGE_LOG_LEVEL": "WARNING",
           "TELEBRIDGE_FILES_DIR": str(tmp / "files")}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "telebridge.app:create_app", "--factory", "--host",
                             "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                if (await http.get(base + "/readyz")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.2)
        else:
            proc.kill()
            raise RuntimeError("the bench server did not start")
    return proc, base, world


async def _signed_in(base: str, user):  # type: ignore[no-untyped-def]
    import re

    import httpx

    c = httpx.AsyncClient(base_url=base)
    token = re.search(r'name="csrf_token" value="([^"]+)"', (await c.get("/login")).text).group(1)  # type: ignore[union-attr]
    await c.post("/login", data={"username": user.username, "password": user.password, "next": "/", "csrf_token": token})
    await c.post("/login/totp", data={"code": user.totp_now(), "next": "/", "csrf_token": token})
    return c


async def stream_latency(paths: list[Path], *, pace: float, rate: int = 4000) -> tuple[list[float], list[float]]:
    import tempfile

    import websockets

    from telebridge.auscultation.dsp import resample

    updates: list[float] = []
    finals: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        proc, base, world = await _server(Path(tmp))
        try:
            client = await _signed_in(base, world.spoke_clinician)
            cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
            for path in paths:
                audio = load_audio(path)
                pcm = (np.clip(resample(audio.samples, audio.sample_rate, rate), -1, 1) * 32767).astype("<i2").tobytes()
                r = await client.post("/api/v1/auscultation/exams", json={"patient_id": str(world.patient_a.id)},
                                      headers={"x-csrf-token": client.cookies.get("tb_csrf", "")})
                exam_id = r.json()["id"]
                uri = base.replace("http", "ws") + f"/auscultation/exams/{exam_id}/stream"
                chunk = rate // 4 * 2
                sent_at: dict[float, float] = {}
                async with websockets.connect(uri, additional_headers={"Cookie": cookies}, origin=base) as ws:
                    await ws.send(json.dumps({"site": "MV", "rate": rate, "channels": 1, "format": "s16le"}))
                    await ws.recv()

                    async def reader(sent_at: dict[float, float] = sent_at) -> float:
                        while True:
                            m = json.loads(await ws.recv())
                            now = time.perf_counter()
                            if m["type"] == "result":
                                updates.append(now - sent_at[round(m["seconds"], 3)])
                            elif m["type"] == "saved":
                                return now
                            elif m["type"] == "error":
                                raise RuntimeError(m["message"])

                    task = asyncio.create_task(reader())
                    for i in range(0, len(pcm), chunk):
                        await ws.send(pcm[i:i + chunk])
                        sent_at[round(min(i + chunk, len(pcm)) / 2 / rate, 3)] = last = time.perf_counter()
                        await asyncio.sleep(0.25 / pace)
                    await ws.send(json.dumps({"type": "end"}))
                    finals.append(await task - last)
            await client.aclose()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return updates, finals


if __name__ == "__main__":
    main()

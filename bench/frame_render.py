"""Rendered frames of the bundled multi-frame ultrasound, from Telebridge and from Orthanc.

Usage: .venv/bin/python bench/frame_render.py [--rounds 5] [--format jpeg|png]

Starts, on loopback, a private Orthanc with its DICOMweb plugin (Debian ``orthanc``,
``orthanc-dicomweb``) and a Telebridge server (uvicorn, one worker, SQLite, encrypted local
file store) holding the same file (pydicom's ``examples_ybr_color.dcm``: 30 frames of
JPEG-baseline YBR ultrasound). After one warm-up pass over every frame on each server, both
serve ``--rounds`` passes of ``GET .../frames/{n}/rendered`` (Accept: image/jpeg), one
request at a time, interleaved frame by frame so both see the same machine load. Telebridge's
requests are authenticated (bearer token), authorised through the patient relationship and
audited, as in production. Prints one JSON line: both p50 latencies and ``ratio_vs_orthanc``
(Telebridge ÷ Orthanc; aim ≤ 1.0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TELEBRIDGE_LOG_LEVEL", "WARNING")

from tests.imaging import orthanc as orthanc_server
from tests.imaging.live import telebridge_with_study
from tests.imaging.samples import ULTRASOUND, data


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(rounds: int, fmt: str) -> dict[str, object]:
    raw = data(ULTRASOUND)
    accept = "image/png" if fmt == "png" else "image/jpeg"
    with tempfile.TemporaryDirectory(prefix="tb-frame-bench-") as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "orthanc").mkdir()
        (tmp_path / "telebridge").mkdir()
        with orthanc_server.running(tmp_path / "orthanc") as orthanc:
            async with telebridge_with_study(tmp_path / "telebridge", raw) as tb, \
                    httpx.AsyncClient(timeout=60) as http:
                r = await http.post(orthanc.dicomweb + "/studies", content=_stow_body(raw)[0],
                                    headers={"content-type": _stow_body(raw)[1]})
                r.raise_for_status()
                path = (f"/studies/{tb.study_uid}/series/{tb.series_uid}/instances/{tb.sop_uid}/frames/"
                        "{n}/rendered")
                targets = {
                    "telebridge": (tb.url + "/dicomweb" + path, {"authorization": f"Bearer {tb.token}",
                                                                 "accept": accept}),
                    "orthanc": (orthanc.dicomweb + path, {"accept": accept}),
                }
                frames = 30
                timings: dict[str, list[float]] = {k: [] for k in targets}
                sizes: dict[str, int] = {}
                for measured in [False] + [True] * rounds:
                    for n in range(1, frames + 1):
                        for name, (url, headers) in targets.items():
                            started = time.perf_counter()
                            resp = await http.get(url.format(n=n), headers=headers)
                            elapsed = (time.perf_counter() - started) * 1000
                            if resp.status_code != 200 or not resp.headers["content-type"].startswith("image/"):
                                raise RuntimeError(f"{name} frame {n}: {resp.status_code} {resp.text[:200]}")
                            if measured:
                                timings[name].append(elapsed)
                                sizes[name] = len(resp.content)
    tb_p50, or_p50 = statistics.median(timings["telebridge"]), statistics.median(timings["orthanc"])
    return {
        "bench": "frame_render", "file": ULTRASOUND, "frames": frames, "format": fmt,
        "requests_per_server": len(timings["telebridge"]),
        "telebridge_p50_ms": round(tb_p50, 2), "orthanc_p50_ms": round(or_p50, 2),
        "telebridge_p95_ms": round(pct(timings["telebridge"], 0.95), 2),
        "orthanc_p95_ms": round(pct(timings["orthanc"], 0.95), 2),
        "telebridge_bytes_last_frame": sizes["telebridge"], "orthanc_bytes_last_frame": sizes["orthanc"],
        "ratio_vs_orthanc": round(tb_p50 / or_p50, 3),
    }


def _stow_body(raw: bytes) -> tuple[bytes, str]:
    from telebridge.imaging import multipart

    if not hasattr(_stow_body, "cached"):
        _stow_body.cached = multipart.encode([raw])  # type: ignore[attr-defined]
    return _stow_body.cached  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--format", choices=("jpeg", "png"), default="jpeg")
    args = parser.parse_args()
    if not orthanc_server.available():
        sys.exit("bench/frame_render.py needs Debian's orthanc and orthanc-dicomweb (make system-deps)")
    print(json.dumps(asyncio.run(run(args.rounds, args.format))))


if __name__ == "__main__":
    main()

"""aiortc participants joining a live session through Telebridge's real signaling.

Run inside the test network namespace: ``python -m tests.calls.peers`` with a JSON spec
on stdin; prints one JSON report line. Spec::

    {"base": "http://127.0.0.1:PORT", "session_id": "...", "bearers": ["tok", ...],
     "frames": 10, "timeout": 90, "probe": null | {"bearer": "...", "token": "..."}}

Each participant asks /api/v1/calls/sessions/{id}/join for a room token, opens the
WebSocket, publishes a small synthetic video (frame counter drawn in) and a tone, and
counts the audio and video frames it decodes from every other participant.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import math
import sys
import time
from typing import Any

import av
import httpx
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from websockets.asyncio.client import connect

VIDEO_RATE = 90000
FPS = 10
SIZE = (160, 120)


BITS, COLS, BW, BH = 24, 12, 13, 24  # a 24-bit millisecond stamp drawn as 2 rows of 12 blocks


class Video(MediaStreamTrack):
    """A small synthetic camera; each frame carries the sender's clock (ms since its t0) in blocks."""

    kind = "video"

    def __init__(self, shade: int, t0: float) -> None:
        super().__init__()
        self.n = 0
        self.shade = shade
        self.t0 = t0
        self.start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.start is None:
            self.start = time.monotonic()
        target = self.start + self.n / FPS
        await asyncio.sleep(max(0.0, target - time.monotonic()))
        img = np.full((SIZE[1], SIZE[0], 3), self.shade, dtype=np.uint8)
        img[2 * BH:, : (self.n * 4) % SIZE[0]] = 255 - self.shade
        stamp = int((time.monotonic() - self.t0) * 1000) & ((1 << BITS) - 1)
        for b in range(BITS):
            r, c = divmod(b, COLS)
            img[r * BH:(r + 1) * BH, c * BW:(c + 1) * BW] = 255 if stamp >> b & 1 else 0
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = self.n * (VIDEO_RATE // FPS)
        frame.time_base = fractions.Fraction(1, VIDEO_RATE)
        self.n += 1
        return frame


def read_stamp(frame: av.VideoFrame) -> int:
    gray = frame.to_ndarray(format="gray")
    if gray.shape[0] < 2 * BH or gray.shape[1] < COLS * BW:
        return -1
    value = 0
    for b in range(BITS):
        r, c = divmod(b, COLS)
        if gray[r * BH + BH // 2, c * BW + BW // 2] > 128:
            value |= 1 << b
    return value


REGISTRY: dict[str, Participant] = {}


class Tone(MediaStreamTrack):
    kind = "audio"

    def __init__(self, hz: float) -> None:
        super().__init__()
        self.hz = hz
        self.n = 0
        self.start: float | None = None

    async def recv(self) -> av.AudioFrame:
        rate, samples = 48000, 960
        if self.start is None:
            self.start = time.monotonic()
        target = self.start + self.n * samples / rate
        await asyncio.sleep(max(0.0, target - time.monotonic()))
        t = (np.arange(samples) + self.n * samples) / rate
        pcm = (np.sin(2 * math.pi * self.hz * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = rate
        frame.pts = self.n * samples
        frame.time_base = fractions.Fraction(1, rate)
        self.n += 1
        return frame


class Participant:
    def __init__(self, index: int, spec: dict[str, Any], bearer: str, done: asyncio.Event) -> None:
        self.index = index
        self.spec = spec
        self.bearer = bearer
        self.done_event = done
        self.peer_id = ""
        self.mode = ""
        self.ws: Any = None
        self.pcs: dict[str, RTCPeerConnection] = {}  # key: remote peer id (mesh), "pub" or feed (sfu)
        self.feed_owner: dict[str, str] = {}
        self.counts: dict[str, dict[str, int]] = {}  # remote peer id -> {"audio": n, "video": n}
        self.first_frame_ms: float | None = None
        self.joined_at = 0.0
        self.others: set[str] = set()
        self.errors: list[str] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.t0 = time.monotonic()
        self.latency_ms: list[float] = []
        self.dropping = False
        self.rejoined = False
        self.peer_ids: list[str] = []

    def config(self) -> RTCConfiguration:
        return RTCConfiguration(iceServers=[])

    def tracks(self, pc: RTCPeerConnection) -> None:
        pc.addTrack(Tone(220 + 110 * self.index))
        pc.addTrack(Video(40 + 30 * self.index, self.t0))

    def watch(self, pc: RTCPeerConnection, remote: str) -> None:
        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.tasks.append(asyncio.ensure_future(self.consume(track, remote)))

    async def consume(self, track: MediaStreamTrack, remote: str) -> None:
        c = self.counts.setdefault(remote, {"audio": 0, "video": 0})
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            sender = REGISTRY.get(remote)
            if track.kind == "video" and sender is not None and c["video"] % 5 == 0:
                now_ms = (time.monotonic() - sender.t0) * 1000
                stamp = read_stamp(frame)
                if 0 <= stamp <= now_ms:
                    self.latency_ms.append(round(now_ms - stamp, 1))
            if c[track.kind] == 0 and track.kind == "video" and self.first_frame_ms is None:
                self.first_frame_ms = (time.monotonic() - self.joined_at) * 1000
            c[track.kind] += 1
            if self.complete():
                if self.index == self.spec.get("rejoin") and not self.rejoined and not self.dropping:
                    self.dropping = True  # drop the connection once, then join again
                    await self.ws.close()
                elif not self.dropping:
                    self.done_event.set()

    def complete(self) -> bool:
        want = self.spec.get("frames", 10)
        expected = self.spec["expect_others"]
        full = [r for r, c in self.counts.items() if c["audio"] >= want and c["video"] >= want]
        return len(full) >= expected

    async def send(self, msg: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(msg))

    async def run(self) -> None:
        await self.session()
        if self.dropping:
            for t in self.tasks:
                t.cancel()
            await asyncio.gather(*(pc.close() for pc in self.pcs.values()), return_exceptions=True)
            self.pcs, self.counts, self.tasks, self.feed_owner = {}, {}, [], {}
            self.rejoined, self.dropping = True, False
            await self.session()

    async def session(self) -> None:
        base = self.spec["base"]
        sid = self.spec["session_id"]
        async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {self.bearer}"}) as http:
            r = await http.post(f"/api/v1/calls/sessions/{sid}/join")
            r.raise_for_status()
            join = r.json()
        url = base.replace("http", "ws", 1) + join["ws_path"] + "?token=" + join["token"]
        self.joined_at = time.monotonic()
        async with connect(url, additional_headers={"authorization": f"Bearer {self.bearer}"},
                           max_size=2**22) as ws:
            self.ws = ws
            async for raw in ws:
                await self.on_message(json.loads(raw))

    async def on_message(self, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        if kind == "welcome":
            self.peer_id, self.mode = msg["peer_id"], msg["mode"]
            REGISTRY[self.peer_id] = self
            self.peer_ids.append(self.peer_id)
            if self.mode == "mesh":
                for p in msg["peers"]:
                    await self.mesh_offer(p["peer_id"])
            else:
                await self.publish()
                for p in msg["peers"]:
                    if p.get("feed"):
                        await self.subscribe(p["feed"], p["peer_id"])
        elif kind == "peer-left":
            for key in (msg["peer_id"], msg.get("feed")):
                pc = self.pcs.pop(key, None) if key else None
                if pc is not None:
                    await pc.close()
            self.counts.pop(msg["peer_id"], None)
            if not self.complete():
                self.done_event.clear()
        elif kind == "signal":
            await self.mesh_signal(msg["from"], msg["data"])
        elif kind == "published":
            await self.pcs["pub"].setRemoteDescription(RTCSessionDescription(**msg["jsep"]))
        elif kind == "feed":
            await self.subscribe(msg["peer"]["feed"], msg["peer"]["peer_id"])
        elif kind == "offer":
            pc = RTCPeerConnection(self.config())
            self.pcs[msg["feed"]] = pc
            self.watch(pc, msg["peer_id"])
            await pc.setRemoteDescription(RTCSessionDescription(**msg["jsep"]))
            await pc.setLocalDescription(await pc.createAnswer())
            await self.send({"type": "answer", "feed": msg["feed"],
                             "jsep": {"type": "answer", "sdp": pc.localDescription.sdp}})
        elif kind == "error":
            self.errors.append(msg.get("code", "?"))

    async def mesh_offer(self, remote: str) -> None:
        pc = RTCPeerConnection(self.config())
        self.pcs[remote] = pc
        self.watch(pc, remote)
        self.tracks(pc)
        await pc.setLocalDescription(await pc.createOffer())
        await self.send({"type": "signal", "to": remote,
                         "data": {"type": "offer", "sdp": pc.localDescription.sdp}})

    async def mesh_signal(self, remote: str, data: dict[str, Any]) -> None:
        if data.get("type") == "offer":
            pc = RTCPeerConnection(self.config())
            self.pcs[remote] = pc
            self.watch(pc, remote)
            self.tracks(pc)
            await pc.setRemoteDescription(RTCSessionDescription(**data))
            await pc.setLocalDescription(await pc.createAnswer())
            await self.send({"type": "signal", "to": remote,
                             "data": {"type": "answer", "sdp": pc.localDescription.sdp}})
        elif data.get("type") == "answer" and remote in self.pcs:
            await self.pcs[remote].setRemoteDescription(RTCSessionDescription(**data))

    async def publish(self) -> None:
        pc = RTCPeerConnection(self.config())
        self.pcs["pub"] = pc
        self.tracks(pc)
        await pc.setLocalDescription(await pc.createOffer())
        await self.send({"type": "publish", "jsep": {"type": "offer", "sdp": pc.localDescription.sdp}})

    async def subscribe(self, feed: str, owner: str) -> None:
        if feed in self.pcs:
            return
        self.feed_owner[feed] = owner
        await self.send({"type": "subscribe", "feed": feed})

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*(pc.close() for pc in self.pcs.values()), return_exceptions=True)

    def report(self) -> dict[str, Any]:
        return {"peer_id": self.peer_id, "peer_ids": self.peer_ids, "rejoined": self.rejoined, "mode": self.mode, "counts": self.counts,
                "first_frame_ms": self.first_frame_ms, "errors": self.errors, "latency_ms": self.latency_ms}


async def probe(spec: dict[str, Any]) -> dict[str, Any]:
    """Open the WebSocket with the given bearer and room token; report what the server says."""
    p = spec["probe"]
    url = spec["base"].replace("http", "ws", 1) + f"/calls/{spec['session_id']}/ws?token={p['token']}"
    headers = {"authorization": f"Bearer {p['bearer']}"} if p.get("bearer") else {}
    async with connect(url, additional_headers=headers) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 20))
        closed: int | None = None
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except Exception:  # noqa: BLE001 - the server closes after refusing
            closed = ws.close_code
    return {"first": first, "close_code": closed}


async def all_done(people: list[Participant], events: list[asyncio.Event], rejoin: int | None) -> None:
    """Every participant receives from every other at once (after the rejoin, if one is asked)."""
    while not (all(e.is_set() for e in events) and (rejoin is None or people[rejoin].rejoined)):
        await asyncio.sleep(0.1)


async def main() -> None:
    spec = json.load(sys.stdin)
    if spec.get("probe"):
        print(json.dumps(await probe(spec)))
        return
    n = len(spec["bearers"])
    spec["expect_others"] = n - 1
    events = [asyncio.Event() for _ in range(n)]
    people = [Participant(i, spec, b, events[i]) for i, b in enumerate(spec["bearers"])]
    runs = []
    for p in people:  # join one after another, as people do
        runs.append(asyncio.ensure_future(p.run()))
        await asyncio.sleep(spec.get("stagger", 0.3))
    ok = True
    try:
        await asyncio.wait_for(all_done(people, events, spec.get("rejoin")), spec.get("timeout", 90))
    except TimeoutError:
        ok = False
    failures = [str(r.exception()) for r in runs if r.done() and not r.cancelled() and r.exception()]
    for r in runs:
        r.cancel()
    await asyncio.gather(*(p.close() for p in people), return_exceptions=True)
    print(json.dumps({"ok": ok, "participants": [p.report() for p in people], "failures": failures}))


if __name__ == "__main__":
    asyncio.run(main())

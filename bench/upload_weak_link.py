"""Resumable upload over a weak rural link, with forced disconnects.

The app (uvicorn) serves outside a network namespace; the "bridge point" client runs inside
it. The link between them is shaped in both directions to RATE (2 Mbit/s), DELAY (200 ms) and
LOSS (3 %): by ``tc netem`` on a veth pair when the kernel has netem, otherwise by a packet-level
emulator in this script (two TUN devices, one per side; every IP packet is serialised at RATE,
delayed by DELAY and dropped with probability LOSS, with a tail-drop queue), so TCP meets real
loss, delay and queueing either way. The JSON line says which was used (``link``). The client uploads SIZE_MB (20) of random bytes through the tus API
and forcibly resets its TCP connection (RST) twice, at 1/3 and 2/3 of the file; each time it
asks the server for the confirmed offset (HEAD) and continues from there.

Prints one JSON line: ``throughput_ratio`` (goodput ÷ link rate), ``resumes``, ``hash_ok``,
and the figures behind them: ``link_busy_ratio`` (what the link carried from the bridge point
while the upload ran ÷ what it could have carried) and ``payload_share`` (the file's share of
those bytes; the rest is IP/TCP/HTTP headers and retransmissions), whose product is about the
throughput ratio. Needs root (ip netns, tc). Run from the repository root:

    .venv/bin/python bench/upload_weak_link.py [--size-mb 20] [--rate-mbit 2] [--delay-ms 200] [--loss 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True)


# --------------------------------------------------------------------------- client (inside the namespace)

class Cut(Exception):
    """The link dropped (a forced disconnect): every connection was reset."""


class Connection:
    """One keep-alive HTTP/1.1 connection (reopened after a reset), like a browser's."""

    def __init__(self, host: str, port: int, link: Link) -> None:
        self.host, self.port, self.link = host, port, link
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def reset(self) -> None:
        """SO_LINGER 0 → RST, as when a link drop is noticed."""
        if self.writer is not None:
            sock = self.writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.writer.transport.abort()
        self.reader = self.writer = None

    async def request(self, method: str, path: str, headers: dict[str, str], body: tuple[Path, int, int] | None = None,
                      ) -> tuple[int, dict[str, str], bytes]:
        """``body``: (file, start, stop). Raises :class:`Cut` if the link drops meanwhile. A kept-alive
        connection the server has closed meanwhile is reopened once (as browsers do)."""
        try:
            return await self._request(method, path, headers, body)
        except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
            return await self._request(method, path, headers, body)

    async def _request(self, method: str, path: str, headers: dict[str, str],
                       body: tuple[Path, int, int] | None) -> tuple[int, dict[str, str], bytes]:
        generation = self.link.generation
        try:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None
            head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
            head += [f"{k}: {v}" for k, v in headers.items()]
            head.append(f"Content-Length: {body[2] - body[1] if body else 0}")
            self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
            if body is not None:
                file, start, stop = body
                with file.open("rb") as fh:
                    fh.seek(start)
                    while start < stop:
                        piece = fh.read(min(64 * 1024, stop - start))
                        self.writer.write(piece)
                        await self.writer.drain()
                        start += len(piece)
                        self.link.sent(len(piece))
            await self.writer.drain()
            status = int((await self.reader.readline()).split()[1])
            out: dict[str, str] = {}
            while (line := await self.reader.readline()) not in (b"\r\n", b""):
                k, _, v = line.decode().partition(":")
                out[k.strip().lower()] = v.strip()
            n = 0 if method == "HEAD" else int(out.get("content-length", "0"))
            data = await self.reader.readexactly(n) if n else b""
            if out.get("connection") == "close":
                self.reset()
            return status, out, data
        except (OSError, asyncio.IncompleteReadError, IndexError, ValueError, AttributeError) as exc:
            self.reset()
            if self.link.generation != generation:
                raise Cut from exc
            raise


class Link:
    """Counts the bytes handed to the network and drops the link (resets every connection)
    each time the total passes the next cut."""

    def __init__(self, cuts: list[int]) -> None:
        self.cuts = sorted(cuts)
        self.total = 0
        self.generation = 0
        self.connections: list[Connection] = []

    def sent(self, n: int) -> None:
        self.total += n
        if self.cuts and self.total >= self.cuts[0]:
            self.cuts.pop(0)
            self.generation += 1
            for c in self.connections:
                c.reset()
            raise Cut


def plan(size: int, streams: int, tail: float = 0.3, max_parts: int = 64) -> list[tuple[int, int]]:
    """Part ranges: one long part per stream, then the last ``tail`` of the file in parts that
    shrink as the file runs out (each an eighth of what is left for four streams, down to a
    floor), taken by whichever stream is free first; the streams then end within one small
    part of each other (static/js/upload.js plans alike)."""
    head = int(size * (1 - tail))
    cuts = [head * i // streams for i in range(streams + 1)]
    smallest = max(128 * 1024, size // 512)
    while True:
        tail_cuts, at = [], head
        while at < size:
            rest = size - at
            at += rest if rest <= smallest else max(smallest, rest // (2 * streams))
            tail_cuts.append(at)
        if len(cuts) - 1 + len(tail_cuts) <= max_parts:
            break
        smallest *= 2
    return [(a, b) for a, b in zip(cuts + tail_cuts, (cuts + tail_cuts)[1:]) if b > a]


async def client(args: argparse.Namespace) -> dict[str, object]:
    """The file goes up as tus partial uploads, ``args.parts`` streams side by side, each on its
    own keep-alive connection (a browser's); the short parts are created meanwhile on another.
    After a drop every stream asks for its part's offset (HEAD, which also takes the upload over
    from the dead transfer) and continues; the stream that finishes last joins the parts (final
    upload, on its still open connection), checking the whole file's SHA-256."""
    path = Path(args.file)
    size = path.stat().st_size
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    auth = {"Authorization": f"Bearer {args.token}", "Tus-Resumable": "1.0.0"}

    def meta(**values: str) -> str:
        return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())

    link = Link([size * (i + 1) // (args.disconnects + 1) for i in range(args.disconnects)])
    ranges = plan(size, args.parts)
    locations: list[asyncio.Future[str]] = [asyncio.get_running_loop().create_future() for _ in ranges]
    queue = iter(range(args.parts, len(ranges)))
    started = time.monotonic()

    async def create(conn: Connection, i: int) -> None:
        while not locations[i].done():
            try:
                r = await conn.request("POST", "/api/v1/files/uploads", {
                    **auth, "Upload-Length": str(ranges[i][1] - ranges[i][0]), "Upload-Concat": "partial",
                    "Upload-Metadata": meta(patient_id=args.patient, filename="weak-link.mp4")})
                assert r[0] == 201, r
                locations[i].set_result(r[1]["location"])
            except Cut:
                continue

    def connection() -> Connection:
        conn = Connection(args.host, args.port, link)
        link.connections.append(conn)
        return conn

    async def creator() -> None:
        conn = connection()
        for i in range(args.parts, len(ranges)):
            await create(conn, i)

    async def send(conn: Connection, i: int) -> None:
        location, (start, stop), offset = await locations[i], ranges[i], 0
        while True:
            try:
                r = await conn.request("PATCH", location, {
                    **auth, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
                    body=(path, start + offset, stop))
                if r[0] == 204:
                    return
                if r[0] != 409:
                    raise RuntimeError(f"upload refused: {r[0]} {r[2][:200]!r}")
                offset = int(r[1]["upload-offset"])  # the server says where to resume
            except Cut:
                while True:  # where to resume (asked again if the link drops again)
                    try:
                        h = await conn.request("HEAD", location, auth)
                        assert h[0] == 200, h
                        offset = int(h[1]["upload-offset"])
                        break
                    except Cut:
                        continue

    async def stream(first: int) -> Connection:
        conn = connection()
        await create(conn, first)
        i: int | None = first
        while i is not None:
            await send(conn, i)
            i = next(queue, None)
        return conn

    pending = [asyncio.ensure_future(stream(i)) for i in range(args.parts)]
    making = asyncio.ensure_future(creator())
    last = None
    for finished in asyncio.as_completed(pending):
        last = await finished
    await making
    assert last is not None
    r = await last.request("POST", "/api/v1/files/uploads", {
        **auth, "Upload-Concat": "final;" + " ".join(f.result() for f in locations),
        "Upload-Metadata": meta(patient_id=args.patient, filename="weak-link.mp4", sha256=digest)})
    assert r[0] == 201, r
    file_id = r[1]["telebridge-file-id"]
    elapsed = time.monotonic() - started
    info = await last.request("GET", f"/api/v1/files/{file_id}", auth)
    assert info[0] == 200, info
    return {"elapsed_s": elapsed, "resumes": link.generation, "parts": len(ranges), "file_id": file_id,
            "stored_sha256": json.loads(info[2])["sha256"]}


# --------------------------------------------------------------------------- userspace link emulator

TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000


def open_tun(name: str) -> int:
    import fcntl

    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class Wire:
    """One direction of the link: loss, then a serialising queue at ``rate`` (tail drop past
    ``queue_s`` of backlog), then a fixed propagation ``delay``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, out_fd: int, rate_bps: float, delay_s: float, loss: float,
                 queue_s: float = 0.6) -> None:
        import random

        self.loop, self.out_fd, self.rate, self.delay, self.loss = loop, out_fd, rate_bps, delay_s, loss
        self.queue_s = queue_s
        self.next_free = 0.0
        self.rng = random.Random(1)
        self.sent = self.dropped = self.bytes = 0

    def packet(self, data: bytes) -> None:
        now = self.loop.time()
        if self.rng.random() < self.loss:
            self.dropped += 1
            return
        start = max(now, self.next_free)
        if start - now > self.queue_s:
            self.dropped += 1
            return
        depart = start + len(data) * 8 / self.rate
        self.next_free = depart
        self.sent += 1
        self.bytes += len(data)
        self.loop.call_at(depart + self.delay, self._deliver, data)

    def _deliver(self, data: bytes) -> None:
        try:
            os.write(self.out_fd, data)
        except BlockingIOError:
            self.dropped += 1


def run_emulator(fd_a: int, fd_b: int, rate_bps: float, delay_s: float, loss: float, stop: threading.Event,
                 wires: dict[str, Wire]) -> None:
    loop = asyncio.new_event_loop()
    a_to_b = Wire(loop, fd_b, rate_bps, delay_s, loss)
    b_to_a = Wire(loop, fd_a, rate_bps, delay_s, loss)
    wires["upload"] = b_to_a

    def reader(fd: int, wire: Wire) -> None:
        while True:
            try:
                wire.packet(os.read(fd, 65535))
            except BlockingIOError:
                return

    loop.add_reader(fd_a, reader, fd_a, a_to_b)
    loop.add_reader(fd_b, reader, fd_b, b_to_a)

    async def wait() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.1)

    loop.run_until_complete(wait())
    loop.close()


def has_netem() -> bool:
    probe = f"tbnp{os.getpid() % 100000}"
    if sh("ip", "link", "add", probe, "type", "dummy", check=False).returncode != 0:
        return False
    try:
        return sh("tc", "qdisc", "add", "dev", probe, "root", "netem", "delay", "1ms", check=False).returncode == 0
    finally:
        sh("ip", "link", "del", probe, check=False)


# --------------------------------------------------------------------------- orchestration (root namespace)

async def _prepare(workdir: Path) -> tuple[str, str, str]:
    from sqlalchemy import select  # noqa: F401

    from telebridge.kit.db import make_engine, make_sessionmaker
    from telebridge.kit.migrate import upgrade
    from tests import factories

    url = f"sqlite+aiosqlite:///{workdir}/bench.db"
    await asyncio.get_running_loop().run_in_executor(None, upgrade, url)
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    world = await factories.build_world(maker)
    token = await factories.api_token(maker, world.spoke_clinician)
    await engine.dispose()
    assert world.patient_a
    return url, token, str(world.patient_a.id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=20)
    parser.add_argument("--rate-mbit", type=float, default=2)
    parser.add_argument("--delay-ms", type=int, default=200)
    parser.add_argument("--loss", type=float, default=3)
    parser.add_argument("--disconnects", type=int, default=2)
    parser.add_argument("--parts", type=int, default=4, help="streams of partial uploads side by side")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--token")
    parser.add_argument("--patient")
    parser.add_argument("--file")
    args = parser.parse_args()
    if args.client:
        print(json.dumps(asyncio.run(client(args))))
        return
    if os.geteuid() != 0:
        sys.exit("needs root: ip netns and tc")

    tag = f"{os.getpid() % 100000}"
    ns, host_if, ns_if = f"tbup{tag}", f"tbuh{tag}", f"tbun{tag}"
    octet = 100 + os.getpid() % 100
    host_ip, ns_ip = f"10.213.{octet}.1", f"10.213.{octet}.2"
    work = Path(tempfile.mkdtemp(prefix="tb-upload-bench-"))
    server: subprocess.Popen[bytes] | None = None
    stop = threading.Event()
    try:
        url, token, patient = asyncio.run(_prepare(work))
        data = os.urandom(int(args.size_mb * 1024 * 1024))
        # An MP4 header makes the random bytes a video as far as the type check goes.
        data = struct.pack(">I", 24) + b"ftypisom\x00\x00\x02\x00isomiso2" + data[24:]
        src = work / "upload.bin"
        src.write_bytes(data)
        expected = hashlib.sha256(data).hexdigest()

        wires: dict[str, Wire] = {}

        def wire_bytes() -> int:
            """Bytes the link has carried from the bridge point so far (IP packets; netem: frames)."""
            if "upload" in wires:
                return wires["upload"].bytes
            shown = sh("ip", "netns", "exec", ns, "tc", "-s", "qdisc", "show", "dev", ns_if).stdout
            return int(shown.split("Sent ", 1)[1].split()[0]) if "Sent " in shown else 0

        sh("ip", "netns", "add", ns)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        if has_netem():
            link = "tc-netem"
            sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
            sh("ip", "link", "set", ns_if, "netns", ns)
            sh("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
            sh("ip", "link", "set", host_if, "up")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_if)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up")
            netem = ["netem", "delay", f"{args.delay_ms}ms", "loss", f"{args.loss}%", "rate", f"{args.rate_mbit}mbit",
                     "limit", "1000"]
            sh("tc", "qdisc", "add", "dev", host_if, "root", *netem)
            sh("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", ns_if, "root", *netem)
        else:
            link = "userspace-emulator"
            fd_host, fd_ns = open_tun(host_if), open_tun(ns_if)
            sh("ip", "link", "set", ns_if, "netns", ns)
            sh("ip", "addr", "add", host_ip, "peer", ns_ip, "dev", host_if)
            sh("ip", "link", "set", host_if, "up")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", ns_ip, "peer", host_ip, "dev", ns_if)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up")
            threading.Thread(target=run_emulator, daemon=True, args=(
                fd_host, fd_ns, args.rate_mbit * 1e6, args.delay_ms / 1000, args.loss / 100, stop, wires)).start()

        with socket.socket() as s:
            s.bind((host_ip, 0))
            port = s.getsockname()[1]
        env = {**os.environ, "TELEBRIDGE_DATABASE_URL": url, "TELEBRIDGE_FILES_DIR": str(work / "files"),
               "TELEBRIDGE_LOG_LEVEL": "WARNING", "TELEBRIDGE_ENVIRONMENT": "test"}
        env.pop("TELEBRIDGE_REDIS_URL", None)
        server = subprocess.Popen([sys.executable, "-m", "uvicorn", "telebridge.app:create_app", "--factory",
                                   "--host", host_ip, "--port", str(port), "--log-level", "warning"], env=env, cwd=ROOT)
        deadline = time.monotonic() + 120
        while True:
            try:
                with socket.create_connection((host_ip, port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the app did not start") from None
                time.sleep(0.2)
        wire_before = wire_bytes()
        run = sh("ip", "netns", "exec", ns, sys.executable, str(Path(__file__).resolve()), "--client",
                 "--host", host_ip, "--port", str(port), "--disconnects", str(args.disconnects), "--parts", str(args.parts), "--token", token, "--patient", patient, "--file", str(src),
                 check=False)
        if run.returncode != 0:
            raise RuntimeError(run.stderr[-2000:])
        result = json.loads(run.stdout.strip().splitlines()[-1])
        on_wire = wire_bytes() - wire_before
        # Read the stored file back (decrypted, integrity-checked) outside the shaped link.
        got = sh("curl", "-sf", "-H", f"Authorization: Bearer {token}",
                 f"http://{host_ip}:{port}/api/v1/files/{result['file_id']}")
        download = json.loads(got.stdout)["download_url"]
        blob = subprocess.run(["curl", "-sf", f"http://{host_ip}:{port}{download}"], capture_output=True, check=True).stdout
        goodput = len(data) * 8 / result["elapsed_s"]
        print(json.dumps({
            "bench": "upload_weak_link", "size_mb": args.size_mb, "link_mbit": args.rate_mbit, "delay_ms": args.delay_ms,
            "loss_pct": args.loss, "forced_disconnects": args.disconnects, "resumes": result["resumes"],
            "elapsed_s": round(result["elapsed_s"], 1), "goodput_mbit": round(goodput / 1e6, 3),
            "throughput_ratio": round(goodput / (args.rate_mbit * 1e6), 3),
            # Where the rest of the link went: its busy share while the upload ran, and the share of
            # what it carried that was the file (the rest: IP/TCP headers, HTTP, retransmissions).
            "link_busy_ratio": round(on_wire * 8 / result["elapsed_s"] / (args.rate_mbit * 1e6), 3),
            "payload_share": round(len(data) / on_wire, 3),
            "streams": args.parts, "parts": result["parts"],
            "hash_ok": result["stored_sha256"] == expected and hashlib.sha256(blob).hexdigest() == expected,
            "link": link,
            "tcp_congestion_control": Path("/proc/sys/net/ipv4/tcp_congestion_control").read_text().strip(),
        }))
    finally:
        stop.set()
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        sh("ip", "link", "del", host_if, check=False)
        sh("ip", "netns", "del", ns, check=False)
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()

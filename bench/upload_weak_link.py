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
and the figures behind them. Needs root (ip netns, tc). Run from the repository root:

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

async def _request(host: str, port: int, method: str, path: str, headers: dict[str, str],
                   body_file: Path | None = None, start: int = 0, stop_at: int | None = None,
                   ) -> tuple[int, dict[str, str], bytes] | None:
    """One HTTP/1.1 request on a fresh connection. With ``stop_at``, the connection is reset
    (SO_LINGER 0 → RST) once the body has been written up to that file offset: returns None."""
    reader, writer = await asyncio.open_connection(host, port)
    sock = writer.get_extra_info("socket")
    length = (body_file.stat().st_size - start) if body_file else 0
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    if body_file is not None:
        head.append(f"Content-Length: {length}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    if body_file is not None:
        with body_file.open("rb") as fh:
            fh.seek(start)
            sent = start
            while True:
                piece = fh.read(64 * 1024)
                if not piece:
                    break
                if stop_at is not None and sent + len(piece) >= stop_at:
                    piece = piece[: stop_at - sent]
                    writer.write(piece)
                    await writer.drain()
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return None
                writer.write(piece)
                await writer.drain()
                sent += len(piece)
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    out: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        k, _, v = line.decode().partition(":")
        out[k.strip().lower()] = v.strip()
    body = await reader.read()
    writer.close()
    return status, out, body


async def client(args: argparse.Namespace) -> dict[str, object]:
    path = Path(args.file)
    size = path.stat().st_size
    auth = {"Authorization": f"Bearer {args.token}", "Tus-Resumable": "1.0.0"}
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in
                    {"patient_id": args.patient, "filename": "weak-link.mp4"}.items())
    started = time.monotonic()
    r = await _request(args.host, args.port, "POST", "/api/v1/files/uploads",
                       {**auth, "Upload-Length": str(size), "Upload-Metadata": meta})
    assert r and r[0] == 201, r
    location = r[1]["location"]
    cuts = [size * (i + 1) // (args.disconnects + 1) for i in range(args.disconnects)]
    resumes, offset, file_id, wasted = 0, 0, None, 0
    while file_id is None:
        stop = next((c for c in cuts if c > offset), None)
        result = await _request(args.host, args.port, "PATCH", location,
                                {**auth, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
                                body_file=path, start=offset, stop_at=stop)
        if result is not None and result[0] == 204:
            offset = int(result[1]["upload-offset"])
            file_id = result[1].get("telebridge-file-id")
            continue
        if result is not None and result[0] != 409:  # 409: a wrong offset, or the cut request still open
            raise RuntimeError(f"upload refused: {result[0]} {result[2][:200]!r}")
        cut = result is None
        if cut:
            cuts.remove(stop)
            resumes += 1
        await asyncio.sleep(0.2)  # the server confirms what it kept once it has seen the reset
        h = await _request(args.host, args.port, "HEAD", location, auth)
        assert h is not None and h[0] == 200, h
        confirmed = int(h[1]["upload-offset"])
        if cut:
            wasted += max(0, stop - confirmed)
        offset = confirmed
    elapsed = time.monotonic() - started
    info = await _request(args.host, args.port, "GET", f"/api/v1/files/{file_id}", auth)
    assert info and info[0] == 200, info
    stored = json.loads(info[2])
    return {"elapsed_s": elapsed, "resumes": resumes, "file_id": file_id, "stored_sha256": stored["sha256"],
            "bytes_unconfirmed": wasted}


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
        self.sent = self.dropped = 0

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
        self.loop.call_at(depart + self.delay, self._deliver, data)

    def _deliver(self, data: bytes) -> None:
        try:
            os.write(self.out_fd, data)
        except BlockingIOError:
            self.dropped += 1


def run_emulator(fd_a: int, fd_b: int, rate_bps: float, delay_s: float, loss: float, stop: threading.Event) -> None:
    loop = asyncio.new_event_loop()
    a_to_b = Wire(loop, fd_b, rate_bps, delay_s, loss)
    b_to_a = Wire(loop, fd_a, rate_bps, delay_s, loss)

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
                fd_host, fd_ns, args.rate_mbit * 1e6, args.delay_ms / 1000, args.loss / 100, stop)).start()

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
        run = sh("ip", "netns", "exec", ns, sys.executable, str(Path(__file__).resolve()), "--client",
                 "--host", host_ip, "--port", str(port), "--disconnects", str(args.disconnects), "--token", token, "--patient", patient, "--file", str(src),
                 check=False)
        if run.returncode != 0:
            raise RuntimeError(run.stderr[-2000:])
        result = json.loads(run.stdout.strip().splitlines()[-1])
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
            "bytes_unconfirmed_at_resets": result["bytes_unconfirmed"],
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

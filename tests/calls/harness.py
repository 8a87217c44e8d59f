"""A sealed network namespace holding Janus, the app and the aiortc peers (tests and bench).

The namespace has only loopback (with 127.0.0.2 added, because aioice ignores 127.0.0.1)
and a veth pair whose both ends stay inside it: libnice, hence Janus, never gathers ICE
candidates on a loopback interface, so Janus gathers on ``tbmedia0`` (10.254.0.1/32).
Nothing in the namespace can reach another network: no route leaves it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telebridge.calls import janus as jn

ROOT = Path(__file__).resolve().parents[2]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def netns_supported() -> tuple[bool, str]:
    if os.geteuid() != 0:
        return False, "call tests need root for a private network namespace"
    if shutil.which("ip") is None:
        return False, "call tests need iproute2 (ip)"
    if not jn.janus_available():
        return False, "call tests need Debian's janus (make system-deps)"
    return True, ""


@contextlib.contextmanager
def netns() -> Iterator[str]:
    name = f"tbcalls-{secrets.token_hex(4)}"
    _ip("netns", "add", name)
    try:
        ex = ("netns", "exec", name, "ip")
        _ip(*ex, "link", "set", "lo", "up")
        _ip(*ex, "addr", "add", "127.0.0.2/8", "dev", "lo")
        _ip(*ex, "link", "add", "tbmedia0", "type", "veth", "peer", "name", "tbmedia1")
        _ip(*ex, "addr", "add", "10.254.0.1/32", "dev", "tbmedia0")
        _ip(*ex, "link", "set", "tbmedia1", "up")
        _ip(*ex, "link", "set", "tbmedia0", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def in_ns(ns: str) -> tuple[str, ...]:
    return ("ip", "netns", "exec", ns)


@contextlib.contextmanager
def janus(ns: str, directory: Path) -> Iterator[jn.JanusProcess]:
    cfg = jn.new_config(directory, ice_enforce_list="tbmedia0")
    proc = jn.JanusProcess(cfg, prefix=in_ns(ns))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def _ns_python(ns: str, code: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*in_ns(ns), sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, check=False)


@dataclass
class Server:
    base: str
    proc: subprocess.Popen[bytes]


@contextlib.contextmanager
def app_server(ns: str, database_url: str, janus_cfg: jn.JanusConfig | None, log: Path,
               **extra: str) -> Iterator[Server]:
    """The app in the namespace (``extra``: more environment, e.g. ``TELEBRIDGE_REDIS_URL``); app
    processes given the same ``log`` directory share the files and recordings directories."""
    port = 18000 + secrets.randbelow(20000)
    env = {**os.environ, "TELEBRIDGE_DATABASE_URL": database_url, "TELEBRIDGE_LOG_LEVEL": "WARNING",
           "TELEBRIDGE_ENVIRONMENT": "test", "TELEBRIDGE_FILES_DIR": str(log.parent / "files"), **extra}
    if janus_cfg is not None:
        env.update(TELEBRIDGE_JANUS_URL=janus_cfg.url, TELEBRIDGE_JANUS_API_SECRET=janus_cfg.api_secret,
                   TELEBRIDGE_JANUS_ADMIN_KEY=janus_cfg.admin_key)
    out = open(log, "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [*in_ns(ns), sys.executable, "-m", "uvicorn", "telebridge.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    out.close()
    base = f"http://127.0.0.1:{port}"
    probe = ("import sys,time,urllib.request\n"
             "for _ in range(150):\n"
             "    try:\n"
             f"        urllib.request.urlopen('{base}/readyz', timeout=1); sys.exit(0)\n"
             "    except Exception: time.sleep(0.2)\n"
             "sys.exit(1)\n")
    try:
        if _ns_python(ns, probe, timeout=40).returncode != 0 or proc.poll() is not None:
            raise RuntimeError(f"the app did not start in the namespace: {log.read_text()[-2000:]}")
        yield Server(base, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def forward(ns: str, host: str, port: int, directory: Path) -> Iterator[None]:
    """``host:port`` of the host reachable as 127.0.0.1:``port`` inside the namespace (tests.calls.forward)."""
    sock = directory / f"fwd-{port}.sock"
    procs: list[subprocess.Popen[str]] = []
    try:
        for cmd in ([sys.executable, "-m", "tests.calls.forward", "unix", str(sock), f"{host}:{port}"],
                    [*in_ns(ns), sys.executable, "-m", "tests.calls.forward", "tcp", str(port), str(sock)]):
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
            procs.append(proc)
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError(f"forwarding {host}:{port} did not start")
        yield
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        sock.unlink(missing_ok=True)


def run_peers(ns: str, spec: dict[str, Any], timeout: float = 180, module: str = "tests.calls.peers") -> dict[str, Any]:
    """Run ``module`` (default ``tests.calls.peers``) inside the namespace; returns its JSON report."""
    r = subprocess.run([*in_ns(ns), sys.executable, "-m", module], input=json.dumps(spec),
                       capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"peers gave no report (rc={r.returncode}): {r.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(lines[-1])
    report["_stderr"] = r.stderr[-3000:]
    return report


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False

"""Janus WebRTC server: a private configuration, the process, and a small async API client.

Telebridge never runs a home-made media server. For the single-machine setup it starts the
Debian ``janus`` binary with a configuration written into a private directory that loads
only the VideoRoom plugin and the WebSocket transport bound to loopback; at scale it talks
to an external Janus given by ``TELEBRIDGE_JANUS_URL``. Browsers never talk to Janus: the
signaling WebSocket of Telebridge brokers every request, so the API secret and the room
secrets stay on the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JANUS_BIN = "/usr/bin/janus"
LIB_DIRS = ("/usr/lib/x86_64-linux-gnu/janus", "/usr/lib/aarch64-linux-gnu/janus", "/usr/lib/janus")


log = logging.getLogger("telebridge.calls.janus")
READY_LINE = "WebSockets thread started"


class JanusError(Exception):
    """Janus refused a request or could not be reached (logged, never shown raw to users)."""


def _lib_dir() -> Path:
    for d in LIB_DIRS:
        if Path(d, "plugins", "libjanus_videoroom.so").exists():
            return Path(d)
    raise JanusError("the Janus VideoRoom plugin is not installed (Debian package 'janus')")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class JanusConfig:
    """What a private Janus needs: where it lives, its port and its secrets."""

    directory: Path
    ws_port: int
    api_secret: str
    admin_key: str
    rtp_ports: tuple[int, int] = (40000, 40999)
    debug_level: int = 4
    # Interfaces (or address prefixes) ICE may gather on; None = all but loopback (libnice
    # never gathers on loopback interfaces).
    ice_enforce_list: str | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/"


def write_config(cfg: JanusConfig) -> Path:
    """Write janus.jcfg, the VideoRoom and WebSocket configs; only those two modules are loadable."""
    lib = _lib_dir()
    d = cfg.directory
    for sub in ("plugins", "transports", "events", "loggers"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    for sub, name in (("plugins", "libjanus_videoroom.so"), ("transports", "libjanus_websockets.so")):
        link = d / sub / name
        if not link.exists():
            link.symlink_to(lib / sub / name)
    lo, hi = cfg.rtp_ports
    enforce = f'\tice_enforce_list = "{cfg.ice_enforce_list}"\n' if cfg.ice_enforce_list else ""
    (d / "janus.jcfg").write_text(
        f"""general: {{
\tconfigs_folder = "{d}"
\tplugins_folder = "{d}/plugins"
\ttransports_folder = "{d}/transports"
\tevents_folder = "{d}/events"
\tloggers_folder = "{d}/loggers"
\tdebug_level = {cfg.debug_level}
\tapi_secret = "{cfg.api_secret}"
\tadmin_secret = "{cfg.api_secret}"
\tsession_timeout = 60
\tprotected_folders = ["/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/sbin", "/sys", "/usr", "/var"]
}}
media: {{
\trtp_port_range = "{lo}-{hi}"
}}
nat: {{
\tnice_debug = false
\tignore_mdns = true
{enforce}}}
plugins: {{
}}
transports: {{
}}
loggers: {{
}}
events: {{
}}
""", encoding="utf-8")
    (d / "janus.plugin.videoroom.jcfg").write_text(
        f"""general: {{
\tadmin_key = "{cfg.admin_key}"
\tstring_ids = true
}}
""", encoding="utf-8")
    (d / "janus.transport.websockets.jcfg").write_text(
        f"""general: {{
\tjson = "compact"
\tws = true
\tws_port = {cfg.ws_port}
\tws_ip = "127.0.0.1"
\twss = false
}}
admin: {{
\tadmin_ws = false
\tadmin_wss = false
}}
""", encoding="utf-8")
    for name in ("janus.jcfg", "janus.plugin.videoroom.jcfg", "janus.transport.websockets.jcfg"):
        (d / name).chmod(0o600)  # they hold the API secret and the VideoRoom admin key
    return d / "janus.jcfg"


@dataclass
class JanusProcess:
    """A running private Janus. ``prefix`` runs it elsewhere (e.g. ``ip netns exec NAME``)."""

    config: JanusConfig
    prefix: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def start(self, timeout: float = 20.0) -> None:
        if not Path(JANUS_BIN).exists():
            raise JanusError("janus is not installed (Debian package 'janus'; make system-deps)")
        conf = write_config(self.config)
        self.log_path = self.config.directory / "janus.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - owned by the child for its lifetime
        cmd = [*self.prefix, JANUS_BIN, "-C", str(conf), "-F", str(self.config.directory), "-o"]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise JanusError(f"janus exited ({self.proc.returncode}): {self.tail()}")
            if READY_LINE in self.tail(20000):
                return
            time.sleep(0.1)
        self.stop()
        raise JanusError(f"janus did not become ready: {self.tail()}")

    def tail(self, n: int = 2000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[-n:].decode("utf-8", "replace")

    def cpu_seconds(self) -> float:
        """User + system CPU consumed so far by janus (from /proc of the janus process)."""
        if self.proc is None:
            return 0.0
        pid = _janus_pid(self.proc.pid)
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.proc = None


def _janus_pid(pid: int) -> int:
    """The janus process itself (``ip netns exec`` execs, so usually the same pid)."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return pid
    if comm == "janus":
        return pid
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        return _janus_pid(int(child))
    return pid


def new_config(directory: Path, *, ws_port: int | None = None, api_secret: str | None = None,
               admin_key: str | None = None, ice_enforce_list: str | None = None) -> JanusConfig:
    return JanusConfig(directory=directory, ws_port=ws_port or free_port(),
                       api_secret=api_secret or secrets.token_urlsafe(24),
                       admin_key=admin_key or secrets.token_urlsafe(24), ice_enforce_list=ice_enforce_list)


# --------------------------------------------------------------------------- client


@dataclass
class Handle:
    session: JanusSession
    id: int
    events: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    streams: list[dict[str, Any]] = field(default_factory=list)  # a subscription's streams, as Janus listed them

    async def message(self, body: dict[str, Any], jsep: dict[str, Any] | None = None,
                      *, timeout: float = 15.0) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Send a plugin request; return the plugin data and jsep of its answer (sync or async)."""
        msg: dict[str, Any] = {"janus": "message", "body": body, "handle_id": self.id}
        if jsep is not None:
            msg["jsep"] = jsep
        reply = await self.session.client.request(msg, session_id=self.session.id, timeout=timeout)
        if reply["janus"] == "success":
            data = reply.get("plugindata", {}).get("data", {})
            _check_plugin(data)
            return data, reply.get("jsep")
        if reply["janus"] != "ack":
            raise JanusError(f"unexpected reply {reply.get('janus')}")
        event = await self.session.client.wait_event(reply["transaction"], timeout=timeout)
        data = event.get("plugindata", {}).get("data", {})
        _check_plugin(data)
        return data, event.get("jsep")

    async def trickle(self, candidate: dict[str, Any] | None) -> None:
        msg: dict[str, Any] = {"janus": "trickle", "handle_id": self.id,
                               "candidate": candidate if candidate else {"completed": True}}
        await self.session.client.request(msg, session_id=self.session.id)

    async def detach(self) -> None:
        with contextlib.suppress(JanusError, asyncio.TimeoutError, ConnectionError):
            await self.session.client.request({"janus": "detach", "handle_id": self.id}, session_id=self.session.id)
        self.session.handles.pop(self.id, None)


def _check_plugin(data: dict[str, Any]) -> None:
    if "error_code" in data or data.get("videoroom") == "event" and "error" in data:
        raise JanusError(f"videoroom error {data.get('error_code')}: {data.get('error')}")


@dataclass
class JanusSession:
    client: JanusClient
    id: int
    handles: dict[int, Handle] = field(default_factory=dict)

    async def attach(self, plugin: str = "janus.plugin.videoroom") -> Handle:
        reply = await self.client.request({"janus": "attach", "plugin": plugin}, session_id=self.id)
        handle = Handle(self, int(reply["data"]["id"]))
        self.handles[handle.id] = handle
        return handle

    async def keepalive(self) -> None:
        await self.client.request({"janus": "keepalive"}, session_id=self.id)

    async def destroy(self) -> None:
        with contextlib.suppress(JanusError, asyncio.TimeoutError, ConnectionError):
            await self.client.request({"janus": "destroy"}, session_id=self.id)
        self.client.sessions.pop(self.id, None)


class JanusClient:
    """One WebSocket to Janus (subprotocol ``janus-protocol``), many sessions multiplexed on it."""

    def __init__(self, url: str, api_secret: str | None = None, admin_key: str | None = None):
        self.url = url
        self.api_secret = api_secret
        self.admin_key = admin_key
        self.sessions: dict[int, JanusSession] = {}
        self._ws: Any = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._events: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        from websockets.asyncio.client import connect

        try:
            self._ws = await connect(self.url, subprotocols=["janus-protocol"], open_timeout=5,  # type: ignore[list-item]
                                     max_size=4 * 1024 * 1024, ping_interval=None)
        except (TimeoutError, OSError) as exc:
            raise JanusError(f"cannot reach Janus: {exc.__class__.__name__}") from exc
        self._reader = asyncio.create_task(self._read())
        self._keepalive = asyncio.create_task(self._keepalives())

    @property
    def connected(self) -> bool:
        return self._ws is not None and self._reader is not None and not self._reader.done()

    async def ensure(self) -> None:
        async with self._lock:
            if not self.connected:
                await self.connect()

    async def close(self) -> None:
        for task in (self._keepalive, self._reader):
            if task:
                task.cancel()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        self._ws = None

    async def _keepalives(self) -> None:
        while True:
            await asyncio.sleep(25)
            for s in list(self.sessions.values()):
                with contextlib.suppress(Exception):
                    await s.keepalive()

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                msg = json.loads(raw)
                tx = msg.get("transaction")
                kind = msg.get("janus")
                if tx and kind != "ack" and tx in self._events and kind == "event":
                    fut = self._events[tx]  # wait_event() removes it
                    if not fut.done():
                        fut.set_result(msg)
                    continue
                if tx and tx in self._pending:
                    fut = self._pending.pop(tx)
                    if not fut.done():
                        fut.set_result(msg)
                    continue
                self._dispatch(msg)
        except Exception as exc:  # noqa: BLE001 - the connection is gone; waiters learn it below
            log.info("janus connection closed: %s", exc.__class__.__name__)
        finally:
            for fut in [*self._pending.values(), *self._events.values()]:
                if not fut.done():
                    fut.set_exception(JanusError("the connection to Janus was lost"))
            self._pending.clear()
            self._events.clear()

    def _dispatch(self, msg: dict[str, Any]) -> None:
        session = self.sessions.get(int(msg.get("session_id") or 0))
        if session is None:
            return
        handle = session.handles.get(int(msg.get("sender") or 0))
        if handle is not None:
            handle.events.put_nowait(msg)

    async def request(self, msg: dict[str, Any], *, session_id: int | None = None,
                      timeout: float = 10.0) -> dict[str, Any]:
        if not self.connected:
            raise JanusError("not connected to Janus")
        tx = secrets.token_hex(8)
        msg = {**msg, "transaction": tx}
        if session_id is not None:
            msg["session_id"] = session_id
        if self.api_secret:
            msg["apisecret"] = self.api_secret
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending[tx] = fut
        if msg.get("janus") == "message":
            self._events[tx] = loop.create_future()
        await self._ws.send(json.dumps(msg))
        try:
            reply = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            self._pending.pop(tx, None)
            self._events.pop(tx, None)
            raise
        if reply.get("janus") == "error":
            self._events.pop(tx, None)
            err = reply.get("error", {})
            raise JanusError(f"janus error {err.get('code')}: {err.get('reason')}")
        if reply.get("janus") != "ack":
            self._events.pop(tx, None)
        return reply

    async def wait_event(self, tx: str, timeout: float = 15.0) -> dict[str, Any]:
        fut = self._events.get(tx)
        if fut is None:
            raise JanusError("no pending event for this transaction")
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._events.pop(tx, None)

    async def create_session(self) -> JanusSession:
        await self.ensure()
        reply = await self.request({"janus": "create"})
        session = JanusSession(self, int(reply["data"]["id"]))
        self.sessions[session.id] = session
        return session

    async def info(self) -> dict[str, Any]:
        await self.ensure()
        return await self.request({"janus": "info"})


# ---------------------------------------------------------------- VideoRoom helpers


async def create_room(handle: Handle, *, room: str, secret: str, publishers: int = 6,
                      bitrate: int = 512_000, description: str = "") -> None:
    """Create a VideoRoom room (idempotent: an existing room is fine)."""
    body: dict[str, Any] = {"request": "create", "room": room, "secret": secret, "publishers": publishers,
                            "bitrate": bitrate, "description": description[:60] or room,
                            "is_private": True, "audiocodec": "opus", "videocodec": "vp8",
                            "notify_joining": True,
                            # a key frame from every publisher at least every 10 s: a viewer switching
                            # simulcast layers (or one whose key-frame request was lost) never stays frozen
                            "fir_freq": 10}
    if handle.session.client.admin_key:
        body["admin_key"] = handle.session.client.admin_key
    exists, _ = await handle.message({"request": "exists", "room": room})
    if exists.get("exists"):
        return
    await handle.message(body)


async def destroy_room(handle: Handle, *, room: str, secret: str) -> None:
    with contextlib.suppress(JanusError):
        await handle.message({"request": "destroy", "room": room, "secret": secret})


async def join_publisher(handle: Handle, *, room: str, display: str, offer: dict[str, Any]
                         ) -> tuple[str, dict[str, Any]]:
    """Join as publisher and publish the offer; returns (feed id, answer jsep)."""
    data, _ = await handle.message({"request": "join", "ptype": "publisher", "room": room, "display": display[:80]})
    feed = str(data.get("id"))
    data, jsep = await handle.message({"request": "configure", "audio": True, "video": True}, offer)
    if jsep is None:
        raise JanusError("janus gave no answer to the publisher offer")
    return feed, jsep


async def join_subscriber(handle: Handle, *, room: str, feed: str) -> dict[str, Any]:
    """Subscribe to one feed; returns Janus's offer jsep (answer with ``start_subscriber``)."""
    data, jsep = await handle.message({"request": "join", "ptype": "subscriber", "room": room,
                                       "streams": [{"feed": feed}]})
    if jsep is None:
        raise JanusError("janus gave no offer for the subscription")
    handle.streams = [s for s in data.get("streams", []) if isinstance(s, dict)]
    return jsep


def has_simulcast(streams: list[dict[str, Any]]) -> bool:
    """Whether a subscription's video comes from a simulcast publisher (its layers can be chosen)."""
    return any(s.get("type") == "video" and s.get("simulcast") for s in streams)


async def configure_subscriber(handle: Handle, *, substream: int, temporal: int | None = None) -> None:
    """Ask Janus for one simulcast layer of the subscription's video: substream 0 (lowest
    resolution) to 2, temporal layer 0 (lowest frame rate) to 2 (all frames)."""
    video = next((s for s in handle.streams if s.get("type") == "video"), None)
    if video is None:
        return
    layer: dict[str, Any] = {"mid": str(video.get("mid")), "substream": substream}
    if temporal is not None:
        layer["temporal"] = temporal
    await handle.message({"request": "configure", "streams": [layer]})


async def start_subscriber(handle: Handle, *, room: str, answer: dict[str, Any]) -> None:
    await handle.message({"request": "start", "room": room}, answer)


async def ice_restart_publisher(handle: Handle, offer: dict[str, Any]) -> dict[str, Any]:
    _, jsep = await handle.message({"request": "configure", "audio": True, "video": True}, offer)
    if jsep is None:
        raise JanusError("janus gave no answer to the restart offer")
    return jsep


def janus_available() -> bool:
    return Path(JANUS_BIN).exists() and shutil.which("janus") is not None

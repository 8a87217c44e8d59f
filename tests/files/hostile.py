"""Renderers that behave like a native decoder fed a hostile file: the sandbox tests register them
in place of a real one. Module-level functions, so that a worker process can import them; each
would take the app process down (or block it) if it ran there."""

from __future__ import annotations

import ctypes
import io
import os
import time

from PIL import Image

OUTLAST = 30.0  # seconds: longer than the tests' sandbox limits, short enough to end a test run without them


def _tiny_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(out, format="PNG")
    return out.getvalue()


def segfault(data: bytes) -> bytes:
    """A read through a null pointer: SIGSEGV, as in a decoder's out-of-bounds read."""
    ctypes.string_at(0)
    return _tiny_png()


def abort(data: bytes) -> bytes:
    """A failed assertion in C code: SIGABRT."""
    os.abort()


def hang(data: bytes) -> bytes:
    """Blocked (a decoder waiting forever): no CPU used, only the wall-clock timeout ends it."""
    time.sleep(OUTLAST)
    return _tiny_png()


def spin(data: bytes) -> bytes:
    """A decoder in an endless loop: the CPU limit ends it."""
    end = time.monotonic() + OUTLAST
    while time.monotonic() < end:
        pass
    return _tiny_png()


def hog_memory(data: bytes) -> bytes:
    """A decompression bomb: a 2 GiB buffer (which the machine could give, the sandbox does not)."""
    buffer = bytearray(2 << 30)
    buffer[::4096] = b"\x01" * len(buffer[::4096])  # touch every page
    return _tiny_png()


def look_around(data: bytes) -> bytes:
    """An exploited decoder looking for secrets and a way out: the environment, and a TCP
    connection to the port given in ``data`` (the app's database or Redis, say)."""
    import json
    import socket

    secrets_seen = sorted(k for k in os.environ if k.startswith("TELEBRIDGE_"))
    try:
        with socket.create_connection(("127.0.0.1", int(data)), timeout=2):
            reached = True
    except OSError:
        reached = False
    return json.dumps({"secrets": secrets_seen, "reached": reached}).encode()


def worker_pid(data: bytes) -> bytes:
    return str(os.getpid()).encode()


class Unpicklable(Exception):
    def __init__(self, code: int, detail: str) -> None:  # like av's errors: pickling loses the arguments
        super().__init__(f"{code}: {detail}")


def raise_unpicklable(data: bytes) -> bytes:
    raise Unpicklable(7, "broken stream")

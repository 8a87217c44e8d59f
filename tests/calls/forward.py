"""A TCP port of the host reachable from inside the sealed test namespace (PostgreSQL, Redis).

The namespace has no route out, but a Unix socket is a file, seen from both sides: one process
on the host accepts on a Unix socket and connects to the host's port; one inside the namespace
accepts on the same port of its own loopback and connects to the Unix socket.

``python -m tests.calls.forward tcp PORT UNIX_PATH`` (inside: TCP in, Unix out) or
``python -m tests.calls.forward unix UNIX_PATH HOST:PORT`` (host: Unix in, TCP out); prints
``ready`` once listening.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys


async def _pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    try:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
    finally:
        with contextlib.suppress(Exception):
            w.close()


async def main(mode: str, listen: str, target: str) -> None:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            if mode == "tcp":
                r2, w2 = await asyncio.open_unix_connection(target)
            else:
                host, port = target.rsplit(":", 1)
                r2, w2 = await asyncio.open_connection(host, int(port))
        except OSError:
            w.close()
            return
        await asyncio.gather(_pipe(r, w2), _pipe(r2, w), return_exceptions=True)

    server = await (asyncio.start_server(handle, "127.0.0.1", int(listen)) if mode == "tcp"
                    else asyncio.start_unix_server(handle, listen))
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))

"""The takeover of a stuck upload transfer across app processes (PostgreSQL + Redis): a PATCH
left hanging in process A is stopped by a HEAD or a PATCH sent to process B, which reads the
offset A committed; a lease left behind by a crashed process is waited out; a holder that
keeps its lease makes a newcomer wait, then answers busy as in one process; a holder whose
lease lapsed and was taken stops, and never deletes the new holder's lease."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from telebridge.files import transfers
from telebridge.kit.db import make_engine, make_sessionmaker
from tests import factories
from tests.browser.conftest import serving
from tests.conftest import PG_URL, REDIS_URL, fresh_database, need
from tests.files.test_uploads import TUS, URL, meta, patch, payload

pytestmark = pytest.mark.redis
HTTP = 30  # seconds: generous, other suites may load the machine (timing never decides here)


@dataclass
class Pair:
    a: str
    b: str
    token: str
    world: factories.World
    files_dir: Path

    def client(self, base: str, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base, timeout=HTTP,
                                 headers={"authorization": f"Bearer {self.token}", **headers})

    async def create(self, c: httpx.AsyncClient, length: int) -> tuple[str, uuid.UUID]:
        r = await c.post(URL, headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": meta(
            patient_id=str(self.world.patient_a.id), filename="ghi-chu.txt", filetype="text/plain")})
        assert r.status_code == 201, r.text
        return r.headers["location"], uuid.UUID(r.headers["location"].rsplit("/", 1)[1])

    def spool(self, upload_id: uuid.UUID) -> Path:
        return self.files_dir / "uploads" / f"{upload_id.hex}.part"


@pytest.fixture(scope="module")
async def pair(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pair]:
    """Two app processes sharing PostgreSQL, Redis and the files directory."""
    need(PG_URL is not None and REDIS_URL is not None, "needs PostgreSQL and Redis (TELEBRIDGE_TEST_*_URL)")
    tmp = tmp_path_factory.mktemp("transfers")
    url = await fresh_database(tmp, "postgresql", "_transfers")
    engine = make_engine(url)
    try:
        maker = make_sessionmaker(engine)
        world = await factories.build_world(maker)
        token = await factories.api_token(maker, world.spoke_clinician)
    finally:
        await engine.dispose()
    env = {"TELEBRIDGE_REDIS_URL": str(REDIS_URL), "TELEBRIDGE_FILES_DIR": str(tmp / "files")}
    async with serving(url, **env) as a, serving(url, **env) as b:
        yield Pair(a, b, token, world, tmp / "files")


@pytest.fixture
async def redis() -> AsyncIterator[Any]:
    need(REDIS_URL is not None, "needs Redis (TELEBRIDGE_TEST_REDIS_URL)")
    import redis.asyncio as aioredis

    client = aioredis.from_url(str(REDIS_URL), decode_responses=True)
    yield client
    await client.aclose()


class Stalled:
    """A PATCH whose client sent part of the body, then nothing more (the connection stays open:
    the server cannot tell a dead link from a slow one)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def start(cls, base: str, token: str, location: str, offset: int, sent: bytes, announced: int) -> Stalled:
        host, port = urlsplit(base).hostname, urlsplit(base).port
        reader, writer = await asyncio.open_connection(host, port)
        head = (f"PATCH {location} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
                f"Tus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n"
                f"Content-Type: application/offset+octet-stream\r\nContent-Length: {announced}\r\n\r\n")
        writer.write(head.encode() + sent)
        await writer.drain()
        return cls(reader, writer)

    async def answer(self) -> tuple[int, dict[str, str]]:
        """The server's answer, which comes although the body is still incomplete."""
        try:
            raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), HTTP)
        finally:
            self.writer.close()
        status_line, *lines = raw.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
        return int(status_line.split()[1]), headers


async def grown(spool: Path, size: int) -> None:
    """Wait until the holder has written ``size`` bytes to the spool."""
    deadline = time.monotonic() + HTTP
    while not (spool.exists() and spool.stat().st_size == size):
        if time.monotonic() > deadline:
            pytest.fail(f"the spool has {spool.stat().st_size if spool.exists() else 0} bytes, not {size}")
        await asyncio.sleep(0.05)


@pytest.mark.postgres
async def test_a_transfer_stuck_in_one_process_is_taken_over_from_another(pair: Pair, redis) -> None:  # type: ignore[no-untyped-def]
    data = payload(200_000)
    async with pair.client(pair.a) as on_a, pair.client(pair.b) as on_b:
        loc, upload_id = await pair.create(on_a, len(data))
        spool = pair.spool(upload_id)
        first = await Stalled.start(pair.a, pair.token, loc, 0, data[:70_000], len(data))
        await grown(spool, 70_000)
        assert (await redis.get(transfers.lease_key(upload_id))) is not None  # A holds the upload
        # The client, reconnected through B, asks where to resume: A stops and commits first.
        head = await on_b.head(loc, headers=TUS)
        assert head.status_code == 200 and head.headers["upload-offset"] == "70000"
        status, headers = await first.answer()
        assert status == 204 and headers["upload-offset"] == "70000"

        second = await Stalled.start(pair.a, pair.token, loc, 70_000, data[70_000:120_000], len(data) - 70_000)
        await grown(spool, 120_000)
        # A PATCH through B takes over too, then checks its offset against the one A committed.
        stale = await patch(on_b, loc, 70_000, data[70_000:])
        assert stale.status_code == 409 and stale.headers["upload-offset"] == "120000", stale.text
        assert stale.json()["error"]["code"] == "offset"
        status, headers = await second.answer()
        assert status == 204 and headers["upload-offset"] == "120000"

        third = await Stalled.start(pair.a, pair.token, loc, 120_000, data[120_000:150_000], len(data) - 120_000)
        await grown(spool, 150_000)
        done = await patch(on_b, loc, 150_000, data[150_000:])  # the client knew what it had sent
        assert done.status_code == 204 and done.headers["upload-offset"] == str(len(data)), done.text
        status, headers = await third.answer()
        assert status == 204 and headers["upload-offset"] == "150000"

        stored = await on_a.get(f"/api/v1/files/{done.headers['telebridge-file-id']}")
        assert stored.status_code == 200 and stored.json()["sha256"] == hashlib.sha256(data).hexdigest()
        assert stored.json()["size"] == len(data)
        assert await redis.get(transfers.lease_key(upload_id)) is None  # released, not left to lapse


@pytest.mark.postgres
async def test_a_lease_left_by_a_crashed_process_is_waited_out(pair: Pair, redis) -> None:  # type: ignore[no-untyped-def]
    data = payload(50_000)
    async with pair.client(pair.b, **{"accept-language": "en"}) as on_b:
        loc, upload_id = await pair.create(on_b, len(data))
        key = transfers.lease_key(upload_id)
        # A process died holding the upload (its lease was just renewed): nobody answers the
        # request to stop, the lease lapses within its lifetime and the newcomer goes on.
        await redis.set(key, "0 crashed-process", px=int(transfers.LEASE_SECONDS * 1000))
        head = await on_b.head(loc, headers=TUS)
        assert head.status_code == 200 and head.headers["upload-offset"] == "0"
        assert await redis.get(key) is None
        done = await patch(on_b, loc, 0, data)
        assert done.status_code == 204 and done.headers["upload-offset"] == str(len(data))


@pytest.mark.postgres
async def test_a_holder_that_keeps_its_lease_makes_the_newcomer_busy(pair: Pair, redis) -> None:  # type: ignore[no-untyped-def]
    data = payload(50_000)
    async with pair.client(pair.a, **{"accept-language": "en"}) as on_a:
        loc, upload_id = await pair.create(on_a, len(data))
        key = transfers.lease_key(upload_id)
        await redis.set(key, "0 silent-process", px=120_000)  # alive (renewing) but never letting go
        try:
            r = await patch(on_a, loc, 0, data)
            assert r.status_code == 409 and r.json()["error"] == {
                "code": "busy", "message": "Another transfer of this upload is in progress."}
            assert await redis.get(key) == "0 silent-process"  # never someone else's lease
        finally:
            await redis.delete(key)
        assert (await patch(on_a, loc, 0, data)).status_code == 204


@pytest.mark.postgres
async def test_a_stuck_transfer_is_taken_over_in_the_same_process(pair: Pair) -> None:
    data = payload(100_000)
    async with pair.client(pair.a) as on_a:
        loc, upload_id = await pair.create(on_a, len(data))
        stalled = await Stalled.start(pair.a, pair.token, loc, 0, data[:30_000], len(data))
        await grown(pair.spool(upload_id), 30_000)
        head = await on_a.head(loc, headers=TUS)
        assert head.status_code == 200 and head.headers["upload-offset"] == "30000"
        status, headers = await stalled.answer()
        assert status == 204 and headers["upload-offset"] == "30000"
        done = await patch(on_a, loc, 30_000, data[30_000:])
        assert done.status_code == 204 and done.headers["upload-offset"] == str(len(data))


async def test_a_holder_whose_lease_was_taken_stops_and_leaves_the_new_lease(redis) -> None:  # type: ignore[no-untyped-def]
    """Its process stalled past the lease's lifetime and another request took the upload: the
    next renewal finds out, the holder is stopped, and leaving does not delete the other's lease."""
    held = transfers.RedisTransfers(str(REDIS_URL))
    upload_id = uuid.uuid4()
    key = transfers.lease_key(upload_id)
    try:
        async with held.hold(upload_id) as stop:
            assert not stop.is_set() and (await redis.get(key)).endswith(held.node)
            await redis.set(key, "999999999999 other-process", px=60_000)
            await asyncio.wait_for(stop.wait(), HTTP)
        assert await redis.get(key) == "999999999999 other-process"
    finally:
        await redis.delete(key)
        await held.close()

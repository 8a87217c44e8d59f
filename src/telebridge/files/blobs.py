"""Encrypted blobs: stored once per content hash, opened with integrity checks, shredded.

Also the encrypted spool of resumable uploads: AES-256-CTR keyed per upload, so bytes can be
written at any offset as they arrive and nothing received is readable on disk. (The spool is
authenticated as a whole at completion: its SHA-256 becomes the blob's content hash, and the
tus ``Upload-Checksum`` of each PATCH is checked as it is written.)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.files.models import FileBlob
from telebridge.files.runtime import Runtime
from telebridge.kit import crypto
from telebridge.kit.db import utcnow

Source = Callable[[], AsyncIterator[bytes]]


async def head_of(source: Source, n: int) -> bytes:
    """The first ``n`` bytes of a source (fewer if it is shorter), reading no further."""
    head = bytearray()
    chunks = source()
    try:
        async for chunk in chunks:
            head += chunk[:n - len(head)]
            if len(head) >= n:
                break
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    return bytes(head)
READ = 1024 * 1024


def object_key(blob_id: uuid.UUID) -> str:
    h = blob_id.hex
    return f"blobs/{h[:2]}/{h}"


async def by_hash(db: AsyncSession, sha256: str) -> FileBlob | None:
    return await db.scalar(select(FileBlob).where(FileBlob.sha256 == sha256))


async def put(db: AsyncSession, rt: Runtime, *, source: Source, size: int, sha256: str) -> FileBlob:
    """The blob holding this content: an existing one (same hash, not shredded) or a new one,
    encrypted under a fresh data key and written to the object store before the row is added."""
    existing = await by_hash(db, sha256)
    if existing is not None and existing.wrapped_key is not None:
        return existing
    data_key = crypto.new_data_key()
    kid, wrapped = rt.keyring.wrap(data_key)
    if existing is not None:  # same content as a shredded blob: a new key, a new object
        blob = existing
        blob.object_key = object_key(uuid.uuid4())
        blob.key_id, blob.wrapped_key, blob.shredded_at, blob.size = kid, wrapped, None, size
        await rt.store.put(blob.object_key, crypto.encrypt_stream(data_key, source()))
        await db.flush()
        return blob
    blob_id = uuid.uuid4()
    key = object_key(blob_id)
    await rt.store.put(key, crypto.encrypt_stream(data_key, source()))
    # Insert unless the same content was stored concurrently (no savepoint: the session's
    # after-commit hooks would fire on its release).
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    done = await db.execute(insert(FileBlob).values(
        id=blob_id, sha256=sha256, size=size, object_key=key, key_id=kid, wrapped_key=wrapped, created_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["sha256"]).returning(FileBlob.id))
    if done.scalar() is None:
        await rt.store.delete(key)
    found = await by_hash(db, sha256)
    assert found is not None
    return found


def data_key(rt: Runtime, blob: FileBlob) -> bytes:
    if blob.wrapped_key is None:
        raise crypto.IntegrityError("the blob was destroyed (its key is shredded)")
    return rt.keyring.unwrap(blob.key_id, blob.wrapped_key)


def open_stream(rt: Runtime, blob: FileBlob) -> AsyncIterator[bytes]:
    """Decrypted content; every chunk is authenticated before it is released."""
    return crypto.decrypt_stream(data_key(rt, blob), rt.store.get(blob.object_key))


async def read_all(rt: Runtime, blob: FileBlob) -> bytes:
    data = b"".join([c async for c in open_stream(rt, blob)])
    if hashlib.sha256(data).hexdigest() != blob.sha256:
        raise crypto.IntegrityError("the content does not match its hash")
    return data


async def read_prefix(rt: Runtime, blob: FileBlob, limit: int) -> bytes:
    """The first ``limit`` bytes or more (whole chunks), each chunk authenticated (not the whole-file hash)."""
    out = bytearray()
    stream = open_stream(rt, blob)
    try:
        async for chunk in stream:
            out += chunk
            if len(out) >= limit:
                break
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return bytes(out)


async def shred(db: AsyncSession, rt: Runtime, blob: FileBlob, now) -> None:  # type: ignore[no-untyped-def]
    """Destroy the data key, then the ciphertext (the key alone is enough to make it unreadable)."""
    blob.wrapped_key = None
    blob.shredded_at = now
    await db.flush()
    await rt.store.delete(blob.object_key)


# --------------------------------------------------------------------------- upload spool

class Spool:
    """An upload's bytes on disk, encrypted with AES-256-CTR at their offset."""

    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self.key = key

    def _cipher(self, offset: int):  # type: ignore[no-untyped-def]
        block, skip = divmod(offset, 16)
        ctx = Cipher(algorithms.AES(self.key), modes.CTR(block.to_bytes(16, "big"))).encryptor()
        if skip:
            ctx.update(b"\x00" * skip)
        return ctx

    def writer(self, offset: int) -> SpoolWriter:
        return SpoolWriter(self, offset)

    async def read(self, *, start: int = 0, limit: int | None = None) -> AsyncIterator[bytes]:
        ctx = self._cipher(start)
        remaining = limit
        with self.path.open("rb") as fh:
            fh.seek(start)
            while remaining is None or remaining > 0:
                n = READ if remaining is None else min(READ, remaining)
                data = await asyncio.to_thread(fh.read, n)
                if not data:
                    return
                if remaining is not None:
                    remaining -= len(data)
                yield ctx.update(data)

    async def head(self, n: int) -> bytes:
        return b"".join([c async for c in self.read(limit=n)])

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class SpoolWriter:
    def __init__(self, spool: Spool, offset: int) -> None:
        self.spool = spool
        self.offset = offset
        self.start = offset
        self._ctx = spool._cipher(offset)
        spool.path.parent.mkdir(parents=True, exist_ok=True)
        if not spool.path.exists():
            spool.path.touch(mode=0o600)
        self._fh = spool.path.open("r+b")
        self._fh.truncate(offset)  # anything past the confirmed offset is discarded
        self._fh.seek(offset)

    async def write(self, data: bytes) -> None:
        await asyncio.to_thread(self._fh.write, self._ctx.update(data))
        self.offset += len(data)

    def rollback(self) -> None:
        """Forget what this writer wrote (a failed checksum, an unverifiable cut): the confirmed
        offset stays at its start. The bytes stay on disk until the next writer, opened at the
        confirmed offset, discards them; they are never truncated here, because after a takeover
        a newer writer may already be writing past that offset (a stalled holder waking up must
        not cut the newer one's data)."""
        self.offset = self.start

    def close(self) -> None:
        if self._fh.closed:
            return
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()

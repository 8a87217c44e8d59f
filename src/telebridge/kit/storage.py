"""One object-store API with two backends, both through ``obstore`` (Rust ``object_store``):

* a local directory (the embedded default, under ``settings.files_dir / "objects"``);
  objects are written to a staging file and renamed into place, so a failed write never
  leaves a partial object;
* S3 (any S3-compatible server: tested against SeaweedFS); large objects go up as
  multipart uploads, streamed.

Keys are slash-separated relative paths (``blobs/ab/abcdef…``). The store holds opaque
bytes: callers encrypt before ``put`` (see :mod:`telebridge.kit.crypto`). Nothing here
buffers a whole object: ``put`` takes an async iterable of chunks and ``get`` yields chunks.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import obstore
from obstore.store import LocalStore, S3Store

READ_CHUNK = 1024 * 1024
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)*$")


class ObjectMissing(Exception):
    """No object under this key."""


class StorageUnavailable(Exception):
    """The object store could not be reached or refused the operation."""


def check_key(key: str) -> str:
    if not _KEY.match(key) or ".." in key:
        raise ValueError(f"invalid object key {key!r}")
    return key


class ObjectStore(Protocol):
    async def put(self, key: str, data: bytes | AsyncIterable[bytes]) -> None: ...

    def get(self, key: str) -> AsyncIterator[bytes]: ...

    async def delete(self, key: str) -> None: ...

    async def exists(self, key: str) -> bool: ...


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


PUT_CONCURRENCY = 2


class ObstoreStore:
    """The :class:`ObjectStore` API over an ``obstore`` store (local directory or S3)."""

    def __init__(self, store: Any, *, description: str) -> None:
        self._store = store
        self.description = description

    async def put(self, key: str, data: bytes | AsyncIterable[bytes]) -> None:
        check_key(key)
        source = _chunks(bytes(data)) if isinstance(data, (bytes, bytearray, memoryview)) else data
        try:
            # Parts of 5 MB, at most PUT_CONCURRENCY in flight: a streamed file of several GB
            # holds about 15 MB (obstore's default, 12 parts, holds up to 60 MB per upload).
            await obstore.put_async(self._store, key, source, max_concurrency=PUT_CONCURRENCY)
        except (OSError, obstore.exceptions.BaseError) as exc:  # type: ignore[attr-defined]
            raise StorageUnavailable(f"could not write object: {type(exc).__name__}") from exc

    async def get(self, key: str) -> AsyncIterator[bytes]:  # type: ignore[override]
        check_key(key)
        try:
            result = await obstore.get_async(self._store, key)
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        except (OSError, obstore.exceptions.BaseError) as exc:  # type: ignore[attr-defined]
            raise StorageUnavailable(f"could not read object: {type(exc).__name__}") from exc
        async for chunk in result.stream(min_chunk_size=READ_CHUNK):
            yield bytes(chunk)

    async def read(self, key: str) -> bytes:
        return b"".join([c async for c in self.get(key)])

    async def delete(self, key: str) -> None:
        check_key(key)
        try:
            await obstore.delete_async(self._store, key)
        except FileNotFoundError:
            return
        except (OSError, obstore.exceptions.BaseError) as exc:  # type: ignore[attr-defined]
            raise StorageUnavailable(f"could not delete object: {type(exc).__name__}") from exc

    async def exists(self, key: str) -> bool:
        check_key(key)
        try:
            await obstore.head_async(self._store, key)
        except FileNotFoundError:
            return False
        except (OSError, obstore.exceptions.BaseError) as exc:  # type: ignore[attr-defined]
            raise StorageUnavailable(f"could not reach the object store: {type(exc).__name__}") from exc
        return True


def local_store(directory: Path) -> ObstoreStore:
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return ObstoreStore(LocalStore(prefix=str(directory), mkdir=True), description=f"local:{directory}")


def s3_store(*, bucket: str, endpoint: str | None, region: str, access_key_id: str | None,
             secret_access_key: str | None) -> ObstoreStore:
    options: dict[str, Any] = {"region": region}
    if endpoint:
        options["endpoint"] = endpoint
        options["virtual_hosted_style_request"] = False
    if access_key_id:
        options["access_key_id"] = access_key_id
        options["secret_access_key"] = secret_access_key or ""
    client_options = {"allow_http": True} if endpoint and endpoint.startswith("http://") else {}
    store = S3Store(bucket, client_options=client_options, **options)
    return ObstoreStore(store, description=f"s3:{bucket}")


def make_store(settings: Any) -> ObstoreStore:
    """The store configured in :class:`telebridge.config.Settings`."""
    if settings.storage_backend == "s3":
        if not settings.s3_bucket:
            raise ValueError("TELEBRIDGE_S3_BUCKET must be set when TELEBRIDGE_STORAGE_BACKEND=s3")
        return s3_store(bucket=settings.s3_bucket, endpoint=settings.s3_endpoint, region=settings.s3_region,
                        access_key_id=settings.s3_access_key_id, secret_access_key=settings.s3_secret_access_key)
    if settings.storage_backend != "local":
        raise ValueError(f"unknown storage backend {settings.storage_backend!r} (local or s3)")
    return local_store(Path(settings.files_dir) / "objects")

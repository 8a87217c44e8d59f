"""Envelope encryption at rest: AES-256-GCM, a random data key per stored blob, wrapped by a
master key.

Master keys come from settings (``TELEBRIDGE_MASTER_KEY`` / ``_FILE``: 32 bytes, base64);
each has a *key id* (the first 16 hex digits of its SHA-256), stored next to every wrapped
data key, so the master key can rotate: put the old key in ``TELEBRIDGE_PREVIOUS_MASTER_KEYS``
(comma-separated, or ``_FILE``), set the new one, and run ``telebridge files rotate-key``,
which re-wraps every data key under the new key. Destroying a blob's wrapped key makes its
ciphertext unreadable for good (crypto-shredding).

Blob format (streamed, never held whole in memory)::

    header  = b"TBE1" + u32 chunk_size
    chunk i = AES-GCM(data_key, nonce = 4 zero bytes + u64 i, plaintext[i*size:(i+1)*size],
                      aad = header + u64 i + u8 final)

The data key is used for one blob only, so a nonce derived from the chunk index never
repeats under a key. Every chunk is a full ``chunk_size`` of plaintext except the last, which
carries ``final = 1`` (and is empty for an empty plaintext). Reordered, replaced, truncated or extended ciphertext
fails authentication: :class:`IntegrityError` is raised before any unauthenticated byte
is released.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"TBE1"
HEADER_LEN = 8
TAG_LEN = 16
DEFAULT_CHUNK = 256 * 1024
MAX_CHUNK = 16 * 1024 * 1024
_WRAP_AAD = b"telebridge-data-key:"


class IntegrityError(Exception):
    """Stored ciphertext (or a wrapped key) failed authentication: altered, truncated or wrong key."""


class UnknownKey(Exception):
    """A data key is wrapped under a master key that is not configured."""


def parse_master_key(text: str) -> bytes:
    """A master key is 32 random bytes written in (url-safe or standard) base64."""
    raw = text.strip().replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except ValueError as exc:
        raise ValueError("a master key must be 32 bytes written in base64") from exc
    if len(key) != 32:
        raise ValueError("a master key must be 32 bytes written in base64")
    return key


def new_master_key() -> str:
    """A fresh master key in the settings format."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def key_id(master: bytes) -> str:
    return hashlib.sha256(b"telebridge-master-key-id:" + master).hexdigest()[:16]


@dataclass(frozen=True)
class Keyring:
    """The current master key (wraps new data keys) and earlier ones (still unwrap old ones)."""

    current: bytes
    previous: tuple[bytes, ...] = ()

    @classmethod
    def from_text(cls, current: str, previous: Iterable[str] = ()) -> Keyring:
        return cls(parse_master_key(current), tuple(parse_master_key(p) for p in previous if p.strip()))

    @property
    def current_id(self) -> str:
        return key_id(self.current)

    def _by_id(self, kid: str) -> bytes:
        for key in (self.current, *self.previous):
            if key_id(key) == kid:
                return key
        raise UnknownKey(f"master key {kid} is not configured")

    def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        """(key id, nonce + sealed data key) under the current master key."""
        kid = self.current_id
        nonce = os.urandom(12)
        return kid, nonce + AESGCM(self.current).encrypt(nonce, data_key, _WRAP_AAD + kid.encode())

    def unwrap(self, kid: str, wrapped: bytes) -> bytes:
        master = self._by_id(kid)
        try:
            return AESGCM(master).decrypt(wrapped[:12], wrapped[12:], _WRAP_AAD + kid.encode())
        except InvalidTag:
            raise IntegrityError("the wrapped data key failed authentication") from None

    def rewrap(self, kid: str, wrapped: bytes) -> tuple[str, bytes]:
        return self.wrap(self.unwrap(kid, wrapped))


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _nonce(index: int) -> bytes:
    return b"\x00\x00\x00\x00" + struct.pack(">Q", index)


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if final else 0)


def sealed_size(plain_size: int, chunk_size: int = DEFAULT_CHUNK) -> int:
    """Bytes of ciphertext for ``plain_size`` bytes of plaintext."""
    chunks = max(1, -(-plain_size // chunk_size))
    return HEADER_LEN + plain_size + chunks * TAG_LEN


async def encrypt_stream(data_key: bytes, source: AsyncIterable[bytes], *,
                         chunk_size: int = DEFAULT_CHUNK) -> AsyncIterator[bytes]:
    """Seal ``source`` chunk by chunk; yields the header, then one sealed chunk at a time."""
    if not 0 < chunk_size <= MAX_CHUNK:
        raise ValueError("chunk size out of range")
    aead = AESGCM(data_key)
    header = MAGIC + struct.pack(">I", chunk_size)
    yield header
    buf = bytearray()
    index = 0
    async for piece in source:
        buf += piece
        # Keep at least one byte back: only the stream's end decides which chunk is final.
        while len(buf) > chunk_size:
            yield aead.encrypt(_nonce(index), bytes(buf[:chunk_size]), _aad(header, index, False))
            del buf[:chunk_size]
            index += 1
    yield aead.encrypt(_nonce(index), bytes(buf), _aad(header, index, True))


async def decrypt_stream(data_key: bytes, source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Open a stream made by :func:`encrypt_stream`; raises :class:`IntegrityError` on any alteration."""
    aead = AESGCM(data_key)
    buf = bytearray()
    header: bytes | None = None
    sealed = 0
    index = 0

    def open_chunk(data: bytes, final: bool) -> bytes:
        assert header is not None
        try:
            return aead.decrypt(_nonce(index), data, _aad(header, index, final))
        except InvalidTag:
            raise IntegrityError(f"stored ciphertext failed authentication at chunk {index}") from None

    async for piece in source:
        buf += piece
        if header is None:
            if len(buf) < HEADER_LEN:
                continue
            header = bytes(buf[:HEADER_LEN])
            del buf[:HEADER_LEN]
            if header[:4] != MAGIC:
                raise IntegrityError("not an encrypted Telebridge object")
            (size,) = struct.unpack(">I", header[4:])
            if not 0 < size <= MAX_CHUNK:
                raise IntegrityError("corrupt header")
            sealed = size + TAG_LEN
        # A full sealed chunk followed by more data cannot be the final one.
        while len(buf) > sealed:
            yield open_chunk(bytes(buf[:sealed]), False)
            del buf[:sealed]
            index += 1
    if header is None:
        raise IntegrityError("the encrypted object is truncated")
    if len(buf) < TAG_LEN:
        raise IntegrityError("the encrypted object is truncated")
    last = open_chunk(bytes(buf), True)
    if last:
        yield last


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def encrypt_bytes(data_key: bytes, data: bytes, *, chunk_size: int = DEFAULT_CHUNK) -> bytes:
    return b"".join([c async for c in encrypt_stream(data_key, _one(data), chunk_size=chunk_size)])


async def decrypt_bytes(data_key: bytes, data: bytes) -> bytes:
    return b"".join([c async for c in decrypt_stream(data_key, _one(data))])


def keyring_from_settings(settings: object) -> Keyring:
    """The keyring configured in :class:`telebridge.config.Settings`."""
    previous = [p for p in str(getattr(settings, "previous_master_keys", "") or "").split(",") if p.strip()]
    return Keyring.from_text(str(settings.master_key), previous)

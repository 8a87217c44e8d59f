"""Envelope encryption: round trips at chunk boundaries, and every kind of tampering detected."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telebridge.config import DEFAULT_MASTER_KEY, Settings
from telebridge.kit import crypto

CHUNK = 64


async def _pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def _seal(key: bytes, data: bytes, piece: int = 7) -> bytes:
    return b"".join([c async for c in crypto.encrypt_stream(key, _pieces(data, piece), chunk_size=CHUNK)])


async def _open(key: bytes, blob: bytes, piece: int = 5) -> bytes:
    return b"".join([c async for c in crypto.decrypt_stream(key, _pieces(blob, piece))])


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17])
async def test_round_trip_at_chunk_boundaries(size: int) -> None:
    key = crypto.new_data_key()
    data = os.urandom(size)
    blob = await _seal(key, data)
    assert len(blob) == crypto.sealed_size(size, CHUNK)
    assert size < 16 or data not in blob
    assert await _open(key, blob) == data


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=400), piece=st.integers(1, 90))
async def test_round_trip_any_split(data: bytes, piece: int) -> None:
    key = b"k" * 32
    assert await _open(key, await _seal(key, data, piece), piece) == data


async def test_flipped_byte_anywhere_is_detected() -> None:
    key = crypto.new_data_key()
    blob = await _seal(key, os.urandom(3 * CHUNK + 10))
    for position in range(0, len(blob), 11):
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        with pytest.raises(crypto.IntegrityError):
            await _open(key, bytes(tampered))


async def test_truncation_reordering_and_extension_are_detected() -> None:
    key = crypto.new_data_key()
    blob = await _seal(key, os.urandom(3 * CHUNK))
    sealed = CHUNK + crypto.TAG_LEN
    head, body = blob[:crypto.HEADER_LEN], blob[crypto.HEADER_LEN:]
    chunks = [body[i:i + sealed] for i in range(0, len(body), sealed)]
    assert len(chunks) == 3
    for bad in (
        head + chunks[0] + chunks[1],  # last chunk dropped at a chunk boundary
        head + chunks[1] + chunks[0] + chunks[2],  # reordered
        head + b"".join(chunks) + chunks[2],  # a chunk appended
        blob[:-1],  # cut inside the final chunk
        head,  # nothing but the header
        b"",
    ):
        with pytest.raises(crypto.IntegrityError):
            await _open(key, bad)
    with pytest.raises(crypto.IntegrityError):
        await _open(crypto.new_data_key(), blob)  # the wrong key


def test_wrapping_rotation_and_shredding() -> None:
    old = crypto.Keyring.from_text(crypto.new_master_key())
    data_key = crypto.new_data_key()
    kid, wrapped = old.wrap(data_key)
    assert kid == old.current_id and data_key not in wrapped
    new_text = crypto.new_master_key()
    rotating = crypto.Keyring(crypto.parse_master_key(new_text), (old.current,))
    new_kid, rewrapped = rotating.rewrap(kid, wrapped)
    assert new_kid != kid
    after = crypto.Keyring.from_text(new_text)  # the old master key is gone
    assert after.unwrap(new_kid, rewrapped) == data_key
    with pytest.raises(crypto.UnknownKey):
        after.unwrap(kid, wrapped)
    tampered = bytearray(rewrapped)
    tampered[-1] ^= 1
    with pytest.raises(crypto.IntegrityError):
        after.unwrap(new_kid, bytes(tampered))


def test_master_key_format_and_production_refuses_the_default() -> None:
    with pytest.raises(ValueError):
        crypto.parse_master_key("too short")
    assert len(crypto.parse_master_key(crypto.new_master_key())) == 32
    with pytest.raises(ValueError, match="MASTER_KEY"):
        Settings(environment="production", secret_key="x" * 40, master_key=DEFAULT_MASTER_KEY)
    assert Settings(environment="production", secret_key="x" * 40, master_key=crypto.new_master_key())


def test_master_key_from_file(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    key = crypto.new_master_key()
    (tmp_path / "mk").write_text(key + "\n")
    monkeypatch.setenv("TELEBRIDGE_MASTER_KEY_FILE", str(tmp_path / "mk"))
    assert crypto.keyring_from_settings(Settings()).current == crypto.parse_master_key(key)

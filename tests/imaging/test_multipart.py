"""The streamed multipart/related reader of STOW-RS bodies: boundaries across chunk edges, refusals,
temporary spools (encrypted, always removed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from telebridge.imaging import multipart
from telebridge.kit.errors import BadInput, TooLarge

BOUNDARY = "b0undary-x"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def body_of(payloads: list[bytes], *, types: list[str] | None = None, preamble: bytes = b"",
            epilogue: bytes = b"") -> bytes:
    out = [preamble]
    for i, payload in enumerate(payloads):
        out.append(f"--{BOUNDARY}\r\nContent-Type: {(types or [])[i] if types else 'application/dicom'}\r\n\r\n"
                   .encode())
        out.append(payload)
        out.append(b"\r\n")
    out.append(f"--{BOUNDARY}--\r\n".encode() + epilogue)
    return b"".join(out)


def run(chunks: list[bytes]) -> list[tuple[dict[str, str], bytes]]:
    """Feed ``chunks`` one by one; the parts as decode() gives them."""
    parser = multipart.Parser(CONTENT_TYPE)
    parts: list[tuple[dict[str, str], bytearray]] = []
    ended = 0
    for chunk in chunks:
        for event in parser.feed(chunk):
            if isinstance(event, multipart.PartStart):
                assert ended == len(parts)
                parts.append((event.headers, bytearray()))
            elif isinstance(event, multipart.PartData):
                assert event.data
                parts[-1][1].extend(event.data)
            else:
                ended += 1
    parser.finish()
    assert ended == len(parts)
    return [(h, bytes(p)) for h, p in parts]


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


TRICKY = [b"", b"\r\n", b"--", f"\r\n--{BOUNDARY[:-1]}".encode(), f"--{BOUNDARY}".encode(),
          f"\r\n--{BOUNDARY[:-1]}y".encode(), b"\r\n\r\n", b"\x00" * 300, bytes(range(256))]


def test_every_split_of_a_body_gives_the_same_parts() -> None:
    payloads = [b"DICM" + bytes(range(256)) * 3, f"x\r\n--{BOUNDARY[:4]}\r\n-".encode(), b"", b"\r\n--\r\n"]
    body = body_of(payloads, preamble=b"ignored preamble\r\n", epilogue=b"ignored epilogue")
    expected = [({"content-type": "application/dicom"}, p) for p in payloads]
    assert multipart.decode(body_of(payloads), CONTENT_TYPE) == expected  # as the bytes decoder reads it
    assert run([body]) == expected
    assert run([body[i:i + 1] for i in range(len(body))]) == expected  # byte by byte
    for cut in range(len(body) + 1):  # one cut anywhere, every boundary straddled once
        assert run([body[:cut], body[cut:]]) == expected, cut
    delimiter = f"\r\n--{BOUNDARY}".encode()
    at = body.find(delimiter, 30)
    for a in range(at - 2, at + len(delimiter) + 2):  # two cuts within the delimiter
        for b in range(a, at + len(delimiter) + 3):
            assert run(split(body, [a, b])) == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads=st.lists(st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(TRICKY)), max_size=6)
                         .map(b"".join), max_size=5),
       cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_any_chunking_of_any_parts(payloads: list[bytes], cuts: list[int]) -> None:
    delimiter = f"\r\n--{BOUNDARY}".encode()
    assume(not any(delimiter in b"\r\n" + p + b"\r\n" for p in payloads))  # a payload never holds its delimiter
    body = body_of(payloads)
    got = run(split(body, cuts))
    assert [p for _h, p in got] == payloads
    assert all(h == {"content-type": "application/dicom"} for h, _p in got)


def test_big_chunks_are_taken_in_pieces() -> None:
    big = bytes(range(256)) * (3 * multipart.PIECE // 256 + 7)
    body = body_of([big, b"small"])
    assert run([body]) == [({"content-type": "application/dicom"}, big), ({"content-type": "application/dicom"},
                                                                              b"small")]


@pytest.mark.parametrize("cut", [
    lambda b: b[:-len(f"--{BOUNDARY}--\r\n")],  # no closing delimiter
    lambda b: b[:-4],  # the closing delimiter cut short: an ordinary delimiter then nothing
    lambda b: b[:len(b) // 2],  # in the middle of a part
    lambda b: b[:20],  # within the first headers
    lambda b: b"",  # nothing at all
])
def test_a_message_without_its_end_is_refused(cut) -> None:  # type: ignore[no-untyped-def]
    body = cut(body_of([b"DICM" * 100, b"second" * 50]))
    parser = multipart.Parser(CONTENT_TYPE)
    parser.feed(body)
    with pytest.raises(BadInput) as refused:
        parser.finish()
    assert refused.value.message == multipart.INCOMPLETE


def test_malformed_messages_are_refused() -> None:
    too_long = f"multipart/related; boundary={'x' * 300}"
    for content_type in ("application/dicom", "multipart/related; type=application/dicom", too_long):
        with pytest.raises(BadInput):
            multipart.Parser(content_type)
    parser = multipart.Parser(CONTENT_TYPE)
    with pytest.raises(BadInput):  # no blank line after the headers, ever
        parser.feed(f"--{BOUNDARY}\r\n".encode() + b"X-Junk: y\r\n" * 2000)
    with pytest.raises(BadInput):  # something other than padding after a delimiter
        multipart.Parser(CONTENT_TYPE).feed(f"--{BOUNDARY}garbage\r\n\r\n".encode())


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at:at + size]


def _dicom_only(limit: int):  # type: ignore[no-untyped-def]
    return lambda media_type: (limit, TooLarge("too large")) if media_type == "application/dicom" else None


async def test_parts_wait_encrypted_on_disk_and_are_removed(tmp_path: Path) -> None:
    secret = b"DICM" + b"PATIENT^NAME " * 5000
    body = body_of([secret, b"%PDF-1.7", secret[:100]], types=["application/dicom", "application/pdf",
                                                               "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"])
    async with multipart.spooled(_chunks(body, 333), CONTENT_TYPE, directory=tmp_path, total=len(body),
                                 limit_of=_dicom_only(len(secret))) as parts:
        assert [(p.media_type, p.size) for p in parts] == [("application/dicom", len(secret)),
                                                           ("application/pdf", 8), ("application/dicom", 100)]
        assert parts[1].spool is None  # not a DICOM part: counted, not kept
        on_disk = sorted(tmp_path.iterdir())
        assert len(on_disk) == 2
        assert all(b"PATIENT^NAME" not in f.read_bytes() for f in on_disk)  # encrypted
        assert b"".join([c async for c in parts[0].source()]) == secret
        assert b"".join([c async for c in parts[2].source()]) == secret[:100]
    assert list(tmp_path.iterdir()) == []


async def test_refusals_remove_the_spools(tmp_path: Path) -> None:
    body = body_of([b"DICM" * 1000, b"DICM" * 5000])
    with pytest.raises(TooLarge):  # the second part passes its limit: refused at once
        async with multipart.spooled(_chunks(body, 1000), CONTENT_TYPE, directory=tmp_path, total=len(body),
                                     limit_of=_dicom_only(4000)):
            raise AssertionError("not reached")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TooLarge) as whole:  # the whole body passes its limit
        async with multipart.spooled(_chunks(body, 1000), CONTENT_TYPE, directory=tmp_path, total=len(body) - 1,
                                     limit_of=_dicom_only(len(body))):
            raise AssertionError("not reached")
    assert whole.value.message == multipart.TOO_LARGE
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(BadInput) as truncated:
        async with multipart.spooled(_chunks(body[:-10], 1000), CONTENT_TYPE, directory=tmp_path, total=len(body),
                                     limit_of=_dicom_only(len(body))):
            raise AssertionError("not reached")
    assert truncated.value.message == multipart.INCOMPLETE
    assert list(tmp_path.iterdir()) == []

    async def cut_off() -> AsyncIterator[bytes]:
        yield body[:9000]
        assert len(list(tmp_path.iterdir())) == 2  # both parts are being spooled
        raise ConnectionError("the client went away")

    with pytest.raises(BadInput) as gone:
        async with multipart.spooled(cut_off(), CONTENT_TYPE, directory=tmp_path, total=len(body),
                                     limit_of=_dicom_only(len(body))):
            raise AssertionError("not reached")
    assert gone.value.message == multipart.CUT_OFF
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError):  # a failure while the parts are used
        async with multipart.spooled(_chunks(body, 1000), CONTENT_TYPE, directory=tmp_path, total=len(body),
                                     limit_of=_dicom_only(len(body))):
            assert len(list(tmp_path.iterdir())) == 2
            raise RuntimeError("storage failed")
    assert list(tmp_path.iterdir()) == []


async def test_a_whole_body_is_spooled_and_bounded(tmp_path: Path) -> None:
    data = b"DICM" * 300_000
    async with multipart.spooled_body(_chunks(data, 3 * multipart.PIECE), directory=tmp_path, limit=len(data),
                                      too_large=TooLarge("too large")) as part:
        assert part.size == len(data) and b"".join([c async for c in part.source()]) == data
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TooLarge):
        async with multipart.spooled_body(_chunks(data, 4096), directory=tmp_path, limit=len(data) - 1,
                                          too_large=TooLarge("too large")):
            raise AssertionError("not reached")
    assert list(tmp_path.iterdir()) == []

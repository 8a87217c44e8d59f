"""multipart/related bodies (RFC 2387) as DICOMweb uses them: STOW-RS requests, WADO-RS answers.

Requests are read as they arrive (:class:`Parser`, :func:`spooled`): each part's payload goes to
an encrypted temporary spool on disk, so a body of several GB never sits in memory. Answers and
the client use :func:`encode` and :func:`decode` on bytes; WADO-RS answers of stored instances are
sent as they are read (:func:`encode_stream`).
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from telebridge.files import blobs
from telebridge.kit.errors import BadInput, TooLarge
from telebridge.kit.i18n import N_

BAD_MULTIPART = N_("The request body is not a valid multipart/related message.")
INCOMPLETE = N_("The request body ended before the end of the multipart/related message (its closing boundary "
                "is missing); nothing was stored.")
CUT_OFF = N_("The request body was cut off before its end; nothing was stored.")
TOO_LARGE = N_("The submitted data is too large.")
_PARAM = re.compile(r';\s*([A-Za-z0-9_-]+)\s*=\s*("([^"]*)"|[^;\s]*)')


def params(content_type: str) -> tuple[str, dict[str, str]]:
    """('multipart/related', {'type': 'application/dicom', 'boundary': ...}) of a header value."""
    main = content_type.split(";", 1)[0].strip().lower()
    found = {m.group(1).lower(): (m.group(3) if m.group(3) is not None else m.group(2))
             for m in _PARAM.finditer(content_type)}
    return main, found


def encode(parts: list[bytes], part_type: str = "application/dicom") -> tuple[bytes, str]:
    """(body, Content-Type header) of a multipart/related message of ``parts``; ``part_type`` may carry
    parameters (``application/dicom; transfer-syntax=…``): the message's ``type`` is its media type."""
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for part in parts:
        chunks.append(_opening(boundary, part_type))
        chunks.append(part)
        chunks.append(b"\r\n")
    chunks.append(_closing(boundary))
    return b"".join(chunks), _content_type(boundary, part_type)


def _opening(boundary: str, part_type: str) -> bytes:
    return f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode("ascii")


def _closing(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode("ascii")


def _content_type(boundary: str, part_type: str) -> str:
    return f'multipart/related; type="{part_type.split(";")[0].strip()}"; boundary={boundary}'


def encode_stream(parts: Iterable[AsyncIterable[bytes]],
                  part_type: str = "application/dicom") -> tuple[AsyncIterator[bytes], str]:
    """:func:`encode` of parts read as they are sent: the same bytes, as an async iterator. A part is
    closed (CRLF, next delimiter) only once its iterator has ended, so a part whose reading fails
    (e.g. an integrity check) cuts the message short instead of ending it as if whole."""
    boundary = uuid.uuid4().hex

    async def body() -> AsyncIterator[bytes]:
        for part in parts:
            yield _opening(boundary, part_type)
            async for chunk in part:
                yield chunk
            yield b"\r\n"
        yield _closing(boundary)

    return body(), _content_type(boundary, part_type)


def decode(body: bytes, content_type: str) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart/related message as (lower-cased headers, payload)."""
    main, p = params(content_type)
    boundary = p.get("boundary")
    if main != "multipart/related" or not boundary:
        raise BadInput(BAD_MULTIPART)
    delimiter = b"--" + boundary.encode("latin-1")
    pieces = body.split(b"\r\n" + delimiter)
    first = pieces[0]
    if first.startswith(delimiter):
        pieces[0] = first[len(delimiter):]
    elif delimiter in first:
        pieces[0] = first[first.index(delimiter) + len(delimiter):]
    else:
        raise BadInput(BAD_MULTIPART)
    parts: list[tuple[dict[str, str], bytes]] = []
    closed = False
    for piece in pieces:
        if piece.startswith(b"--"):
            closed = True
            break
        if piece.startswith(b"\r\n"):
            piece = piece[2:]
        head, sep, payload = piece.partition(b"\r\n\r\n")
        if not sep:
            raise BadInput(BAD_MULTIPART)
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n"):
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        parts.append((headers, payload))
    if not closed:
        raise BadInput(BAD_MULTIPART)
    return parts


# --------------------------------------------------------------------------- streamed requests

HEADERS_MAX = 16 * 1024  # a part's headers (and a delimiter line's padding): more is not a DICOMweb message
PIECE = 1024 * 1024  # larger chunks are taken in pieces of this size (the buffer stays bounded)


@dataclass
class PartStart:
    headers: dict[str, str]


@dataclass
class PartData:
    data: bytes


@dataclass
class PartEnd:
    pass


Event = PartStart | PartData | PartEnd
_PREAMBLE, _DELIMITED, _HEADERS, _BODY, _DONE = range(5)


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.decode("latin-1").split("\r\n"):
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    return headers


class Parser:
    """An incremental multipart/related parser: :meth:`feed` bytes as they arrive, in chunks of any
    size (a boundary may straddle them), and get :class:`PartStart` / :class:`PartData` /
    :class:`PartEnd` events; :meth:`finish` at the end of the body. Holds at most a piece of
    :data:`PIECE` bytes, a boundary's length or a part's headers at a time."""

    def __init__(self, content_type: str) -> None:
        main, p = params(content_type)
        boundary = p.get("boundary")
        if main != "multipart/related" or not boundary or len(boundary) > 200:
            raise BadInput(BAD_MULTIPART)
        self._delimiter = b"--" + boundary.encode("latin-1")
        self._separator = b"\r\n" + self._delimiter  # a delimiter after a payload
        self._buf = bytearray()
        self._state = _PREAMBLE

    @property
    def closed(self) -> bool:
        return self._state == _DONE

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        view = memoryview(data)
        for at in range(0, len(view), PIECE):
            if self._state == _DONE:  # the epilogue: ignored
                break
            self._buf += view[at:at + PIECE]
            self._run(events)
        return events

    def finish(self) -> None:
        """The body has ended: refused unless the closing delimiter was seen."""
        if self._state != _DONE:
            raise BadInput(INCOMPLETE)

    def _run(self, events: list[Event]) -> None:
        buf = self._buf
        while True:
            if self._state == _PREAMBLE:
                at = buf.find(self._delimiter)
                if at < 0:
                    del buf[:max(0, len(buf) - len(self._delimiter) + 1)]
                    return
                del buf[:at + len(self._delimiter)]
                self._state = _DELIMITED
            elif self._state == _DELIMITED:  # "--" closes the message, else padding and CRLF
                if len(buf) < 2:
                    return
                if buf[:2] == b"--":
                    self._state = _DONE
                    buf.clear()
                    return
                end = buf.find(b"\r\n")
                if end < 0 or buf[:end].strip(b" \t"):
                    if end >= 0 or len(buf) > HEADERS_MAX:
                        raise BadInput(BAD_MULTIPART)
                    return
                del buf[:end + 2]
                self._state = _HEADERS
            elif self._state == _HEADERS:
                if buf[:2] == b"\r\n":
                    headers, used = {}, 2
                else:
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        if len(buf) > HEADERS_MAX:
                            raise BadInput(BAD_MULTIPART)
                        return
                    headers, used = _headers(bytes(buf[:end])), end + 4
                del buf[:used]
                events.append(PartStart(headers))
                self._state = _BODY
            elif self._state == _BODY:
                at = buf.find(self._separator)
                if at < 0:  # keep what could be the start of the delimiter
                    cut = len(buf) - len(self._separator) + 1
                    if cut > 0:
                        events.append(PartData(bytes(buf[:cut])))
                        del buf[:cut]
                    return
                if at:
                    events.append(PartData(bytes(buf[:at])))
                del buf[:at + len(self._separator)]
                events.append(PartEnd())
                self._state = _DELIMITED
            else:
                buf.clear()
                return


@dataclass
class SpooledPart:
    """One part of a streamed message: its headers and, if it was kept, its payload in an
    encrypted temporary file (the key lives only in this object)."""

    headers: dict[str, str]
    media_type: str
    size: int = 0
    spool: blobs.Spool | None = None
    _pending: bytearray = field(default_factory=bytearray, repr=False)

    def source(self) -> AsyncIterator[bytes]:
        assert self.spool is not None
        return self.spool.read(limit=self.size)

    def remove(self) -> None:
        if self.spool is not None:
            self.spool.remove()


def part_type(headers: dict[str, str], default: str = "application/dicom") -> str:
    return (headers.get("content-type") or default).split(";")[0].strip().lower()


class _Receiver:
    FLUSH = 1024 * 1024

    def __init__(self, directory: Path, limit_of: Callable[[str], tuple[int, TooLarge] | None],
                 parts: list[SpooledPart]) -> None:
        self.directory = directory
        self.limit_of = limit_of
        self.parts = parts
        self.current: SpooledPart | None = None
        self.writer: blobs.SpoolWriter | None = None
        self.limit: tuple[int, TooLarge] | None = None

    def start(self, headers: dict[str, str]) -> None:
        part = SpooledPart(headers, part_type(headers))
        self.parts.append(part)
        self.current, self.limit = part, self.limit_of(part.media_type)
        if self.limit is not None:  # a part to keep (others are counted, not written)
            self.directory.mkdir(parents=True, exist_ok=True)
            part.spool = blobs.Spool(self.directory / f"{secrets.token_hex(16)}.part", secrets.token_bytes(32))
            self.writer = part.spool.writer(0)

    async def data(self, data: bytes) -> None:
        part = self.current
        assert part is not None
        part.size += len(data)
        if self.writer is None or self.limit is None:
            return
        if part.size > self.limit[0]:
            raise self.limit[1]
        part._pending += data
        if len(part._pending) >= self.FLUSH:
            await self.flush()

    async def flush(self) -> None:
        part = self.current
        if self.writer is not None and part is not None and part._pending:
            await self.writer.write(bytes(part._pending))
            part._pending.clear()

    async def end(self) -> None:
        await self.flush()
        self.close()
        self.current = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@asynccontextmanager
async def spooled(body: AsyncIterable[bytes], content_type: str, *, directory: Path, total: int,
                  limit_of: Callable[[str], tuple[int, TooLarge] | None],
                  disconnected: type[BaseException] = ConnectionError) -> AsyncIterator[list[SpooledPart]]:
    """Read a multipart/related request body as it arrives, each part kept for which ``limit_of``
    (of the part's media type) gives a (size limit, error to raise past it) in an encrypted
    temporary file under ``directory``. The whole body is refused past ``total`` bytes
    (:data:`TOO_LARGE`), as soon as a limit is passed. Yields the parts once the message is complete;
    every temporary file is removed on leaving, whatever happened (a refusal, a disconnection)."""
    parser = Parser(content_type)
    parts: list[SpooledPart] = []
    receiver = _Receiver(directory, limit_of, parts)
    received = 0
    try:
        try:
            async for chunk in body:
                received += len(chunk)
                if received > total:
                    raise TooLarge(TOO_LARGE)
                for event in parser.feed(chunk):
                    if isinstance(event, PartData):
                        await receiver.data(event.data)
                    elif isinstance(event, PartStart):
                        receiver.start(event.headers)
                    else:
                        await receiver.end()
        except disconnected:
            raise BadInput(CUT_OFF) from None
        finally:
            receiver.close()
        parser.finish()
        yield parts
    finally:
        for part in parts:
            part.remove()


@asynccontextmanager
async def spooled_body(body: AsyncIterable[bytes], *, directory: Path, limit: int, too_large: TooLarge,
                       media_type: str = "application/dicom",
                       disconnected: type[BaseException] = ConnectionError) -> AsyncIterator[SpooledPart]:
    """A whole (non-multipart) request body in an encrypted temporary file, as :func:`spooled`."""
    receiver = _Receiver(directory, lambda _type: (limit, too_large), [])
    receiver.start({"content-type": media_type})
    part = receiver.parts[0]
    try:
        try:
            async for chunk in body:
                for at in range(0, len(chunk), PIECE):
                    await receiver.data(chunk[at:at + PIECE])
            await receiver.end()
        except disconnected:
            raise BadInput(CUT_OFF) from None
        finally:
            receiver.close()
        yield part
    finally:
        part.remove()

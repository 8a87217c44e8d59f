"""multipart/related bodies (RFC 2387) as DICOMweb uses them: STOW-RS requests, WADO-RS answers."""

from __future__ import annotations

import re
import uuid

from telebridge.kit.errors import BadInput
from telebridge.kit.i18n import N_

BAD_MULTIPART = N_("The request body is not a valid multipart/related message.")
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
        chunks.append(f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode("ascii"))
        chunks.append(part)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(chunks), f'multipart/related; type="{part_type.split(";")[0].strip()}"; boundary={boundary}'


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

"""What a file is, from its bytes (magic numbers), never from its name; and the virus-scanner hook.

:func:`sniff` looks at the first bytes; :func:`check_name` refuses a name whose extension
says something else; executables (ELF, PE/MZ, Mach-O, Java class, shebang scripts) are
refused whatever they are called.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import ClassVar, Protocol

from telebridge.kit.errors import BadInput, DomainError
from telebridge.kit.i18n import N_

HEAD = 4096


class UnsupportedType(DomainError):
    status = 415
    code = "unsupported_type"


class Unprocessable(DomainError):
    status = 422
    code = "unprocessable"


class Infected(DomainError):
    status = 422
    code = "infected"


@dataclass(frozen=True)
class Kind:
    name: str
    media_type: str
    extensions: tuple[str, ...]
    label: str


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("dicom", "application/dicom", (".dcm", ".dicom"), N_("DICOM image")),
    Kind("jpeg", "image/jpeg", (".jpg", ".jpeg", ".jpe"), N_("JPEG photo")),
    Kind("png", "image/png", (".png",), N_("PNG image")),
    Kind("pdf", "application/pdf", (".pdf",), N_("PDF document")),
    Kind("mp4", "video/mp4", (".mp4", ".m4v", ".mov"), N_("MP4 video")),
    Kind("webm", "video/webm", (".webm",), N_("WebM video")),
    Kind("wav", "audio/wav", (".wav",), N_("WAV audio")),
    Kind("flac", "audio/flac", (".flac",), N_("FLAC audio")),
    Kind("mp3", "audio/mpeg", (".mp3",), N_("MP3 audio")),
    Kind("text", "text/plain", (".txt", ".csv", ".log", ".md"), N_("Plain text")),
)}
KIND_NAMES = frozenset(KINDS)
_BY_EXTENSION = {ext: k.name for k in KINDS.values() for ext in k.extensions}
_EXECUTABLE_EXTENSIONS = frozenset({
    ".exe", ".dll", ".com", ".scr", ".msi", ".bat", ".cmd", ".ps1", ".vbs", ".js", ".jar", ".sh", ".py", ".pl",
    ".apk", ".elf", ".bin", ".so", ".dylib", ".app", ".hta", ".lnk",
})
# Media types browsers and tools send for the same thing.
_ALIASES = {
    "image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "audio/x-wav": "audio/wav", "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav", "audio/x-flac": "audio/flac", "audio/mp3": "audio/mpeg",
    "audio/x-mpeg": "audio/mpeg", "video/quicktime": "video/mp4", "application/x-dicom": "application/dicom",
    "text/csv": "text/plain", "text/markdown": "text/plain", "audio/webm": "video/webm", "audio/mp4": "video/mp4",
    "application/octet-stream": "", "binary/octet-stream": "",
}

EXECUTABLE = N_("Executable files and scripts are not accepted.")
UNKNOWN = N_("This type of file is not accepted. Accepted: DICOM, JPEG, PNG, PDF, MP4, WebM, WAV, FLAC, MP3 and plain text.")
MISMATCH = N_("The file's name or declared type ({declared}) does not match its content ({actual}).")
EMPTY = N_("The file is empty.")


def _executable(head: bytes) -> bool:
    return (
        head.startswith((b"\x7fELF", b"MZ", b"#!", b"\xca\xfe\xba\xbe", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf",
                         b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe", b"\x00asm"))
        or head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"#!")
    )


def _mp3(head: bytes) -> bool:
    if head.startswith(b"ID3"):
        return True
    # An MPEG audio frame header: 11 sync bits, layer III, a valid bitrate and sample rate.
    return (len(head) >= 4 and head[0] == 0xFF and (head[1] & 0xE6) == 0xE2
            and (head[2] >> 4) not in (0, 15) and ((head[2] >> 2) & 3) != 3)


def _webm(head: bytes) -> bool:
    return head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head[:64]


def _text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the sample is fine.
        if exc.start < len(head) - 3:
            return False
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return controls == 0


def sniff(head: bytes) -> str:
    """The kind of content starting with ``head`` (at least the first 4 KiB when there are that many)."""
    if not head:
        raise Unprocessable(EMPTY)
    if _executable(head):
        raise UnsupportedType(EXECUTABLE)
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head[4:8] == b"ftyp":
        return "mp4"
    if _webm(head):
        return "webm"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"fLaC"):
        return "flac"
    if _mp3(head):
        return "mp3"
    if _text(head):
        return "text"
    raise UnsupportedType(UNKNOWN)


def extension_kind(filename: str) -> str | None:
    """The kind a file name claims, None when it claims nothing (no extension)."""
    suffix = PurePath(filename).suffix.lower()
    if not suffix:
        return None
    if suffix in _EXECUTABLE_EXTENSIONS:
        raise UnsupportedType(EXECUTABLE)
    kind = _BY_EXTENSION.get(suffix)
    if kind is None:
        raise UnsupportedType(UNKNOWN)
    return kind


def check_name(filename: str, declared_type: str | None, kind: str) -> None:
    """Refuse a name or declared media type that contradicts the sniffed ``kind``."""
    claimed = extension_kind(filename)
    if claimed is not None and claimed != kind:
        raise UnsupportedType(MISMATCH, declared=PurePath(filename).suffix.lower(), actual=KINDS[kind].media_type)
    if declared_type:
        base = declared_type.split(";", 1)[0].strip().lower()
        base = _ALIASES.get(base, base)
        if base and base != KINDS[kind].media_type:
            raise UnsupportedType(MISMATCH, declared=base, actual=KINDS[kind].media_type)


def clean_filename(filename: str) -> str:
    """The last path component, without control characters, at most 255 characters."""
    name = PurePath(filename.replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    if not name or name in (".", ".."):
        raise BadInput(N_("The file needs a name."), field="filename")
    if len(name) > 255:
        stem, suffix = PurePath(name).stem, PurePath(name).suffix[:16]
        name = stem[: 255 - len(suffix)] + suffix
    return name


# --------------------------------------------------------------------------- virus scanning

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


class Scanner(Protocol):
    """A virus scanner: returns the name of what it found, or None when the content is clean."""

    async def scan(self, chunks: AsyncIterable[bytes]) -> str | None: ...


class SignatureScanner:
    """The built-in scanner: looks for known signatures anywhere in the stream, across chunk
    boundaries (at least the EICAR test file). Plug a real engine in with
    ``TELEBRIDGE_FILES_SCANNER=package.module:Class``."""

    signatures: ClassVar[dict[str, bytes]] = {"EICAR-Test-File": EICAR}

    async def scan(self, chunks: AsyncIterable[bytes]) -> str | None:
        keep = max(len(s) for s in self.signatures.values()) - 1
        tail = b""
        async for chunk in chunks:
            window = tail + chunk
            for name, signature in self.signatures.items():
                if signature in window:
                    return name
            tail = window[-keep:]
        return None


def scanner_from(path: str | None) -> Scanner:
    if not path:
        return SignatureScanner()
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)()

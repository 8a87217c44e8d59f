"""Resumable uploads (tus 1.0: core, creation, checksum with sha256, termination, concatenation).

Bytes are written as they arrive, at the confirmed offset, into an encrypted spool file
(:class:`telebridge.files.blobs.Spool`); nothing is held in memory. A dropped connection keeps
what was received (without a checksum) and the client resumes from ``HEAD``'s
``Upload-Offset``. The last byte triggers :func:`telebridge.files.service.ingest` (type,
limits, scan, encryption, storage); a refusal marks the upload failed and deletes the spool,
so nothing is stored half-way and the user's other uploads are unaffected. No database write
happens while a body is streaming (SQLite would hold its write lock for the whole transfer).

One transfer at a time per upload (:func:`transfer`): a newer request (a resumed ``PATCH``, a
``HEAD``, a ``DELETE``) takes the upload over from one still in progress, which stops as if
its connection had dropped and commits what it received first. On a weak link the old
connection is usually dead without the server knowing (no RST ever arrives), so without this
a resumed upload would be refused as busy until TCP gives up, hours later. With Redis the two
requests may reach different app processes: the upload is held through a lease in Redis and
the holder is asked to stop over the event bus (:mod:`telebridge.files.transfers`).

Concatenation: a large file can travel as several *partial* uploads sent in parallel
(``Upload-Concat: partial``; each needs ``patient_id`` in its metadata, like any upload), then
a *final* upload (``Upload-Concat: final;<url> <url> …`` with the file's metadata and,
optionally, ``sha256`` = the whole file's hex digest, which catches parts listed in the wrong
order) joins them without copying and is checked and stored at once. A complete partial stays
``open`` until a final upload uses it (it expires like any unfinished upload).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.files import blobs, policy, service
from telebridge.files import repository as repo
from telebridge.files.models import ClinicalFile, UploadSession
from telebridge.files.runtime import Runtime, get_runtime
from telebridge.files.sniff import HEAD, clean_filename, extension_kind
from telebridge.kit import crypto
from telebridge.kit.access import authorize
from telebridge.kit.db import utcnow
from telebridge.kit.errors import BadInput, Conflict, DomainError, NotFound
from telebridge.kit.i18n import N_
from telebridge.kit.subject import Subject

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination,checksum,concatenation"
CHECKSUM_ALGORITHMS = "sha256"
PART = "upload_part"  # context_type of a partial upload (the final upload carries the real context)
MAX_PARTS = 64


class ChecksumMismatch(DomainError):
    status = 460
    code = "checksum_mismatch"


class Gone(DomainError):
    status = 410
    code = "gone"


class UploadFailed(DomainError):
    """The upload's content was refused; ``cause`` is the refusal (its status and message)."""

    def __init__(self, cause: DomainError):
        super().__init__(cause.message, code=cause.code, **cause.params)
        self.status = cause.status
        self.cause = cause


class TakenOver(Exception):
    """A newer request took the upload over: stop reading this body, keep what was received."""


def transfer(upload_id: uuid.UUID) -> AbstractAsyncContextManager[asyncio.Event]:
    """Exclusive use of an upload, in every app process (:mod:`telebridge.files.transfers`). A
    transfer in progress is asked to stop and given ``TAKEOVER_SECONDS`` to do so; the caller
    should commit before leaving the block, so the next one reads a durable offset. Yields the
    event that asks *this* holder to stop."""
    return get_runtime().transfers().hold(upload_id)


async def _until_stopped(body: AsyncIterator[bytes], stop: asyncio.Event | None) -> AsyncIterator[bytes]:
    """The body's chunks, until ``stop`` is set (then :class:`TakenOver`)."""
    if stop is None:
        async for chunk in body:
            yield chunk
        return
    end = object()

    async def following() -> object:
        return await anext(body, end)

    stopped = asyncio.ensure_future(stop.wait())
    try:
        while True:
            nxt = asyncio.ensure_future(following())
            await asyncio.wait({nxt, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not nxt.done():
                nxt.cancel()
                raise TakenOver
            chunk = nxt.result()
            if chunk is end:
                return
            if stop.is_set():  # asked at the same moment, or the holder's lease lapsed: not written
                raise TakenOver
            yield chunk  # type: ignore[misc]
    finally:
        stopped.cancel()


def parse_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata: key base64,key2 base64`` → {key: text}."""
    out: dict[str, str] = {}
    for pair in (header or "").split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, value = pair.partition(" ")
        try:
            out[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8") if value.strip() else ""
        except (binascii.Error, UnicodeDecodeError):
            raise BadInput(N_("The upload metadata is malformed."), field="Upload-Metadata") from None
    return out


def parse_checksum(header: str | None) -> bytes | None:
    if not header:
        return None
    algorithm, _, value = header.strip().partition(" ")
    if algorithm.lower() != "sha256":
        raise BadInput(N_("Unsupported checksum algorithm: use sha256."), field="Upload-Checksum")
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except binascii.Error:
        raise BadInput(N_("The checksum is malformed."), field="Upload-Checksum") from None
    if len(digest) != 32:
        raise BadInput(N_("The checksum is malformed."), field="Upload-Checksum")
    return digest


def _uuid(value: str | None, field: str) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadInput(N_("Some fields are missing or malformed: {fields}."), field=field, fields=field) from None


def spool_path(rt: Runtime, upload: UploadSession) -> Path:
    """Where an upload's encrypted bytes are (deleting them needs no key: an upload under a retired
    master key is still cleaned up)."""
    return Path(rt.settings.files_dir) / "uploads" / f"{upload.id.hex}.part"


def request_spool_dir(rt: Runtime) -> Path:
    """Where request bodies that are not resumable uploads (STOW-RS, a single DICOM instance) wait,
    encrypted under a key held only by the request, while they are checked and stored."""
    return Path(rt.settings.files_dir) / "spool"


def spool_of(rt: Runtime, upload: UploadSession) -> blobs.Spool:
    return blobs.Spool(spool_path(rt, upload), rt.keyring.unwrap(upload.key_id, upload.spool_key))


async def _new_session(db: AsyncSession, subject: Subject, rt: Runtime, *, length: int | None,
                       metadata: dict[str, str], partial: bool, offset: int = 0) -> UploadSession:
    """A new upload (or partial upload) of a patient the subject may add files to."""
    if length is None or length < 0:
        raise BadInput(N_("Send the file's length in Upload-Length."), field="Upload-Length")
    patient_id = _uuid(metadata.get("patient_id"), "patient_id")
    if patient_id is None:
        raise BadInput(N_("Some fields are missing or malformed: {fields}."), field="patient_id", fields="patient_id")
    context_type = metadata.get("context_type") or None
    context_id = _uuid(metadata.get("context_id"), "context_id")
    service.check_context(context_type, context_id)
    await service.writable_patient(db, subject, patient_id)
    filename = clean_filename(metadata.get("filename") or metadata.get("name") or ("part" if partial else ""))
    service.check_size(rt.settings, extension_kind(filename), length)  # early 413 / 415 / 422 (a part: its own size)
    spool_key = crypto.new_data_key()
    kid, wrapped = rt.keyring.wrap(spool_key)
    upload = UploadSession(
        user_id=subject.user_id, patient_id=patient_id, context_type=PART if partial else context_type,
        context_id=None if partial else context_id, filename=filename,
        declared_type=(metadata.get("filetype") or metadata.get("type") or None),
        length=length, offset=offset, key_id=kid, spool_key=wrapped, status="open",
        expires_at=utcnow() + timedelta(hours=rt.settings.upload_expiry_hours),
    )
    if upload.declared_type:
        upload.declared_type = upload.declared_type[:100]
    db.add(upload)
    await db.flush()
    return upload


async def create(db: AsyncSession, subject: Subject, *, length: int | None, metadata: dict[str, str],
                 partial: bool = False) -> UploadSession:
    rt = get_runtime()
    upload = await _new_session(db, subject, rt, length=length, metadata=metadata, partial=partial)
    spool_path(rt, upload).parent.mkdir(parents=True, exist_ok=True)
    return upload


def is_partial(upload: UploadSession) -> bool:
    return upload.context_type == PART


async def owned(db: AsyncSession, subject: Subject, upload_id: uuid.UUID) -> UploadSession:
    upload = await repo.get_upload(db, upload_id)
    if upload is None:
        raise NotFound(N_("No such upload."))
    authorize(policy.owns_upload(subject, upload), action="upload", object_type="file_upload", object_id=upload_id,
              patient_id=upload.patient_id, message=N_("This upload belongs to someone else."))
    if upload.status == "open" and upload.expires_at < utcnow():
        raise Gone(N_("This upload has expired; start it again."))
    return upload


@dataclass
class WriteResult:
    upload: UploadSession
    file: ClinicalFile | None = None


async def write(db: AsyncSession, subject: Subject, *, upload_id: uuid.UUID, offset: int | None,
                body: AsyncIterator[bytes], checksum: bytes | None,
                disconnected: type[BaseException] = ConnectionError, stop: asyncio.Event | None = None) -> WriteResult:
    """Append the request body at ``offset`` (which must be the upload's offset: 409 otherwise).
    Call it inside :func:`transfer` and pass its event as ``stop``."""
    rt = get_runtime()
    upload = await owned(db, subject, upload_id)
    await db.refresh(upload)  # what the previous transfer committed
    if upload.status == "done":
        raise Conflict(N_("This upload is already complete."), code="complete")
    if upload.status != "open":
        raise Gone(N_("This upload was refused or cancelled; start it again."))
    if offset is None:
        raise BadInput(N_("Send Upload-Offset."), field="Upload-Offset")
    if offset != upload.offset:
        raise Conflict(N_("Wrong offset: the server has {offset} bytes of this upload."), code="offset",
                       offset=upload.offset)
    spool = spool_of(rt, upload)
    writer = spool.writer(upload.offset)
    digest = hashlib.sha256()
    cut = False
    try:
        async for chunk in _until_stopped(body, stop):
            if writer.offset + len(chunk) > upload.length:
                writer.rollback()
                writer.close()
                raise BadInput(N_("More data was sent than the upload's length."), field="Upload-Length")
            digest.update(chunk)
            await writer.write(chunk)
    except (disconnected, TakenOver):
        cut = True
    try:
        if checksum is not None and (cut or digest.digest() != checksum):
            writer.rollback()
            if not cut:
                raise ChecksumMismatch(N_("The data did not match its checksum; send this part again."))
    finally:
        writer.close()
    upload.offset = writer.offset
    upload.updated_at = utcnow()
    await db.flush()
    result = WriteResult(upload)
    if upload.offset == upload.length and not cut and not is_partial(upload):
        result.file = await _complete(db, subject, rt, upload, head=await spool.head(HEAD),
                                      source=lambda: spool.read(limit=upload.length), discard=[spool])
    return result


async def _complete(db: AsyncSession, subject: Subject, rt: Runtime, upload: UploadSession, *, head: bytes,
                    source: blobs.Source, discard: list[blobs.Spool]) -> ClinicalFile:
    # ingest writes nothing to the database before every check has passed, so a refusal
    # leaves only the upload's failed state behind.
    try:
        await service.writable_patient(db, subject, upload.patient_id)  # still allowed?
        file = await service.ingest(
            db, subject, patient_id=upload.patient_id, filename=upload.filename, size=upload.length,
            head=head, source=source, declared_type=upload.declared_type, context_type=upload.context_type,
            context_id=upload.context_id, rt=rt,
        )
    except DomainError as exc:
        upload.status, upload.error_code = "failed", exc.code[:32]
        await db.flush()
        for spool in discard:
            spool.remove()
        raise UploadFailed(exc) from None
    upload.status, upload.file_id = "done", file.id
    await db.flush()
    for spool in discard:
        spool.remove()
    return file


def part_ids(header: str) -> list[uuid.UUID]:
    """``final;/api/v1/files/uploads/<id> <url> …`` → the partial uploads' ids, in order."""
    kind, _, urls = header.partition(";")
    ids = []
    for url in urls.split():
        ids.append(_uuid(url.rstrip("/").rsplit("/", 1)[-1], "Upload-Concat"))
    if kind.strip() != "final" or not 0 < len(ids) <= MAX_PARTS or len(set(ids)) != len(ids):
        raise BadInput(N_("Upload-Concat must list between 1 and {n} different partial uploads."),
                       field="Upload-Concat", n=MAX_PARTS)
    return ids  # type: ignore[return-value]


def _chain(spools: list[tuple[blobs.Spool, int]]) -> blobs.Source:
    async def read() -> AsyncIterator[bytes]:
        for spool, length in spools:
            async for chunk in spool.read(limit=length):
                yield chunk
    return read


async def _sha256_of(source: blobs.Source) -> str:
    digest = hashlib.sha256()
    async for chunk in source():
        digest.update(chunk)
    return digest.hexdigest()


async def _joined_before(db: AsyncSession, pieces: list[UploadSession]) -> WriteResult | None:
    file_ids = {piece.file_id for piece in pieces}
    if len(file_ids) != 1 or None in file_ids or any(piece.status != "done" for piece in pieces):
        return None
    final = await repo.final_upload_of(db, pieces[0].file_id)  # type: ignore[arg-type]
    file = await repo.get_file(db, pieces[0].file_id)  # type: ignore[arg-type]
    if final is None or file is None or final.length != sum(piece.length for piece in pieces):
        return None
    return WriteResult(final, file)


async def concatenate(db: AsyncSession, subject: Subject, *, parts: list[uuid.UUID],
                      metadata: dict[str, str]) -> WriteResult:
    """The final upload of complete partial uploads (in ``parts`` order): checked and stored now."""
    rt = get_runtime()
    patient_id = _uuid(metadata.get("patient_id"), "patient_id")
    expected = (metadata.get("sha256") or "").lower() or None
    if expected is not None and (len(expected) != 64 or any(ch not in "0123456789abcdef" for ch in expected)):
        raise BadInput(N_("The checksum is malformed."), field="sha256")
    async with AsyncExitStack() as held:
        pieces: list[UploadSession] = []
        for number, part_id in enumerate(parts, start=1):
            piece = await owned(db, subject, part_id)
            await held.enter_async_context(transfer(part_id))
            await db.refresh(piece)
            if not is_partial(piece):
                raise Conflict(N_("Part {n} is not a partial upload."), code="not_partial", n=number)
            if piece.patient_id != patient_id:
                raise Conflict(N_("Part {n} belongs to another patient's upload."), code="other_patient", n=number)
            pieces.append(piece)
        joined = await _joined_before(db, pieces)
        if joined is not None:  # the same final request again (its answer was lost on the way)
            return joined
        for number, piece in enumerate(pieces, start=1):
            if piece.status != "open" or piece.offset != piece.length:
                raise Conflict(N_("Part {n} is not complete: the server has {offset} of its {length} bytes."),
                               code="incomplete", n=number, offset=piece.offset, length=piece.length)
        upload = await _new_session(db, subject, rt, length=sum(p.length for p in pieces), metadata=metadata,
                                    partial=False, offset=sum(p.length for p in pieces))
        spools = [(spool_of(rt, p), p.length) for p in pieces]
        source = _chain(spools)
        if expected is not None and await _sha256_of(source) != expected:  # nothing changes: the parts stay usable
            raise ChecksumMismatch(N_("The joined parts do not match the file's checksum: check their order."))
        try:
            file = await _complete(db, subject, rt, upload, head=await blobs.head_of(source, HEAD), source=source,
                                   discard=[spool for spool, _length in spools])
        finally:
            for piece in pieces:
                piece.status, piece.file_id = upload.status, upload.file_id
                piece.error_code = upload.error_code
            await db.flush()
        return WriteResult(upload, file)


async def terminate(db: AsyncSession, subject: Subject, *, upload_id: uuid.UUID) -> None:
    """Termination (call inside :func:`transfer`): the upload is failed and its spool deleted."""
    rt = get_runtime()
    upload = await owned(db, subject, upload_id)
    await db.refresh(upload)
    if upload.status == "done":
        raise Conflict(N_("This upload is already complete."), code="complete")
    upload.status, upload.error_code = "failed", "terminated"
    await db.flush()
    spool_path(rt, upload).unlink(missing_ok=True)

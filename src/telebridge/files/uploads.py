"""Resumable uploads (tus 1.0: core, creation, checksum with sha256, termination).

Bytes are written as they arrive, at the confirmed offset, into an encrypted spool file
(:class:`telebridge.files.blobs.Spool`); nothing is held in memory. A dropped connection keeps
what was received (without a checksum) and the client resumes from ``HEAD``'s
``Upload-Offset``. The last byte triggers :func:`telebridge.files.service.ingest` (type,
limits, scan, encryption, storage); a refusal marks the upload failed and deletes the spool,
so nothing is stored half-way and the user's other uploads are unaffected. No database write
happens while a body is streaming (SQLite would hold its write lock for the whole transfer).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import uuid
from collections.abc import AsyncIterator
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
EXTENSIONS = "creation,termination,checksum"
CHECKSUM_ALGORITHMS = "sha256"
_locks: dict[uuid.UUID, asyncio.Lock] = {}


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


def spool_of(rt: Runtime, upload: UploadSession) -> blobs.Spool:
    return blobs.Spool(Path(rt.settings.files_dir) / "uploads" / f"{upload.id.hex}.part",
                       rt.keyring.unwrap(upload.key_id, upload.spool_key))


async def create(db: AsyncSession, subject: Subject, *, length: int | None, metadata: dict[str, str]) -> UploadSession:
    rt = get_runtime()
    if length is None or length < 0:
        raise BadInput(N_("Send the file's length in Upload-Length."), field="Upload-Length")
    patient_id = _uuid(metadata.get("patient_id"), "patient_id")
    if patient_id is None:
        raise BadInput(N_("Some fields are missing or malformed: {fields}."), field="patient_id", fields="patient_id")
    context_type = metadata.get("context_type") or None
    context_id = _uuid(metadata.get("context_id"), "context_id")
    service.check_context(context_type, context_id)
    await service.writable_patient(db, subject, patient_id)
    filename = clean_filename(metadata.get("filename") or metadata.get("name") or "")
    service.check_size(rt.settings, extension_kind(filename), length)  # early 413 / 415 / 422
    spool_key = crypto.new_data_key()
    kid, wrapped = rt.keyring.wrap(spool_key)
    upload = UploadSession(
        user_id=subject.user_id, patient_id=patient_id, context_type=context_type, context_id=context_id,
        filename=filename, declared_type=(metadata.get("filetype") or metadata.get("type") or None),
        length=length, offset=0, key_id=kid, spool_key=wrapped, status="open",
        expires_at=utcnow() + timedelta(hours=rt.settings.upload_expiry_hours),
    )
    if upload.declared_type:
        upload.declared_type = upload.declared_type[:100]
    db.add(upload)
    await db.flush()
    blobs.Spool(spool_of(rt, upload).path, spool_key).path.parent.mkdir(parents=True, exist_ok=True)
    return upload


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
                disconnected: type[BaseException] = ConnectionError) -> WriteResult:
    """Append the request body at ``offset`` (which must be the upload's offset: 409 otherwise)."""
    rt = get_runtime()
    upload = await owned(db, subject, upload_id)
    if upload.status == "done":
        raise Conflict(N_("This upload is already complete."), code="complete")
    if upload.status != "open":
        raise Gone(N_("This upload was refused or cancelled; start it again."))
    if offset is None:
        raise BadInput(N_("Send Upload-Offset."), field="Upload-Offset")
    lock = _locks.setdefault(upload.id, asyncio.Lock())
    if lock.locked():
        raise Conflict(N_("Another transfer of this upload is in progress."), code="busy")
    try:
        async with lock:
            return await _write_locked(db, subject, rt, upload, offset, body, checksum, disconnected)
    finally:
        _locks.pop(upload.id, None)


async def _write_locked(db: AsyncSession, subject: Subject, rt: Runtime, upload: UploadSession, offset: int,
                        body: AsyncIterator[bytes], checksum: bytes | None,
                        disconnected: type[BaseException]) -> WriteResult:
    await db.refresh(upload)
    if offset != upload.offset:
        raise Conflict(N_("Wrong offset: the server has {offset} bytes of this upload."), code="offset",
                       offset=upload.offset)
    spool = spool_of(rt, upload)
    writer = spool.writer(upload.offset)
    digest = hashlib.sha256()
    cut = False
    try:
        async for chunk in body:
            if writer.offset + len(chunk) > upload.length:
                writer.rollback()
                writer.close()
                raise BadInput(N_("More data was sent than the upload's length."), field="Upload-Length")
            digest.update(chunk)
            await writer.write(chunk)
    except disconnected:
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
    if upload.offset == upload.length and not cut:
        result.file = await _complete(db, subject, rt, upload, spool)
    return result


async def _complete(db: AsyncSession, subject: Subject, rt: Runtime, upload: UploadSession,
                    spool: blobs.Spool) -> ClinicalFile:
    # ingest writes nothing to the database before every check has passed, so a refusal
    # leaves only the upload's failed state behind.
    try:
        await service.writable_patient(db, subject, upload.patient_id)  # still allowed?
        file = await service.ingest(
            db, subject, patient_id=upload.patient_id, filename=upload.filename, size=upload.length,
            head=await spool.head(HEAD), source=lambda: spool.read(limit=upload.length),
            declared_type=upload.declared_type, context_type=upload.context_type, context_id=upload.context_id,
            rt=rt,
        )
    except DomainError as exc:
        upload.status, upload.error_code = "failed", exc.code[:32]
        await db.flush()
        spool.remove()
        raise UploadFailed(exc) from None
    upload.status, upload.file_id = "done", file.id
    await db.flush()
    spool.remove()
    return file


async def terminate(db: AsyncSession, subject: Subject, *, upload_id: uuid.UUID) -> None:
    rt = get_runtime()
    upload = await owned(db, subject, upload_id)
    if upload.status == "done":
        raise Conflict(N_("This upload is already complete."), code="complete")
    if _locks.get(upload.id) and _locks[upload.id].locked():
        raise Conflict(N_("Another transfer of this upload is in progress."), code="busy")
    upload.status, upload.error_code = "failed", "terminated"
    await db.flush()
    spool_of(rt, upload).remove()

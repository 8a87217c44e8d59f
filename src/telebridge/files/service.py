"""Clinical files: checked, encrypted, stored once per content, read only through the patient
relationship, every read and write audited. Never commits.

Other domains call :func:`store_bytes`, :func:`read_bytes` and :func:`list_for_context`;
large browser uploads come through the resumable upload API (:mod:`telebridge.files.uploads`)
and end in the same :func:`ingest`.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import hmac
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.files import blobs, policy, tasks  # tasks also registers the preview job
from telebridge.files import repository as repo
from telebridge.files.models import ClinicalFile
from telebridge.files.runtime import Runtime, get_runtime
from telebridge.files.sniff import (
    HEAD,
    KINDS,
    Infected,
    Unprocessable,
    UnsupportedType,
    check_name,
    clean_filename,
    sniff,
)
from telebridge.kit import audit, crypto, jobs, storage
from telebridge.kit.access import authorize
from telebridge.kit.db import utcnow
from telebridge.kit.errors import BadInput, DomainError, Forbidden, NotFound, TooLarge
from telebridge.kit.i18n import N_
from telebridge.kit.subject import Subject
from telebridge.patients import service as patients
from telebridge.patients.policy import ReadBasis

OBJECT = "clinical_file"
CONTEXT_TYPES = frozenset({"patient", "consultation", "imaging_study", "auscultation"})
UPLOAD_DENIED = N_("Only clinicians caring for this patient may add files to the record.")


class Damaged(DomainError):
    status = 500
    code = "integrity"


class StorageDown(DomainError):
    status = 503
    code = "storage_unavailable"


DAMAGED = N_("This file failed its integrity check and cannot be shown. The incident has been logged.")
STORAGE_DOWN = N_("File storage is unreachable at the moment. Nothing was lost; please try again shortly.")


def retention_until(created: datetime, years: int) -> date:
    """Retention counts from the end of the year (Vietnam time) the record is made."""
    year = created.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).year
    return date(year + years, 12, 31)


def limit_bytes(settings: object, kind: str) -> int:
    return int(settings.files_max_mb[kind]) * 1024 * 1024


def max_upload_bytes(settings: object) -> int:
    return max(int(v) for v in settings.files_max_mb.values()) * 1024 * 1024


def check_size(settings: object, kind: str | None, size: int) -> None:
    if size <= 0:
        raise Unprocessable(N_("The file is empty."))
    limit = limit_bytes(settings, kind) if kind else max_upload_bytes(settings)
    if size > limit:
        raise TooLarge(N_("The file is too large: at most {mb} MB for this type."), mb=limit // (1024 * 1024))


def check_context(context_type: str | None, context_id: uuid.UUID | None) -> None:
    if context_type is None and context_id is None:
        return
    if context_type not in CONTEXT_TYPES or context_id is None:
        raise BadInput(N_("Unknown attachment context."), field="context_type")


async def writable_patient(db: AsyncSession, subject: Subject, patient_id: uuid.UUID) -> ReadBasis:
    access, basis = await patients.readable(db, subject, patient_id)
    authorize(access.patient.status == "active" and policy.can_upload(subject, basis), action="create",
              object_type=OBJECT, patient_id=patient_id, message=UPLOAD_DENIED)
    return basis


@dataclass
class _Checked:
    kind: str
    sha256: str
    size: int


async def _inspect(rt: Runtime, *, filename: str, declared_type: str | None, size: int, head: bytes,
                   source: blobs.Source, allowed_kinds: frozenset[str] | None) -> _Checked:
    """Type, limits, text encoding, virus scan and content hash, in one pass over the content."""
    check_size(rt.settings, None, size)
    kind = sniff(head)
    if allowed_kinds is not None and kind not in allowed_kinds:
        raise UnsupportedType(N_("This kind of file ({actual}) cannot be attached here."),
                              actual=KINDS[kind].media_type)
    check_name(filename, declared_type, kind)
    check_size(rt.settings, kind, size)
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")() if kind == "text" else None
    counted = 0

    async def hashed() -> AsyncIterator[bytes]:
        nonlocal counted
        async for chunk in source():
            digest.update(chunk)
            counted += len(chunk)
            if decoder is not None:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    raise Unprocessable(N_("A text file must be UTF-8 encoded.")) from None
                if b"\x00" in chunk:
                    raise Unprocessable(N_("A text file must be UTF-8 encoded."))
            yield chunk

    found = await rt.scanner.scan(hashed())
    if found:
        raise Infected(N_("The virus scanner refused this file ({threat})."), threat=found)
    if decoder is not None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise Unprocessable(N_("A text file must be UTF-8 encoded.")) from None
    if counted != size:
        raise Unprocessable(N_("The file changed while it was being stored; please send it again."))
    return _Checked(kind, digest.hexdigest(), size)


async def ingest(db: AsyncSession, subject: Subject, *, patient_id: uuid.UUID, filename: str, size: int, head: bytes,
                 source: blobs.Source, declared_type: str | None = None, context_type: str | None = None,
                 context_id: uuid.UUID | None = None, allowed_kinds: frozenset[str] | None = None,
                 rt: Runtime | None = None) -> ClinicalFile:
    """Check, encrypt and store content that the caller may write for ``patient_id``."""
    rt = rt or get_runtime()
    name = clean_filename(filename)
    check_context(context_type, context_id)
    checked = await _inspect(rt, filename=name, declared_type=declared_type, size=size, head=head, source=source,
                             allowed_kinds=allowed_kinds)
    try:
        blob = await blobs.put(db, rt, source=source, size=checked.size, sha256=checked.sha256)
    except storage.StorageUnavailable:
        raise StorageDown(STORAGE_DOWN) from None
    now = utcnow()
    kind = KINDS[checked.kind]
    file = ClinicalFile(
        patient_id=patient_id, blob_id=blob.id, context_type=context_type, context_id=context_id, kind=kind.name,
        media_type=kind.media_type, filename=name, size=checked.size, sha256=checked.sha256, created_at=now,
        uploaded_by=subject.user_id, retention_until=retention_until(now, rt.settings.files_retention_years),
        preview_status="pending" if kind.name in PREVIEWABLE else "none",
    )
    db.add(file)
    await db.flush()
    audit.record(db, subject, action="create", object_type=OBJECT, object_id=file.id, patient_id=patient_id,
                 detail={"kind": kind.name, "size": checked.size, "context_type": context_type,
                         "context_id": str(context_id) if context_id else None})
    if file.preview_status == "pending":
        jobs.enqueue_after_commit(db, rt.jobs_for(db), "files.preview", {"file_id": str(file.id)})
    return file


PREVIEWABLE = frozenset(tasks.RENDERERS)


async def _bytes_source(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), blobs.READ):
        yield data[i:i + blobs.READ]


async def store_bytes(db: AsyncSession, subject: Subject, *, patient_id: uuid.UUID, data: bytes, filename: str,
                      context_type: str | None = None, context_id: uuid.UUID | None = None,
                      allowed_kinds: frozenset[str] | None = None) -> ClinicalFile:
    """Store ``data`` as a clinical file of the patient (see the module docstring)."""
    await writable_patient(db, subject, patient_id)
    return await ingest(db, subject, patient_id=patient_id, filename=filename, size=len(data), head=data[:HEAD],
                        source=lambda: _bytes_source(data), context_type=context_type, context_id=context_id,
                        allowed_kinds=allowed_kinds)


# --------------------------------------------------------------------------- reading

async def readable(db: AsyncSession, subject: Subject, file_id: uuid.UUID) -> tuple[ClinicalFile, ReadBasis]:
    """The file, if ``subject`` may read its patient's record (404 / audited 403 otherwise)."""
    file = await repo.get_file(db, file_id)
    if file is None or file.destroyed_at is not None:
        raise NotFound(N_("No such file."))
    try:
        _access, basis = await patients.readable(db, subject, file.patient_id)
    except Forbidden as exc:
        exc.audit = {"action": "read", "object_type": OBJECT, "object_id": str(file_id),  # type: ignore[attr-defined]
                     "patient_id": file.patient_id}
        raise
    return file, basis


def audit_read(db: AsyncSession, subject: Subject, file: ClinicalFile, basis: ReadBasis, action: str = "read") -> None:
    audit.record(db, subject, action=action, object_type=OBJECT, object_id=file.id, patient_id=file.patient_id,
                 break_glass=basis == ReadBasis.BREAK_GLASS, detail={"kind": file.kind})


async def _blob(db: AsyncSession, blob_id: uuid.UUID):  # type: ignore[no-untyped-def]
    blob = await repo.get_blob(db, blob_id)
    if blob is None:
        raise NotFound(N_("No such file."))
    return blob


async def read_bytes(db: AsyncSession, subject: Subject, *, file_id: uuid.UUID) -> tuple[ClinicalFile, bytes]:
    """The file's content, integrity verified; the read is audited."""
    file, basis = await readable(db, subject, file_id)
    rt = get_runtime()
    blob = await _blob(db, file.blob_id)
    audit_read(db, subject, file, basis)
    try:
        data = await blobs.read_all(rt, blob)
    except crypto.IntegrityError:
        raise Damaged(DAMAGED) from None
    except (storage.ObjectMissing, storage.StorageUnavailable):
        raise StorageDown(STORAGE_DOWN) from None
    return file, data


async def open_content(db: AsyncSession, subject: Subject, *, file_id: uuid.UUID,
                       preview: bool = False) -> tuple[ClinicalFile, AsyncIterator[bytes]]:
    """A streamed, authenticated read for downloads (the first chunk is checked before returning)."""
    file, basis = await readable(db, subject, file_id)
    if preview and file.preview_blob_id is None:
        raise NotFound(N_("This file has no preview."))
    blob = await _blob(db, file.preview_blob_id if preview else file.blob_id)
    audit_read(db, subject, file, basis, action="preview" if preview else "download")
    rt = get_runtime()
    try:
        stream = blobs.open_stream(rt, blob)
        first = await anext(stream, b"")
    except crypto.IntegrityError:
        raise Damaged(DAMAGED) from None
    except (storage.ObjectMissing, storage.StorageUnavailable):
        raise StorageDown(STORAGE_DOWN) from None

    async def body() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in stream:  # a later altered chunk aborts the response (the client sees a cut)
            yield chunk

    return file, body()


@dataclass
class Opened:
    """A file whose read is authorised (and audited, unless the caller audits its use itself), to
    be read later without the database: a streamed answer outlives the request's session. Each
    :meth:`chunks` reads it again from the object store; every chunk is authenticated before it is
    released and the whole content is checked against its hash at the end, so a consumer that only
    closes a part once the iteration has ended never presents damaged content as whole."""

    file: ClinicalFile
    sha256: str
    _key: bytes
    _object_key: str
    _rt: Runtime

    async def chunks(self) -> AsyncIterator[bytes]:
        digest = hashlib.sha256()
        stream = crypto.decrypt_stream(self._key, self._rt.store.get(self._object_key))
        try:
            async for chunk in stream:
                digest.update(chunk)
                yield chunk
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        if digest.hexdigest() != self.sha256:
            raise crypto.IntegrityError("the content does not match its hash")


async def open_later(db: AsyncSession, subject: Subject, *, file_id: uuid.UUID, audit: bool = True) -> Opened:
    """:func:`read_bytes` in two steps: the checks and the audit record now, the reading later
    (:meth:`Opened.chunks`, which needs no session)."""
    file, basis = await readable(db, subject, file_id)
    rt = get_runtime()
    blob = await _blob(db, file.blob_id)
    if audit:
        audit_read(db, subject, file, basis)
    try:
        key = blobs.data_key(rt, blob)
    except crypto.IntegrityError:
        raise Damaged(DAMAGED) from None
    return Opened(file, blob.sha256, key, blob.object_key, rt)


async def list_for_patient(db: AsyncSession, subject: Subject, *, patient_id: uuid.UUID) -> list[ClinicalFile]:
    _access, basis = await patients.readable(db, subject, patient_id)
    files = await repo.for_patient(db, patient_id)
    audit.record(db, subject, action="list", object_type=OBJECT, patient_id=patient_id,
                 break_glass=basis == ReadBasis.BREAK_GLASS, detail={"results": len(files)})
    return files


async def list_for_context(db: AsyncSession, subject: Subject, *, context_type: str,
                           context_id: uuid.UUID) -> list[ClinicalFile]:
    """The files attached to a context, each one's patient readable by ``subject`` (others left out)."""
    files = await repo.for_context(db, context_type, context_id)
    allowed: dict[uuid.UUID, ReadBasis | None] = {}
    out = []
    for f in files:
        if f.patient_id not in allowed:
            try:
                allowed[f.patient_id] = (await patients.readable(db, subject, f.patient_id))[1]
            except (Forbidden, NotFound):
                allowed[f.patient_id] = None
        basis = allowed[f.patient_id]
        if basis is not None:
            out.append(f)
    for patient_id, basis in allowed.items():
        if basis is not None:
            audit.record(db, subject, action="list", object_type=OBJECT, patient_id=patient_id,
                         break_glass=basis == ReadBasis.BREAK_GLASS,
                         detail={"context_type": context_type, "context_id": str(context_id)})
    return out


# --------------------------------------------------------------------------- signed URLs

def _signature(secret: str, *parts: str) -> str:
    mac = hmac.new(secret.encode(), "\x1f".join(parts).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")


def signed_url(file_id: uuid.UUID, user_id: uuid.UUID, *, what: str = "content", now: float | None = None) -> str:
    """A URL valid for a few minutes, for this user only (access is checked again when used)."""
    settings = get_runtime().settings
    exp = int((now or time.time()) + settings.download_url_seconds)
    sig = _signature(settings.secret_key, what, str(file_id), str(user_id), str(exp))
    return f"/files/{file_id}/{what}?u={user_id}&exp={exp}&sig={sig}"


def verify_signature(file_id: uuid.UUID, what: str, user_id: uuid.UUID, exp: int, sig: str,
                     now: float | None = None) -> None:
    settings = get_runtime().settings
    expected = _signature(settings.secret_key, what, str(file_id), str(user_id), str(exp))
    if not hmac.compare_digest(expected, sig):
        raise Forbidden(N_("This download link is not valid."), code="bad_signature")
    if exp < (now or time.time()):
        raise Forbidden(N_("This download link has expired; open the file again from the record."), code="expired_link")

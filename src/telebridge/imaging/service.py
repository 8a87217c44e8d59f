"""Imaging rules: ingest DICOM (original kept untouched as a clinical file, then indexed), read
and render through the patient relationship, exchange studies with a PACS. Never commits;
every read and write is audited.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydicom.dataset import Dataset
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.config import get_settings
from telebridge.files import blobs
from telebridge.files import service as files
from telebridge.files.models import ClinicalFile
from telebridge.files.runtime import get_runtime
from telebridge.files.sniff import HEAD
from telebridge.files.uploads import request_spool_dir
from telebridge.imaging import dicom, policy
from telebridge.imaging import repository as repo
from telebridge.imaging.dicomweb import DicomWebClient, tag_value
from telebridge.imaging.models import ImagingInstance, ImagingSeries, ImagingStudy
from telebridge.kit import audit, crypto, storage
from telebridge.kit.access import authorize
from telebridge.kit.errors import BadInput, DomainError, Forbidden, NotFound, TooLarge
from telebridge.kit.i18n import N_
from telebridge.kit.subject import Subject
from telebridge.patients import service as patients
from telebridge.patients.policy import ReadBasis

STUDY = "imaging_study"
INSTANCE = "imaging_instance"
DICOM_ONLY = frozenset({"dicom"})
CONTEXT_TYPES = frozenset({"patient", "consultation"})
INLINE_RENDER_PIXELS = 320 * 256  # small frames (ultrasound cine) render on the event loop
RENDERED_FRAMES = 4096  # at most this many rendered frames kept in memory
RENDERER = "1"  # part of every rendered frame's ETag: bump when rendering changes its output
NO_STUDY = N_("No such imaging study.")
NO_INSTANCE = N_("No such image.")
ADD_DENIED = N_("Only clinicians caring for this patient may add images to the record.")
PACS_DENIED = N_("Only clinicians may search or use the image archive (PACS).")
PUSH_DENIED = N_("Only clinicians of a facility caring for this patient may send their images to a PACS.")
WRONG_CONSULTATION = N_("This consultation is about another patient.")
WRONG_STUDY = N_("The image archive sent images of another study; nothing was imported.")
NOT_A_DICOM_FILE = N_("This file is not a DICOM image.")
PULL_MAX = 1 << 50  # a study pulled from the PACS: each instance is limited, not their number


class SyntaxNotOffered(DomainError):
    status = 406
    code = "transfer_syntax_not_offered"


SYNTAX_NOT_OFFERED = N_("This transfer syntax is not offered: ask for the original or for Explicit VR Little Endian "
                        "(1.2.840.10008.1.2.1).")


class PacsNotConfigured(DomainError):
    status = 409
    code = "pacs_not_configured"


@dataclass
class Ingested:
    study: ImagingStudy
    series: ImagingSeries
    instance: ImagingInstance
    created: bool


# --------------------------------------------------------------------------- caches

V = TypeVar("V")


class _Lru(Generic[V]):
    """Least recently used values, bounded by count and by size in bytes (limits read at each
    put). Holds no access decision: every use is authorised and audited by the caller."""

    def __init__(self, limits: Callable[[], tuple[int, int]]) -> None:
        self._limits = limits
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0

    def get(self, key: Hashable) -> V | None:
        found = self._items.get(key)
        if found is None:
            return None
        self._items.move_to_end(key)
        return found[0]

    def put(self, key: Hashable, value: V, size: int) -> None:
        count, budget = self._limits()
        if size > budget or key in self._items:
            return
        self._items[key] = (value, size)
        self._bytes += size
        while len(self._items) > max(1, count) or self._bytes > budget:
            _key, (_value, old) = self._items.popitem(last=False)
            self._bytes -= old

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0


def _dataset_limits() -> tuple[int, int]:
    """``imaging_cache_instances`` parsed instances, ``imaging_cache_mb`` of their files."""
    settings = get_settings()
    return settings.imaging_cache_instances, settings.imaging_cache_mb * 1024 * 1024


def _frame_limits() -> tuple[int, int]:
    """Rendered frames (a few kB to a few hundred kB each): a quarter of the imaging budget."""
    return RENDERED_FRAMES, get_settings().imaging_cache_mb * 1024 * 1024 // 4


# Parsed instances by content hash: playing a cine loop decodes each frame without decrypting and
# parsing the whole file again. Rendered frames by content hash and rendering parameters.
datasets: _Lru[Dataset] = _Lru(_dataset_limits)
frames: _Lru[bytes] = _Lru(_frame_limits)


def clear_caches() -> None:
    datasets.clear()
    frames.clear()


# --------------------------------------------------------------------------- ingest

async def _check_context(db: AsyncSession, subject: Subject, patient_id: uuid.UUID, context_type: str | None,
                         context_id: uuid.UUID | None) -> None:
    if context_type is None and context_id is None:
        return
    if context_type not in CONTEXT_TYPES or context_id is None:
        raise BadInput(N_("Unknown attachment context."), field="context_type")
    if context_type == "consultation":
        from telebridge.consultations import service as consultations

        c = await consultations.readable(db, subject, context_id)
        if c.patient_id != patient_id:
            raise BadInput(WRONG_CONSULTATION, field="context_id")
    elif context_id != patient_id:
        raise BadInput(WRONG_CONSULTATION, field="context_id")


async def may_add(db: AsyncSession, subject: Subject, patient_id: uuid.UUID, context_type: str | None,
                   context_id: uuid.UUID | None) -> None:
    access, basis = await patients.readable(db, subject, patient_id)
    authorize(access.patient.status == "active" and policy.can_add(subject, basis), action="create",
              object_type=STUDY, patient_id=patient_id, message=ADD_DENIED)
    await _check_context(db, subject, patient_id, context_type, context_id)


@dataclass
class Content:
    """An instance's bytes read as a stream (from a temporary spool): ``source()`` opens them again."""

    size: int
    source: blobs.Source


async def _index(db: AsyncSession, subject: Subject, *, patient_id: uuid.UUID, info: dicom.DicomInfo,
                 file: ClinicalFile | None, data: bytes | None, filename: str | None, context_type: str | None,
                 context_id: uuid.UUID | None, source: str, content: Content | None = None) -> Ingested:
    study = await repo.study_by_uid(db, patient_id, info.study_uid)
    if study is None:
        study = ImagingStudy(
            patient_id=patient_id, context_type=context_type, context_id=context_id, study_uid=info.study_uid,
            accession_number=info.accession_number, study_date=info.study_date,
            study_description=info.study_description, modalities="", dicom_patient_name=info.patient_name,
            dicom_patient_id=info.patient_id, dicom_birth_date=info.patient_birth_date, dicom_sex=info.patient_sex,
            source=source, created_by=subject.user_id)
        db.add(study)
        await db.flush()
    series = await repo.series_by_uid(db, study.id, info.series_uid)
    if series is None:
        series = ImagingSeries(study_id=study.id, series_uid=info.series_uid, modality=info.modality,
                               series_number=info.series_number, series_description=info.series_description)
        db.add(series)
        await db.flush()
    existing = await repo.instance_by_uid(db, series.id, info.sop_uid)
    if existing is not None:  # the same instance again (a retried upload, a second pull): nothing new
        return Ingested(study, series, existing, created=False)
    if file is None and content is not None:  # streamed: hashed, scanned, encrypted and stored chunk by chunk
        await files.writable_patient(db, subject, patient_id)
        head = await blobs.head_of(content.source, HEAD)
        file = await files.ingest(db, subject, patient_id=patient_id, filename=filename or f"{info.sop_uid}.dcm",
                                  size=content.size, head=head, source=content.source, context_type=context_type,
                                  context_id=context_id, allowed_kinds=DICOM_ONLY)
    if file is None:
        assert data is not None
        file = await files.store_bytes(db, subject, patient_id=patient_id, data=data,
                                       filename=filename or f"{info.sop_uid}.dcm", context_type=context_type,
                                       context_id=context_id, allowed_kinds=DICOM_ONLY)
    instance = ImagingInstance(
        series_id=series.id, sop_uid=info.sop_uid, sop_class_uid=info.sop_class_uid,
        transfer_syntax_uid=info.transfer_syntax_uid, instance_number=info.instance_number,
        number_of_frames=info.number_of_frames, rows=info.rows, columns=info.columns, file_id=file.id)
    db.add(instance)
    if info.modality and info.modality not in study.modalities.split(","):
        study.modalities = ",".join(sorted(filter(None, [*study.modalities.split(","), info.modality])))[:64]
    await db.flush()
    audit.record(db, subject, action="create", object_type=INSTANCE, object_id=instance.id, patient_id=patient_id,
                 detail={"study_id": str(study.id), "source": source, "frames": info.number_of_frames,
                         "modality": info.modality})
    return Ingested(study, series, instance, created=True)


async def ingest(db: AsyncSession, subject: Subject, *, patient_id: uuid.UUID, data: bytes,
                 filename: str | None = None, context_type: str | None = None, context_id: uuid.UUID | None = None,
                 source: str = "upload") -> Ingested:
    """Check, store untouched (encrypted, via the files domain) and index one DICOM instance."""
    info = dicom.parse(data)  # 415 / 422 before anything is stored
    await may_add(db, subject, patient_id, context_type, context_id)
    return await _index(db, subject, patient_id=patient_id, info=info, file=None, data=data, filename=filename,
                        context_type=context_type, context_id=context_id, source=source)


async def _parse_stream(source: blobs.Source) -> dicom.DicomInfo:
    """:func:`dicom.parse` of an instance read as a stream (only its header held in memory)."""
    parser = dicom.StreamParser()
    chunks = source()
    try:
        async for chunk in chunks:
            parser.feed(chunk)
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    return parser.finish()


async def ingest_stream(db: AsyncSession, subject: Subject, *, patient_id: uuid.UUID, content: Content,
                        filename: str | None = None, context_type: str | None = None,
                        context_id: uuid.UUID | None = None, source: str = "upload") -> Ingested:
    """:func:`ingest` for an instance read as a stream (a request body spooled to disk): checked with
    :class:`dicom.StreamParser`, then stored through the files domain chunk by chunk; only its
    header is held in memory. The caller has checked :func:`may_add` before reading the body."""
    info = await _parse_stream(content.source)  # 415 / 422 before anything is stored
    await may_add(db, subject, patient_id, context_type, context_id)  # still allowed?
    return await _index(db, subject, patient_id=patient_id, info=info, file=None, data=None, filename=filename,
                        context_type=context_type, context_id=context_id, source=source, content=content)


async def ingest_file(db: AsyncSession, subject: Subject, *, file_id: uuid.UUID) -> Ingested:
    """Index a DICOM file already stored by the files domain (e.g. a resumable browser upload of
    several GB): the file is read as a stream, only its header held in memory."""
    file, chunks = await files.open_content(db, subject, file_id=file_id)
    parser = dicom.StreamParser()
    ctype = file.context_type if file.context_type in CONTEXT_TYPES else None
    cid = file.context_id if ctype else None
    try:
        if file.kind != "dicom":
            raise dicom.NotDicom(NOT_A_DICOM_FILE)
        await may_add(db, subject, file.patient_id, ctype, cid)  # before reading gigabytes
        async for chunk in chunks:
            parser.feed(chunk)
    except crypto.IntegrityError:
        raise files.Damaged(files.DAMAGED) from None
    except (storage.ObjectMissing, storage.StorageUnavailable):
        raise files.StorageDown(files.STORAGE_DOWN) from None
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    info = parser.finish()
    return await _index(db, subject, patient_id=file.patient_id, info=info, file=file, data=None,
                        filename=file.filename, context_type=ctype, context_id=cid, source="upload")


# --------------------------------------------------------------------------- reading

async def _readable_patient(db: AsyncSession, subject: Subject, patient_id: uuid.UUID, *, object_type: str,
                            object_id: Any) -> ReadBasis:
    try:
        return (await patients.readable(db, subject, patient_id))[1]
    except Forbidden as exc:
        exc.audit = {"action": "read", "object_type": object_type, "object_id": str(object_id),  # type: ignore[attr-defined]
                     "patient_id": patient_id}
        raise


async def readable_study(db: AsyncSession, subject: Subject, study_id: uuid.UUID) -> tuple[ImagingStudy, ReadBasis]:
    study = await repo.get_study(db, study_id)
    if study is None:
        raise NotFound(NO_STUDY)
    return study, await _readable_patient(db, subject, study.patient_id, object_type=STUDY, object_id=study.id)


@dataclass
class StudyTree:
    study: ImagingStudy
    series: list[tuple[ImagingSeries, list[ImagingInstance]]]
    basis: ReadBasis


async def study_tree(db: AsyncSession, subject: Subject, *, study_id: uuid.UUID) -> StudyTree:
    """A study with its series and instances; the read is audited."""
    study, basis = await readable_study(db, subject, study_id)
    series = await repo.series_of(db, study.id)
    instances = await repo.instances_of(db, [s.id for s in series])
    audit.record(db, subject, action="read", object_type=STUDY, object_id=study.id, patient_id=study.patient_id,
                 break_glass=basis == ReadBasis.BREAK_GLASS)
    return StudyTree(study, [(s, [i for i in instances if i.series_id == s.id]) for s in series], basis)


def _audit_list(db: AsyncSession, subject: Subject, studies: list[ImagingStudy], **detail: str) -> None:
    for patient_id in sorted({s.patient_id for s in studies}, key=str):
        audit.record(db, subject, action="list", object_type=STUDY, patient_id=patient_id,
                     break_glass=patient_id in subject.break_glass_patient_ids,
                     detail={**detail, "results": sum(1 for s in studies if s.patient_id == patient_id)})


async def studies_for_patient(db: AsyncSession, subject: Subject, *, patient_id: uuid.UUID) -> list[ImagingStudy]:
    await _readable_patient(db, subject, patient_id, object_type=STUDY, object_id=None)
    studies = await repo.search_studies(db, subject, repo.StudyFilter(patient_id=patient_id))
    _audit_list(db, subject, studies)
    return studies


async def studies_for_consultation(db: AsyncSession, subject: Subject, *,
                                   consultation_id: uuid.UUID) -> list[ImagingStudy]:
    from telebridge.consultations import service as consultations

    await consultations.readable(db, subject, consultation_id)
    studies = await repo.search_studies(db, subject, repo.StudyFilter(context_type="consultation",
                                                                      context_id=consultation_id))
    _audit_list(db, subject, studies, consultation_id=str(consultation_id))
    return studies


async def search(db: AsyncSession, subject: Subject, f: repo.StudyFilter, *, offset: int = 0,
                 limit: int = 100) -> list[ImagingStudy]:
    """Studies the subject may read (QIDO-RS); every patient whose studies are returned is audited."""
    studies = await repo.search_studies(db, subject, f, offset=offset, limit=limit)
    _audit_list(db, subject, studies, via="search")
    return studies


@dataclass
class Located:
    instance: ImagingInstance
    series: ImagingSeries
    study: ImagingStudy
    file: repo.FileRef  # the clinical file holding the original: its id and content hash
    basis: ReadBasis


async def locate(db: AsyncSession, subject: Subject, *, study_uid: str, series_uid: str | None,
                 sop_uid: str) -> Located:
    found = await repo.find_instance(db, subject, study_uid, series_uid, sop_uid)
    if found is None:
        raise NotFound(NO_INSTANCE)
    instance, series, study, file = found
    # The scoped query proved the subject may read the patient; only say on which basis.
    if study.patient_id in subject.break_glass_patient_ids or subject.patient_id == study.patient_id:
        basis = await _readable_patient(db, subject, study.patient_id, object_type=INSTANCE, object_id=instance.id)
    else:
        basis = ReadBasis.RELATIONSHIP
    return Located(instance, series, study, file, basis)


async def locate_by_id(db: AsyncSession, subject: Subject, *, instance_id: uuid.UUID) -> Located:
    found = await repo.get_instance(db, instance_id)
    if found is None:
        raise NotFound(NO_INSTANCE)
    instance, series, study = found
    await _readable_patient(db, subject, study.patient_id, object_type=INSTANCE, object_id=instance.id)
    file, basis = await files.readable(db, subject, instance.file_id)
    return Located(instance, series, study, repo.FileRef(file.id, file.sha256), basis)


async def instance_bytes(db: AsyncSession, subject: Subject, located: Located, *,
                         transfer_syntax: str | None = None) -> bytes:
    """The untouched original (integrity checked; the files domain audits the read) or, when
    ``transfer_syntax`` asks for Explicit VR Little Endian, a decompressed copy (audited here)."""
    if transfer_syntax in (None, "*", located.instance.transfer_syntax_uid):
        _file, data = await files.read_bytes(db, subject, file_id=located.file.id)
        return data
    if transfer_syntax != dicom.EXPLICIT_LE:
        raise SyntaxNotOffered(SYNTAX_NOT_OFFERED)
    ds = await dataset(db, subject, located, action="read", detail={"transfer_syntax": transfer_syntax})
    return await asyncio.to_thread(dicom.decompressed, ds)


class Retrieval:
    """One instance of a WADO-RS answer, authorised and audited by :func:`retrievals`, read once
    the request's session is gone: the original chunk by chunk from storage (decrypted, every
    chunk authenticated, the whole checked against its hash), or a decompressed copy made in
    memory (one instance at a time)."""

    def __init__(self, opened: files.Opened, decompress: bool) -> None:
        self._opened = opened
        self._decompress = decompress
        self._stream: AsyncIterator[bytes] | None = None
        self._first = b""

    async def _decompressed(self) -> AsyncIterator[bytes]:
        ds = datasets.get(self._opened.sha256)
        if ds is None:
            data = b"".join([c async for c in self._opened.chunks()])
            ds = await asyncio.to_thread(dicom.read, data)
            datasets.put(self._opened.sha256, ds, len(data))
            del data
        out = await asyncio.to_thread(dicom.decompressed, ds)
        for at in range(0, len(out), blobs.READ):
            yield out[at:at + blobs.READ]

    async def open(self) -> None:
        """Start reading: the first chunk is checked now, while a failure can still be an answer
        (500 for a failed integrity check, 503 when storage is unreachable)."""
        self._stream = self._decompressed() if self._decompress else self._opened.chunks()
        try:
            self._first = await anext(self._stream, b"")
        except crypto.IntegrityError:
            raise files.Damaged(files.DAMAGED) from None
        except (storage.ObjectMissing, storage.StorageUnavailable):
            raise files.StorageDown(files.STORAGE_DOWN) from None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The instance's bytes; a later failure raises (the streamed answer is then cut short)."""
        if self._stream is None:
            await self.open()
        assert self._stream is not None
        try:
            if self._first:
                yield self._first
                self._first = b""
            async for chunk in self._stream:
                yield chunk
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._stream is not None:
            await self._stream.aclose()  # type: ignore[attr-defined]


async def retrievals(db: AsyncSession, subject: Subject, located: list[Located], *,
                     transfer_syntax: str | None = None) -> list[Retrieval]:
    """:func:`instance_bytes` of each instance in two steps: every check and audit record now (the
    same records), the reading later through :meth:`Retrieval.chunks`, without the session."""
    out = []
    for one in located:
        if transfer_syntax in (None, "*", one.instance.transfer_syntax_uid):
            out.append(Retrieval(await files.open_later(db, subject, file_id=one.file.id), decompress=False))
            continue
        if transfer_syntax != dicom.EXPLICIT_LE:
            raise SyntaxNotOffered(SYNTAX_NOT_OFFERED)
        # As :func:`dataset`: the file read is audited when the parsed instance is not cached.
        cached = datasets.get(one.file.sha256) is not None
        opened = await files.open_later(db, subject, file_id=one.file.id, audit=not cached)
        _audit_use(db, subject, one, action="read", detail={"transfer_syntax": transfer_syntax})
        out.append(Retrieval(opened, decompress=True))
    return out


async def bulk_data(db: AsyncSession, subject: Subject, located: Located, *, tag: int) -> tuple[list[bytes], str]:
    """A bulk data element of the instance (WADO-RS BulkDataURI); the read is audited."""
    ds = await dataset(db, subject, located, action="read", detail={"bulk": f"{tag:08X}"})
    return dicom.bulk_parts(ds, tag)


@dataclass
class ViewerSeries:
    """What the browser viewer loads for one series: its instances, either the untouched
    originals (the viewer decodes every syntax they use) or decompressed copies."""

    study: ImagingStudy
    series: ImagingSeries
    instances: list[ImagingInstance]
    decompress: bool


async def viewer_series(db: AsyncSession, subject: Subject, *, study_id: uuid.UUID,
                        series_id: uuid.UUID) -> ViewerSeries:
    tree = await study_tree(db, subject, study_id=study_id)  # the read is audited there
    for series, instances in tree.series:
        if series.id == series_id and instances:
            decompress = any(i.transfer_syntax_uid not in dicom.VIEWER_SYNTAXES for i in instances)
            return ViewerSeries(tree.study, series, instances, decompress)
    raise NotFound(NO_INSTANCE)


async def dataset(db: AsyncSession, subject: Subject, located: Located, *, action: str,
                  detail: dict[str, Any] | None = None) -> Dataset:
    """The parsed instance (from the cache when warm); the use is audited either way."""
    ds = datasets.get(located.file.sha256)
    if ds is None:
        data = await instance_bytes(db, subject, located)
        ds = await asyncio.to_thread(dicom.read, data)
        datasets.put(located.file.sha256, ds, len(data))
    _audit_use(db, subject, located, action=action, detail=detail)
    return ds


def _audit_use(db: AsyncSession, subject: Subject, located: Located, *, action: str,
               detail: dict[str, Any] | None) -> None:
    audit.record(db, subject, action=action, object_type=INSTANCE, object_id=located.instance.id,
                 patient_id=located.study.patient_id, break_glass=located.basis == ReadBasis.BREAK_GLASS,
                 detail=detail)


@dataclass(frozen=True)
class Rendered:
    etag: str  # strong validator: the same file, frame and parameters render the same bytes
    data: bytes | None  # None when the caller's copy (If-None-Match) is current


async def rendered(db: AsyncSession, subject: Subject, located: Located, *, frame: int, fmt: str = "jpeg",
                   window: dicom.Window | None = None, quality: int = 90,
                   if_none_match: str | None = None) -> Rendered:
    """One frame rendered (or from the cache, or not at all when the caller has it: ``if_none_match``);
    the use is audited in every case."""
    count = located.instance.number_of_frames
    if not 1 <= frame <= count:
        raise NotFound(dicom.NO_FRAME, frame=frame, frames=count)
    key = (located.file.sha256, frame, fmt, window, quality if fmt == "jpeg" else None)
    etag = '"' + hashlib.sha256(repr((RENDERER, *key)).encode()).hexdigest()[:32] + '"'
    current = etag in (if_none_match or "")
    data = None if current else frames.get(key)
    if current or data is not None:
        _audit_use(db, subject, located, action="render", detail={"frame": frame})
        return Rendered(etag, data)
    ds = await dataset(db, subject, located, action="render", detail={"frame": frame})
    pixels = (located.instance.rows or 0) * (located.instance.columns or 0)
    if 0 < pixels <= INLINE_RENDER_PIXELS:  # about a millisecond: cheaper than a thread hand-off
        data = dicom.render_frame(ds, frame, fmt=fmt, window=window, quality=quality)
    else:
        data = await asyncio.to_thread(dicom.render_frame, ds, frame, fmt=fmt, window=window, quality=quality)
    frames.put(key, data, len(data))
    return Rendered(etag, data)


async def render(db: AsyncSession, subject: Subject, located: Located, *, frame: int, fmt: str = "jpeg",
                 window: dicom.Window | None = None, quality: int = 90) -> bytes:
    got = await rendered(db, subject, located, frame=frame, fmt=fmt, window=window, quality=quality)
    assert got.data is not None
    return got.data


async def teaching_copy(db: AsyncSession, subject: Subject, *, instance_id: uuid.UUID,
                        salt: str | None = None) -> dicom.Deidentified:
    """A de-identified copy for teaching material (to be reviewed before publication)."""
    located = await locate_by_id(db, subject, instance_id=instance_id)
    authorize(policy.can_push(subject, located.basis), action="deidentify", object_type=INSTANCE,
              object_id=instance_id, patient_id=located.study.patient_id, message=PUSH_DENIED)
    data = await instance_bytes(db, subject, located)
    result = await asyncio.to_thread(dicom.deidentify, data, salt=salt or uuid.uuid4().hex)
    audit.record(db, subject, action="deidentify", object_type=INSTANCE, object_id=instance_id,
                 patient_id=located.study.patient_id, detail={"warnings": len(result.warnings)})
    return result


# --------------------------------------------------------------------------- PACS exchange

def pacs_client(settings: Any = None) -> DicomWebClient:
    settings = settings or get_settings()
    if not settings.pacs_dicomweb_url:
        raise PacsNotConfigured(N_("No image archive (PACS) is configured for this installation."))
    return DicomWebClient(settings.pacs_dicomweb_url, timeout=settings.pacs_timeout_seconds)


@dataclass
class PacsStudy:
    study_uid: str
    patient_name: str | None
    patient_id: str | None
    study_date: str | None
    description: str | None
    modalities: str | None
    accession_number: str | None
    instances: int | None


async def search_pacs(db: AsyncSession, subject: Subject, client: DicomWebClient, *, patient_id: str | None = None,
                      study_uid: str | None = None, accession_number: str | None = None,
                      modality: str | None = None, study_date: str | None = None, limit: int = 50) -> list[PacsStudy]:
    authorize(policy.can_use_pacs(subject), action="search", object_type="pacs", message=PACS_DENIED)
    if not any((patient_id, study_uid, accession_number)):
        raise BadInput(N_("Search the archive by patient ID, study UID or accession number."), field="patient_id")
    found = await client.search_studies(PatientID=patient_id, StudyInstanceUID=study_uid,
                                        AccessionNumber=accession_number, ModalitiesInStudy=modality,
                                        StudyDate=study_date, limit=limit, includefield="00081030")
    audit.record(db, subject, action="search", object_type="pacs", detail={"results": len(found)})

    def text(item: dict[str, Any], tag: str) -> str | None:
        value = tag_value(item, tag)
        return None if value is None else str(value)

    out = []
    for item in found:
        modalities = (item.get("00080061") or {}).get("Value") or []
        count = tag_value(item, "00201208")
        out.append(PacsStudy(
            study_uid=str(tag_value(item, "0020000D")), patient_name=text(item, "00100010"),
            patient_id=text(item, "00100020"), study_date=text(item, "00080020"), description=text(item, "00081030"),
            modalities=",".join(map(str, modalities)) or None, accession_number=text(item, "00080050"),
            instances=int(count) if count not in (None, "") else None))
    return out


async def pull_study(db: AsyncSession, subject: Subject, client: DicomWebClient, *, patient_id: uuid.UUID,
                     study_uid: str, context_type: str | None = None,
                     context_id: uuid.UUID | None = None) -> list[Ingested]:
    """Retrieve a whole study from the PACS (WADO-RS) into the patient's record and, optionally,
    a consultation. Everything is checked before anything is stored; the study is never held in
    memory (each instance is spooled to disk, encrypted, as it arrives)."""
    authorize(policy.can_use_pacs(subject), action="import", object_type="pacs", patient_id=patient_id,
              message=PACS_DENIED)
    await may_add(db, subject, patient_id, context_type, context_id)
    rt = get_runtime()
    limit = files.limit_bytes(rt.settings, "dicom")
    too_large = TooLarge(N_("The file is too large: at most {mb} MB for this type."), mb=limit // (1024 * 1024))
    # Each instance to an encrypted temporary file as it arrives (a study of several GB is never in
    # memory), all of them checked, then stored from there chunk by chunk; the files are gone after.
    async with client.retrieve_study_spooled(study_uid, directory=request_spool_dir(rt),
                                             limit_of=lambda _type: (limit, too_large), total=PULL_MAX) as parts:
        checked = [(await _parse_stream(part.source), Content(part.size, part.source)) for part in parts]
        if not checked or any(info.study_uid != study_uid for info, _ in checked):
            raise BadInput(WRONG_STUDY)
        out = []
        for info, content in checked:
            out.append(await _index(db, subject, patient_id=patient_id, info=info, file=None, data=None,
                                    filename=None, context_type=context_type, context_id=context_id, source="pacs",
                                    content=content))
    audit.record(db, subject, action="import", object_type=STUDY, object_id=out[0].study.id, patient_id=patient_id,
                 detail={"instances": len(out), "new": sum(i.created for i in out)})
    return out


async def push_study(db: AsyncSession, subject: Subject, client: DicomWebClient, *, study_id: uuid.UUID) -> dict[str, int]:
    """Send a study's originals to the PACS (STOW-RS)."""
    tree = await study_tree(db, subject, study_id=study_id)
    authorize(policy.can_push(subject, tree.basis), action="export", object_type=STUDY, object_id=study_id,
              patient_id=tree.study.patient_id, message=PUSH_DENIED)
    originals = []
    for _series, instances in tree.series:
        for instance in instances:
            originals.append((await files.read_bytes(db, subject, file_id=instance.file_id))[1])
    result = await client.store(originals, tree.study.study_uid)
    audit.record(db, subject, action="export", object_type=STUDY, object_id=study_id, patient_id=tree.study.patient_id,
                 detail={"stored": len(result.stored), "failed": len(result.failed)})
    return {"sent": len(originals), "stored": len(result.stored), "failed": len(result.failed)}

"""/api/v1/imaging: add DICOM to a record, list and read studies, exchange with the PACS,
teaching copies. Telebridge's own DICOMweb service is in :mod:`telebridge.imaging.dicomweb_api`."""

from __future__ import annotations

import base64
import uuid
from contextlib import AbstractAsyncContextManager
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.requests import ClientDisconnect

from telebridge.files import service as files
from telebridge.files.runtime import get_runtime
from telebridge.files.uploads import request_spool_dir
from telebridge.identity.deps import ApiSubject, Db
from telebridge.imaging import dicom, multipart, service
from telebridge.imaging.schemas import (
    IngestOut,
    InstanceOut,
    PacsStudyOut,
    PullIn,
    PullOut,
    PushOut,
    SeriesOut,
    StudyDetail,
    StudyOut,
    TeachingCopyOut,
    ViewerInstanceOut,
    ViewerSeriesOut,
)
from telebridge.kit.errors import TooLarge
from telebridge.kit.i18n import N_, gettext

router = APIRouter(prefix="/api/v1/imaging", tags=["imaging"])
UidQuery = Annotated[str | None, Query(max_length=64, pattern=r"^[0-9.]+$")]


def _ingest_out(got: service.Ingested) -> IngestOut:
    return IngestOut(study=StudyOut.model_validate(got.study), instance=InstanceOut.model_validate(got.instance),
                     created=got.created)


def _dicom_limit(settings: object) -> tuple[int, TooLarge]:
    limit = files.limit_bytes(settings, "dicom")
    return limit, TooLarge(N_("The file is too large: at most {mb} MB for this type."), mb=limit // (1024 * 1024))


def spooled_request(request: Request) -> AbstractAsyncContextManager[list[multipart.SpooledPart]]:
    """A STOW-RS body read as it arrives: each DICOM part in an encrypted temporary file, refused
    (413) as soon as it passes the DICOM size limit; the files are removed on leaving."""
    rt = get_runtime()
    dicom_limit = _dicom_limit(rt.settings)
    return multipart.spooled(request.stream(), request.headers.get("content-type", ""), directory=request_spool_dir(rt),
                             total=files.max_upload_bytes(rt.settings), disconnected=ClientDisconnect,
                             limit_of=lambda media_type: dicom_limit if media_type == "application/dicom" else None)


@router.post("/patients/{patient_id}/instances", response_model=IngestOut, status_code=201)
async def upload_instance(patient_id: uuid.UUID, request: Request, subject: ApiSubject, db: Db,
                          consultation_id: uuid.UUID | None = None,
                          filename: Annotated[str | None, Query(max_length=200)] = None) -> IngestOut:
    """Body: one DICOM Part 10 file (``application/dicom``), streamed to an encrypted temporary file
    then stored from there (several GB are fine). The resumable upload API, then
    ``POST /api/v1/imaging/files/{file_id}/index``, survives a dropped connection."""
    context_type = "consultation" if consultation_id else None
    await service.may_add(db, subject, patient_id, context_type, consultation_id)  # before reading the body
    rt = get_runtime()
    limit, too_large = _dicom_limit(rt.settings)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large
    async with multipart.spooled_body(request.stream(), directory=request_spool_dir(rt), limit=limit, too_large=too_large,
                                      disconnected=ClientDisconnect) as body:
        got = await service.ingest_stream(db, subject, patient_id=patient_id, filename=filename,
                                          content=service.Content(body.size, body.source),
                                          context_type=context_type, context_id=consultation_id)
    return _ingest_out(got)


@router.post("/files/{file_id}/index", response_model=IngestOut, status_code=201)
async def index_file(file_id: uuid.UUID, subject: ApiSubject, db: Db) -> IngestOut:
    return _ingest_out(await service.ingest_file(db, subject, file_id=file_id))


@router.get("/patients/{patient_id}/studies", response_model=list[StudyOut])
async def patient_studies(patient_id: uuid.UUID, subject: ApiSubject, db: Db) -> list[StudyOut]:
    return [StudyOut.model_validate(s) for s in await service.studies_for_patient(db, subject, patient_id=patient_id)]


@router.get("/consultations/{consultation_id}/studies", response_model=list[StudyOut])
async def consultation_studies(consultation_id: uuid.UUID, subject: ApiSubject, db: Db) -> list[StudyOut]:
    studies = await service.studies_for_consultation(db, subject, consultation_id=consultation_id)
    return [StudyOut.model_validate(s) for s in studies]


def study_detail(tree: service.StudyTree) -> StudyDetail:
    out = StudyDetail.model_validate(tree.study)
    out.series = [SeriesOut.model_validate(s).model_copy(update={"instances": [InstanceOut.model_validate(i)
                                                                                for i in insts]})
                  for s, insts in tree.series]
    return out


@router.get("/studies/{study_id}", response_model=StudyDetail)
async def read_study(study_id: uuid.UUID, subject: ApiSubject, db: Db) -> StudyDetail:
    return study_detail(await service.study_tree(db, subject, study_id=study_id))


ORIGINAL_ACCEPT = "application/dicom"
DECOMPRESSED_ACCEPT = f'multipart/related; type="application/dicom"; transfer-syntax={dicom.EXPLICIT_LE}'


@router.get("/studies/{study_id}/series/{series_id}/viewer", response_model=ViewerSeriesOut)
async def viewer_series(study_id: uuid.UUID, series_id: uuid.UUID, subject: ApiSubject, db: Db) -> ViewerSeriesOut:
    """The browser viewer's sources: short-lived signed links to the untouched originals or, for a
    syntax the viewer cannot decode (JPEG-LS), WADO-RS with a decompressed transfer syntax."""
    got = await service.viewer_series(db, subject, study_id=study_id, series_id=series_id)
    if got.decompress:
        base = f"/dicomweb/studies/{got.study.study_uid}/series/{got.series.series_uid}/instances/"
        urls = [base + i.sop_uid for i in got.instances]
    else:
        urls = [files.signed_url(i.file_id, subject.user_id, what="content") for i in got.instances]
    accept = DECOMPRESSED_ACCEPT if got.decompress else ORIGINAL_ACCEPT
    return ViewerSeriesOut(series_uid=got.series.series_uid, modality=got.series.modality,
                           decompressed=got.decompress, accept=accept,
                           instances=[ViewerInstanceOut(sop_uid=i.sop_uid, frames=i.number_of_frames, url=url)
                                      for i, url in zip(got.instances, urls, strict=True)])


@router.post("/studies/{study_id}/push", response_model=PushOut)
async def push(study_id: uuid.UUID, request: Request, subject: ApiSubject, db: Db) -> PushOut:
    await service.readable_study(db, subject, study_id)  # refuse before reaching for the PACS
    async with service.pacs_client(request.app.state.settings) as pacs:
        return PushOut(**await service.push_study(db, subject, pacs, study_id=study_id))


@router.get("/pacs/studies", response_model=list[PacsStudyOut])
async def search_pacs(request: Request, subject: ApiSubject, db: Db,
                      patient_id: Annotated[str | None, Query(max_length=64)] = None,
                      study_uid: UidQuery = None, accession_number: Annotated[str | None, Query(max_length=64)] = None,
                      modality: Annotated[str | None, Query(max_length=16, pattern=r"^[A-Z]{2,6}$")] = None,
                      ) -> list[PacsStudyOut]:
    service.authorize(service.policy.can_use_pacs(subject), action="search", object_type="pacs",
                      message=service.PACS_DENIED)
    async with service.pacs_client(request.app.state.settings) as pacs:
        found = await service.search_pacs(db, subject, pacs, patient_id=patient_id, study_uid=study_uid,
                                          accession_number=accession_number, modality=modality)
    return [PacsStudyOut(**vars(s)) for s in found]


@router.post("/pacs/pull", response_model=PullOut, status_code=201)
async def pull(body: PullIn, request: Request, subject: ApiSubject, db: Db) -> PullOut:
    service.authorize(service.policy.can_use_pacs(subject), action="import", object_type="pacs",
                      patient_id=body.patient_id, message=service.PACS_DENIED)
    async with service.pacs_client(request.app.state.settings) as pacs:
        got = await service.pull_study(db, subject, pacs, patient_id=body.patient_id, study_uid=body.study_uid,
                                       context_type="consultation" if body.consultation_id else None,
                                       context_id=body.consultation_id)
    return PullOut(study_id=got[0].study.id, instances=len(got), new=sum(g.created for g in got))


@router.post("/instances/{instance_id}/teaching-copy", response_model=TeachingCopyOut)
async def teaching_copy(instance_id: uuid.UUID, subject: ApiSubject, db: Db) -> TeachingCopyOut:
    copy = await service.teaching_copy(db, subject, instance_id=instance_id)
    return TeachingCopyOut(filename=copy.filename, size=len(copy.data),
                           warnings=[gettext(msg).format(**params) for msg, params in copy.warnings],
                           content_base64=base64.b64encode(copy.data).decode("ascii"))

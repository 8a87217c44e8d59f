"""/api/v1/files: resumable uploads (tus 1.0) and a patient's files (JSON, signed download URLs).

tus: ``OPTIONS /api/v1/files/uploads`` (capabilities), ``POST`` (creation; Upload-Length and
Upload-Metadata with ``patient_id``, ``filename`` and optional ``filetype``, ``context_type``,
``context_id``), ``HEAD /uploads/{id}`` (Upload-Offset), ``PATCH /uploads/{id}``
(``application/offset+octet-stream`` at Upload-Offset, optional ``Upload-Checksum: sha256 <b64>``;
409 on a wrong offset, with the server's ``Upload-Offset``, 460 on a checksum mismatch),
``DELETE /uploads/{id}`` (termination). Concatenation: ``POST`` with ``Upload-Concat: partial``
creates a part, ``POST`` with ``Upload-Concat: final;<url> <url> …`` joins complete parts
(see :mod:`telebridge.files.uploads`). The request that completes a file (the last PATCH, or
the final POST) answers with ``Telebridge-File-Id``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from telebridge.files import service, uploads
from telebridge.files.models import ClinicalFile
from telebridge.files.runtime import get_runtime
from telebridge.files.schemas import FileList, FileOut, UploadOut
from telebridge.identity.deps import ApiSubject, Db
from telebridge.kit.errors import BadInput, Conflict
from telebridge.kit.i18n import N_
from telebridge.kit.subject import Subject

router = APIRouter(tags=["files"])
UPLOADS = "/api/v1/files/uploads"


def tus_headers(**extra: str) -> dict[str, str]:
    return {"Tus-Resumable": uploads.TUS_VERSION, "Cache-Control": "no-store", **extra}


def _check_version(request: Request) -> None:
    version = request.headers.get("tus-resumable")
    if version is not None and version != uploads.TUS_VERSION:
        raise BadInput(N_("Unsupported tus version."), field="Tus-Resumable")


def _int_header(request: Request, name: str) -> int | None:
    value = request.headers.get(name)
    if value is None:
        return None
    if not value.isdigit():
        raise BadInput(N_("Some fields are missing or malformed: {fields}."), field=name, fields=name)
    return int(value)


def file_out(file: ClinicalFile, subject: Subject) -> FileOut:
    out = FileOut.model_validate(file)
    out.download_url = service.signed_url(file.id, subject.user_id, what="content")
    if file.preview_status == "ready":
        out.preview_url = service.signed_url(file.id, subject.user_id, what="preview")
    return out


@router.options(UPLOADS, include_in_schema=False)
async def capabilities() -> Response:
    return Response(status_code=204, headers=tus_headers(**{
        "Tus-Version": uploads.TUS_VERSION, "Tus-Extension": uploads.EXTENSIONS,
        "Tus-Checksum-Algorithm": uploads.CHECKSUM_ALGORITHMS,
        "Tus-Max-Size": str(service.max_upload_bytes(get_runtime().settings))}))


def _refused(failed: uploads.UploadFailed) -> JSONResponse:
    """A refused file, answered (not raised): the upload's failed state is committed."""
    return JSONResponse(status_code=failed.status, headers=tus_headers(), content={"error": {
        "code": failed.code, "message": failed.translated()}})


@router.post(UPLOADS, status_code=201)
async def create_upload(request: Request, subject: ApiSubject, db: Db) -> Response:
    _check_version(request)
    if request.headers.get("upload-defer-length"):
        raise BadInput(N_("Send the file's length in Upload-Length."), field="Upload-Length")
    metadata = uploads.parse_metadata(request.headers.get("upload-metadata"))
    concat = request.headers.get("upload-concat", "").strip()
    if concat.startswith("final"):
        try:
            result = await uploads.concatenate(db, subject, parts=uploads.part_ids(concat), metadata=metadata)
        except uploads.UploadFailed as failed:
            return _refused(failed)
        assert result.file is not None
        return Response(status_code=201, headers=tus_headers(Location=f"{UPLOADS}/{result.upload.id}", **{
            "Upload-Offset": str(result.upload.offset), "Telebridge-File-Id": str(result.file.id)}))
    if concat not in ("", "partial"):
        raise BadInput(N_("Upload-Concat must be partial or final."), field="Upload-Concat")
    upload = await uploads.create(db, subject, length=_int_header(request, "upload-length"), metadata=metadata,
                                  partial=concat == "partial")
    return Response(status_code=201, headers=tus_headers(Location=f"{UPLOADS}/{upload.id}", **{"Upload-Offset": "0"}))


@router.head(UPLOADS + "/{upload_id}")
async def upload_offset(upload_id: uuid.UUID, subject: ApiSubject, db: Db) -> Response:
    upload = await uploads.owned(db, subject, upload_id)
    async with uploads.transfer(upload_id):  # a transfer still running (its connection dead?) stops first
        await db.refresh(upload)
    if upload.status == "failed":
        return Response(status_code=410, headers=tus_headers())
    extra = {"Upload-Concat": "partial"} if uploads.is_partial(upload) else {}
    return Response(status_code=200, headers=tus_headers(**{
        "Upload-Offset": str(upload.offset), "Upload-Length": str(upload.length)}, **extra))


@router.get(UPLOADS + "/{upload_id}", response_model=UploadOut)
async def upload_status(upload_id: uuid.UUID, subject: ApiSubject, db: Db) -> UploadOut:
    return UploadOut.model_validate(await uploads.owned(db, subject, upload_id))


@router.patch(UPLOADS + "/{upload_id}")
async def upload_chunk(upload_id: uuid.UUID, request: Request, subject: ApiSubject, db: Db) -> Response:
    _check_version(request)
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/offset+octet-stream":
        return JSONResponse(status_code=415, headers=tus_headers(), content={"error": {
            "code": "unsupported_type", "message": "Content-Type: application/offset+octet-stream"}})
    checksum = uploads.parse_checksum(request.headers.get("upload-checksum"))

    async def body() -> AsyncIterator[bytes]:
        async for chunk in request.stream():
            if chunk:
                yield chunk

    offset = _int_header(request, "upload-offset")
    await uploads.owned(db, subject, upload_id)  # only its owner may take an upload over
    async with uploads.transfer(upload_id) as stop:
        try:
            result = await uploads.write(db, subject, upload_id=upload_id, offset=offset, body=body(),
                                         checksum=checksum, disconnected=ClientDisconnect, stop=stop)
        except uploads.UploadFailed as failed:
            await db.commit()
            return _refused(failed)
        except Conflict as conflict:  # a wrong offset: say where to resume, saving the client a HEAD
            if conflict.code != "offset":
                raise
            return JSONResponse(status_code=409, content={"error": {"code": conflict.code,
                                "message": conflict.translated()}},
                                headers=tus_headers(**{"Upload-Offset": str(conflict.params["offset"])}))
        await db.commit()  # durable before the upload is handed to a newer transfer
    headers = tus_headers(**{"Upload-Offset": str(result.upload.offset)})
    if result.file is not None:
        headers["Telebridge-File-Id"] = str(result.file.id)
    return Response(status_code=204, headers=headers)


@router.delete(UPLOADS + "/{upload_id}", status_code=204)
async def terminate_upload(upload_id: uuid.UUID, subject: ApiSubject, db: Db) -> Response:
    await uploads.owned(db, subject, upload_id)
    async with uploads.transfer(upload_id):
        await uploads.terminate(db, subject, upload_id=upload_id)
        await db.commit()
    return Response(status_code=204, headers=tus_headers())


@router.get("/api/v1/patients/{patient_id}/files", response_model=FileList)
async def patient_files(patient_id: uuid.UUID, subject: ApiSubject, db: Db) -> FileList:
    files = await service.list_for_patient(db, subject, patient_id=patient_id)
    return FileList(items=[file_out(f, subject) for f in files])


@router.get("/api/v1/files/{file_id}", response_model=FileOut)
async def file_detail(file_id: uuid.UUID, subject: ApiSubject, db: Db) -> FileOut:
    file, basis = await service.readable(db, subject, file_id)
    service.audit_read(db, subject, file, basis, action="read")
    return file_out(file, subject)

"""File pages: a patient's files with the resumable uploader, and signed content/preview links."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from telebridge.files import policy, service
from telebridge.files.api import file_out
from telebridge.files.sniff import KINDS
from telebridge.identity.deps import Db, PageSubject
from telebridge.identity.models import User
from telebridge.identity.service import subject_for
from telebridge.kit.deps import client_addr
from telebridge.kit.errors import Forbidden, NotFound
from telebridge.kit.i18n import N_
from telebridge.kit.web import RangeNotSatisfiable, byte_range, render, slice_stream
from telebridge.patients import service as patients

router = APIRouter(include_in_schema=False)
# A file is shown in its own sandbox: no script, no plugin, no form, whatever it contains.
CONTENT_CSP = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'"


@router.get("/patients/{patient_id}/files")
async def patient_files(request: Request, patient_id: uuid.UUID, subject: PageSubject, db: Db) -> Response:
    access, basis = await patients.readable(db, subject, patient_id)
    files = await service.list_for_patient(db, subject, patient_id=patient_id)
    return render(request, "files/patient_files.html", {
        "patient": access.patient, "files": [file_out(f, subject) for f in files], "kinds": KINDS,
        "can_upload": access.patient.status == "active" and policy.can_upload(subject, basis),
    })


async def _signed(request: Request, db: Db, file_id: uuid.UUID, what: str, u: uuid.UUID, exp: int,
                  sig: str) -> Response:
    service.verify_signature(file_id, what, u, exp, sig)
    user = await db.get(User, u)
    if user is None or not user.is_active:
        raise Forbidden(N_("This download link is not valid."), code="bad_signature")
    subject = await subject_for(db, user, client_addr(request))
    request.state.subject = subject
    file, stream = await service.open_content(db, subject, file_id=file_id, preview=what == "preview")
    await db.commit()  # the read is audited before any byte leaves
    media_type = "image/png" if what == "preview" else file.media_type
    name = quote(file.filename if what == "content" else file.filename + ".png")
    disposition = "attachment" if request.query_params.get("download") == "1" else "inline"
    headers = {"content-disposition": f"{disposition}; filename*=UTF-8''{name}",
               "content-security-policy": CONTENT_CSP, "cache-control": "private, no-store"}
    if what != "content":
        return StreamingResponse(stream, media_type=media_type, headers=headers)
    headers["accept-ranges"] = "bytes"  # players seek in recordings and videos; each range is an audited read
    try:
        wanted = byte_range(request.headers.get("range"), file.size)
    except RangeNotSatisfiable:
        await stream.aclose()  # type: ignore[attr-defined]
        return Response(status_code=416, headers={"content-range": f"bytes */{file.size}"})
    if wanted is None:
        headers["content-length"] = str(file.size)
        return StreamingResponse(stream, media_type=media_type, headers=headers)
    start, end = wanted
    headers.update({"content-range": f"bytes {start}-{end}/{file.size}", "content-length": str(end - start + 1)})
    return StreamingResponse(slice_stream(stream, start, end), status_code=206, media_type=media_type, headers=headers)


Sig = Annotated[str, Query(max_length=64)]


@router.get("/files/{file_id}/content")
async def content(request: Request, file_id: uuid.UUID, u: uuid.UUID, exp: int, sig: Sig, db: Db) -> Response:
    return await _signed(request, db, file_id, "content", u, exp, sig)


@router.get("/files/{file_id}/preview")
async def preview(request: Request, file_id: uuid.UUID, u: uuid.UUID, exp: int, sig: Sig, db: Db) -> Response:
    try:
        return await _signed(request, db, file_id, "preview", u, exp, sig)
    except NotFound:
        return Response(status_code=404)

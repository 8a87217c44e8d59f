"""Telebridge's own DICOMweb service under /dicomweb, for viewers and PACS that speak DICOMweb:
QIDO-RS (search), WADO-RS (instances, metadata, rendered frames) and STOW-RS (store).

Bearer token (or a signed-in session); every answer is limited to the studies of patients the
subject may read, and every read is audited. STOW-RS has no notion of our patients, so the
target record is named with ``?patient_id=<uuid>`` (and optionally ``&consultation_id=``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydicom.dataelem import DataElement

from telebridge.identity.deps import ApiSubject, Db
from telebridge.imaging import dicom, multipart, service
from telebridge.imaging.api import spooled_request
from telebridge.imaging.models import ImagingStudy
from telebridge.imaging.repository import StudyFilter
from telebridge.kit.errors import BadInput, DomainError
from telebridge.kit.i18n import N_

router = APIRouter(prefix="/dicomweb", tags=["dicomweb"])
DICOM_JSON = "application/dicom+json"
Uid = Annotated[str, Query(max_length=64)]
BAD_WINDOW = N_("The window parameter is 'center,width' (optionally ',linear').")
BAD_DATE = N_("Study dates are YYYYMMDD or a range YYYYMMDD-YYYYMMDD.")
NEED_PATIENT = N_("Name the patient record to store into: ?patient_id=<record id>.")
# STOW-RS failure reasons (PS3.18 / PS3.4 status codes).
REFUSED_OUT_OF_RESOURCES, CANNOT_UNDERSTAND, REFUSED_NOT_AUTHORIZED = 0xA700, 0xC000, 0x0124


def _attr(vr: str, *values: Any) -> dict[str, Any]:
    clean = [v for v in values if v not in (None, "")]
    if not clean:
        return {"vr": vr}
    if vr == "PN":
        clean = [{"Alphabetic": str(v)} for v in clean]
    return {"vr": vr, "Value": clean}


def _da(value: Any) -> str | None:
    return value.strftime("%Y%m%d") if value else None


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/dicomweb"


def study_json(request: Request, s: ImagingStudy, counts: tuple[int, int]) -> dict[str, Any]:
    return {
        "00080020": _attr("DA", _da(s.study_date)), "00080050": _attr("SH", s.accession_number),
        "00080061": _attr("CS", *[m for m in s.modalities.split(",") if m]),
        "00081030": _attr("LO", s.study_description),
        "00081190": _attr("UR", f"{_base(request)}/studies/{s.study_uid}"),
        "00100010": _attr("PN", s.dicom_patient_name), "00100020": _attr("LO", s.dicom_patient_id),
        "00100030": _attr("DA", _da(s.dicom_birth_date)), "00100040": _attr("CS", s.dicom_sex),
        "0020000D": _attr("UI", s.study_uid), "00201206": _attr("IS", counts[0]), "00201208": _attr("IS", counts[1]),
    }


def _date_range(value: str | None) -> tuple[Any, Any]:
    if not value:
        return None, None
    from datetime import date

    def one(text: str) -> date | None:
        if not text:
            return None
        if len(text) != 8 or not text.isdigit():
            raise BadInput(BAD_DATE, field="StudyDate")
        try:
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            raise BadInput(BAD_DATE, field="StudyDate") from None

    if "-" in value:
        lo, hi = value.split("-", 1)
        return one(lo), one(hi)
    d = one(value)
    return d, d


def _json(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status, media_type=DICOM_JSON)


# --------------------------------------------------------------------------- QIDO-RS

@router.get("/studies")
async def qido_studies(
    request: Request, subject: ApiSubject, db: Db,
    StudyInstanceUID: Annotated[str | None, Query(max_length=64)] = None,
    PatientID: Annotated[str | None, Query(max_length=64)] = None,
    ModalitiesInStudy: Annotated[str | None, Query(max_length=16)] = None,
    StudyDate: Annotated[str | None, Query(max_length=17)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    lo, hi = _date_range(StudyDate)
    studies = await service.search(db, subject, StudyFilter(study_uid=StudyInstanceUID, dicom_patient_id=PatientID,
                                                            modality=ModalitiesInStudy, date_from=lo, date_to=hi),
                                   offset=offset, limit=limit)
    counts = await service.repo.counts(db, [s.id for s in studies])
    return _json([study_json(request, s, counts.get(s.id, (0, 0))) for s in studies])


async def _study_tree(db: Db, subject: ApiSubject, study_uid: str) -> service.StudyTree:
    found = await service.search(db, subject, StudyFilter(study_uid=study_uid), limit=1)
    if not found:
        raise service.NotFound(service.NO_STUDY)
    return await service.study_tree(db, subject, study_id=found[0].id)


@router.get("/studies/{study_uid}/series")
async def qido_series(study_uid: str, request: Request, subject: ApiSubject, db: Db,
                      Modality: Annotated[str | None, Query(max_length=16)] = None) -> Response:
    tree = await _study_tree(db, subject, study_uid)
    out = []
    for series, instances in tree.series:
        if Modality and series.modality != Modality:
            continue
        out.append({
            "00080060": _attr("CS", series.modality), "0008103E": _attr("LO", series.series_description),
            "00081190": _attr("UR", f"{_base(request)}/studies/{study_uid}/series/{series.series_uid}"),
            "0020000D": _attr("UI", study_uid), "0020000E": _attr("UI", series.series_uid),
            "00200011": _attr("IS", series.series_number), "00201209": _attr("IS", len(instances)),
        })
    return _json(out)


def _instances_json(request: Request, tree: service.StudyTree, series_uid: str | None) -> list[dict[str, Any]]:
    out = []
    for series, instances in tree.series:
        if series_uid and series.series_uid != series_uid:
            continue
        for i in instances:
            url = f"{_base(request)}/studies/{tree.study.study_uid}/series/{series.series_uid}/instances/{i.sop_uid}"
            out.append({
                "00080016": _attr("UI", i.sop_class_uid), "00080018": _attr("UI", i.sop_uid),
                "00080060": _attr("CS", series.modality), "00081190": _attr("UR", url),
                "0020000D": _attr("UI", tree.study.study_uid), "0020000E": _attr("UI", series.series_uid),
                "00200013": _attr("IS", i.instance_number), "00280008": _attr("IS", i.number_of_frames),
                "00280010": _attr("US", i.rows), "00280011": _attr("US", i.columns),
            })
    return out


@router.get("/studies/{study_uid}/instances")
async def qido_study_instances(study_uid: str, request: Request, subject: ApiSubject, db: Db) -> Response:
    return _json(_instances_json(request, await _study_tree(db, subject, study_uid), None))


@router.get("/studies/{study_uid}/series/{series_uid}/instances")
async def qido_instances(study_uid: str, series_uid: str, request: Request, subject: ApiSubject, db: Db) -> Response:
    return _json(_instances_json(request, await _study_tree(db, subject, study_uid), series_uid))


# --------------------------------------------------------------------------- WADO-RS

def _transfer_syntax(request: Request) -> str | None:
    """The transfer syntax asked for in Accept (PS3.18 8.7.3.5), None for the originals."""
    for item in request.headers.get("accept", "").split(","):
        main, found = multipart.params(item)
        if main == "application/dicom" or (main == "multipart/related" and
                                           found.get("type", "application/dicom").lower() == "application/dicom"):
            if found.get("transfer-syntax"):
                return found["transfer-syntax"]
    return None


def _part_type(transfer_syntax: str | None) -> str:
    part_type = "application/dicom"
    if transfer_syntax and transfer_syntax != "*":
        part_type += f"; transfer-syntax={transfer_syntax}"
    return part_type


async def _retrieve(request: Request, db: Db, subject: ApiSubject, study_uid: str, series_uid: str | None = None,
                    sop_uid: str | None = None) -> Response:
    """WADO-RS: the instances of a study, a series or one instance, as stored or decompressed.

    Every check and audit record happens, and is committed, before the first byte is sent; then
    the instances are streamed from storage one after the other (a study of several GB is never
    held in memory), without the request's session, which is closed by then."""
    syntax = _transfer_syntax(request)
    if sop_uid is not None:
        located = [await service.locate(db, subject, study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid)]
    else:
        tree = await _study_tree(db, subject, study_uid)
        located = [await service.locate(db, subject, study_uid=study_uid, series_uid=series.series_uid,
                                        sop_uid=i.sop_uid)
                   for series, instances in tree.series if not series_uid or series.series_uid == series_uid
                   for i in instances]
    if not located:
        raise service.NotFound(service.NO_INSTANCE)
    parts = await service.retrievals(db, subject, located, transfer_syntax=syntax)
    try:
        await parts[0].open()  # a damaged or unreachable first instance is still an error answer
        await db.commit()  # every read is audited before any byte leaves
    except BaseException:
        for part in parts:
            await part.aclose()
        raise
    body, content_type = multipart.encode_stream([part.chunks() for part in parts], _part_type(syntax))

    async def stream() -> AsyncIterator[bytes]:
        try:
            async for chunk in body:
                yield chunk
        finally:  # a client that leaves (or a failed part) closes what is still open
            await body.aclose()  # type: ignore[attr-defined]
            for part in parts:
                await part.aclose()

    return StreamingResponse(stream(), media_type=content_type.split(";")[0], headers={"content-type": content_type})


@router.get("/studies/{study_uid}")
async def wado_study(study_uid: str, request: Request, subject: ApiSubject, db: Db) -> Response:
    return await _retrieve(request, db, subject, study_uid)


@router.get("/studies/{study_uid}/series/{series_uid}")
async def wado_series(study_uid: str, series_uid: str, request: Request, subject: ApiSubject, db: Db) -> Response:
    return await _retrieve(request, db, subject, study_uid, series_uid)


@router.get("/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}")
async def wado_instance(study_uid: str, series_uid: str, sop_uid: str, request: Request, subject: ApiSubject,
                        db: Db) -> Response:
    return await _retrieve(request, db, subject, study_uid, series_uid, sop_uid)


async def _metadata(request: Request, db: Db, subject: ApiSubject, located: service.Located) -> dict[str, Any]:
    ds = await service.dataset(db, subject, located, action="metadata")
    url = (f"{_base(request)}/studies/{located.study.study_uid}/series/{located.series.series_uid}"
           f"/instances/{located.instance.sop_uid}")

    def bulk(elem: DataElement) -> str:
        return f"{url}/bulk/{elem.tag:08X}"

    return ds.to_json_dict(bulk_data_threshold=4096, bulk_data_element_handler=bulk)


@router.get("/studies/{study_uid}/metadata")
async def wado_study_metadata(study_uid: str, request: Request, subject: ApiSubject, db: Db) -> Response:
    tree = await _study_tree(db, subject, study_uid)
    out = []
    for series, instances in tree.series:
        for i in instances:
            located = await service.locate(db, subject, study_uid=study_uid, series_uid=series.series_uid,
                                           sop_uid=i.sop_uid)
            out.append(await _metadata(request, db, subject, located))
    return _json(out)


@router.get("/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/metadata")
async def wado_instance_metadata(study_uid: str, series_uid: str, sop_uid: str, request: Request,
                                 subject: ApiSubject, db: Db) -> Response:
    located = await service.locate(db, subject, study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid)
    return _json([await _metadata(request, db, subject, located)])


@router.get("/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/bulk/{tag}")
async def bulk_data(study_uid: str, series_uid: str, sop_uid: str, subject: ApiSubject, db: Db,
                    tag: Annotated[str, Path(pattern="^[0-9A-Fa-f]{8}$")]) -> Response:
    """The BulkDataURI of an instance's metadata: the element's value (multipart/related)."""
    located = await service.locate(db, subject, study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid)
    parts, part_type = await service.bulk_data(db, subject, located, tag=int(tag, 16))
    body, content_type = multipart.encode(parts, part_type)
    return Response(body, media_type="multipart/related", headers={"content-type": content_type})


def _window(value: str | None) -> dicom.Window | None:
    if not value:
        return None
    parts = value.split(",")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2].strip().lower() != "linear"):
        raise BadInput(BAD_WINDOW, field="window")
    try:
        return dicom.Window(float(parts[0]), float(parts[1]))
    except ValueError:
        raise BadInput(BAD_WINDOW, field="window") from None


def _format(request: Request, fmt: str | None) -> str:
    if fmt in dicom.RENDER_FORMATS:
        return fmt
    accept = request.headers.get("accept", "")
    return "png" if "image/png" in accept and "image/jpeg" not in accept else "jpeg"


@router.get("/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/frames/{frame}/rendered")
async def rendered_frame(study_uid: str, series_uid: str, sop_uid: str, frame: int, request: Request,
                         subject: ApiSubject, db: Db, window: Annotated[str | None, Query(max_length=64)] = None,
                         quality: Annotated[int, Query(ge=1, le=100)] = 90,
                         format: Annotated[str | None, Query(pattern="^(png|jpeg)$")] = None) -> Response:
    located = await service.locate(db, subject, study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid)
    fmt = _format(request, format)
    got = await service.rendered(db, subject, located, frame=frame, fmt=fmt, window=_window(window), quality=quality,
                                 if_none_match=request.headers.get("if-none-match"))
    # The browser may keep a frame but must ask again (each use is checked and audited): 304 then.
    headers = {"etag": got.etag, "cache-control": "private, no-cache", "vary": "accept, authorization, cookie"}
    if got.data is None:
        return Response(status_code=304, headers=headers)
    return Response(got.data, media_type=dicom.RENDER_FORMATS[fmt], headers=headers)


@router.get("/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/rendered")
async def rendered_instance(study_uid: str, series_uid: str, sop_uid: str, request: Request, subject: ApiSubject,
                            db: Db, window: Annotated[str | None, Query(max_length=64)] = None,
                            format: Annotated[str | None, Query(pattern="^(png|jpeg)$")] = None) -> Response:
    return await rendered_frame(study_uid, series_uid, sop_uid, 1, request, subject, db, window, 90, format)


# --------------------------------------------------------------------------- STOW-RS

@router.post("/studies")
async def stow(request: Request, subject: ApiSubject, db: Db, patient_id: uuid.UUID | None = None,
               consultation_id: uuid.UUID | None = None) -> Response:
    if patient_id is None:
        raise BadInput(NEED_PATIENT, field="patient_id")
    context = ("consultation", consultation_id) if consultation_id else (None, None)
    await service.may_add(db, subject, patient_id, *context)  # 403 / 404 before reading the body
    stored, failed = [], []
    # Each part to an encrypted temporary file as it arrives (refused past its type's size limit),
    # then stored from there chunk by chunk; the temporary files are gone when this block ends.
    async with spooled_request(request) as parts:
        for part in parts:
            try:
                if part.media_type != "application/dicom":
                    raise dicom.NotDicom(dicom.NOT_DICOM)
                async with db.begin_nested():  # one bad instance does not undo the others
                    got = await service.ingest_stream(db, subject, patient_id=patient_id,
                                                      content=service.Content(part.size, part.source),
                                                      context_type=context[0], context_id=context[1],
                                                      source="dicomweb")
            except DomainError as exc:
                reason = REFUSED_NOT_AUTHORIZED if exc.status == 403 else (
                    REFUSED_OUT_OF_RESOURCES if exc.status == 413 else CANNOT_UNDERSTAND)
                failed.append({"00081150": _attr("UI", None), "00081155": _attr("UI", None),
                               "00081197": _attr("US", reason)})
                continue
            url = (f"{_base(request)}/studies/{got.study.study_uid}/series/{got.series.series_uid}"
                   f"/instances/{got.instance.sop_uid}")
            stored.append({"00081150": _attr("UI", got.instance.sop_class_uid),
                           "00081155": _attr("UI", got.instance.sop_uid), "00081190": _attr("UR", url)})
    body: dict[str, Any] = {}
    if stored:
        body["00081199"] = {"vr": "SQ", "Value": stored}
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": failed}
    status = 200 if stored and not failed else (202 if stored else 409)
    return _json(body, status)

"""/api/v1/imaging and Telebridge's own DICOMweb service (/dicomweb), through the app, with the
DICOMweb client pointed at Telebridge itself and at a real Orthanc."""

from __future__ import annotations

import gc
import hashlib
import io
import itertools
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pydicom
import pytest
from PIL import Image

from telebridge.imaging import dicom, multipart
from telebridge.imaging.dicomweb import DicomWebClient, tag_value
from tests.imaging.samples import ULTRASOUND, big_instance, data


async def _upload(c: httpx.AsyncClient, patient_id, raw: bytes, **params) -> httpx.Response:  # type: ignore[no-untyped-def]
    return await c.post(f"/api/v1/imaging/patients/{patient_id}/instances", content=raw, params=params,
                        headers={"content-type": "application/dicom"})


def _dicomweb(app, token_client: httpx.AsyncClient) -> DicomWebClient:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50001))
    return DicomWebClient("http://testserver/dicomweb", transport=transport,
                          headers={"authorization": token_client.headers["authorization"]})


async def test_upload_then_dicomweb_qido_wado_rendered(app, world, as_user, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    me = await as_user(world.spoke_clinician)
    raw = data(ULTRASOUND)
    r = await _upload(me, world.patient_a.id, raw, filename="sieu-am.dcm")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["created"] and body["instance"]["number_of_frames"] == 30
    study_id, info = body["study"]["id"], dicom.parse(raw)

    detail = (await me.get(f"/api/v1/imaging/studies/{study_id}")).json()
    assert detail["series"][0]["instances"][0]["sop_uid"] == info.sop_uid
    assert [s["id"] for s in (await me.get(f"/api/v1/imaging/patients/{world.patient_a.id}/studies")).json()] == [study_id]

    async with _dicomweb(app, me) as tb:
        studies = await tb.search_studies(StudyInstanceUID=info.study_uid)
        assert [tag_value(s, "0020000D") for s in studies] == [info.study_uid]
        assert tag_value(studies[0], "00201208") == 1 and tag_value(studies[0], "00080061") == "US"
        series = await tb.search_series(info.study_uid)
        assert tag_value(series[0], "0020000E") == info.series_uid
        instances = await tb.search_instances(info.study_uid, info.series_uid)
        assert tag_value(instances[0], "00280008") == 30
        assert await tb.retrieve_study(info.study_uid) == [raw]  # the untouched original
        assert await tb.retrieve_instance(info.study_uid, info.series_uid, info.sop_uid) == raw
        meta = await tb.retrieve_metadata(info.study_uid)
        assert meta[0]["00080018"]["Value"] == [info.sop_uid] and "BulkDataURI" in meta[0]["7FE00010"]
        jpeg = await tb.rendered_frame(info.study_uid, info.series_uid, info.sop_uid, 30)
        assert Image.open(io.BytesIO(jpeg)).size == (320, 240)

    frame = f"/dicomweb/studies/{info.study_uid}/series/{info.series_uid}/instances/{info.sop_uid}/frames"
    png = await me.get(f"{frame}/2/rendered", headers={"accept": "image/png"})
    assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    assert (await me.get(f"{frame}/31/rendered")).status_code == 404
    bad = await me.get(f"{frame}/1/rendered", params={"window": "40", "lang": "en"})
    assert bad.status_code == 400 and "center,width" in bad.json()["error"]["message"]


async def test_dicomweb_is_scoped_to_what_the_subject_may_read(app, world, as_user, client, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    me = await as_user(world.spoke_clinician)
    raw = data("CT_small.dcm")
    assert (await _upload(me, world.patient_a.id, raw)).status_code == 201
    info = dicom.parse(raw)
    instance = f"/dicomweb/studies/{info.study_uid}/series/{info.series_uid}/instances/{info.sop_uid}"
    assert (await client.get("/dicomweb/studies")).status_code == 401
    for role in ("other_clinician", "hub_specialist", "sysadmin", "analyst_national", "facility_admin"):
        c = await as_user(world.users[role])
        assert (await c.get("/dicomweb/studies", params={"StudyInstanceUID": info.study_uid})).json() == []
        assert (await c.get(f"/dicomweb/studies/{info.study_uid}")).status_code == 404
        assert (await c.get(f"{instance}/frames/1/rendered")).status_code == 404
        assert (await c.get(f"{instance}/metadata")).status_code == 404
    own = await as_user(world.patient_user)
    assert (await own.get(f"{instance}/frames/1/rendered")).status_code == 200


async def test_stow_rs_into_a_record(app, world, as_user, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    me = await as_user(world.spoke_clinician)
    good = data("MR_small_RLE.dcm")
    body, content_type = multipart.encode([good, b"%PDF-1.7 not dicom" + b"0" * 200])
    url = f"/dicomweb/studies?patient_id={world.patient_a.id}"
    r = await me.post(url, content=body, headers={"content-type": content_type})
    assert r.status_code == 202, r.text  # one stored, one refused
    assert r.json()["00081199"]["Value"][0]["00081155"]["Value"] == [dicom.parse(good).sop_uid]
    assert r.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xC000]
    found = (await me.get("/dicomweb/studies", params={"StudyInstanceUID": dicom.parse(good).study_uid})).json()
    assert len(found) == 1

    junk, junk_type = multipart.encode([b"junk"])
    none_ok = await me.post(url, content=junk, headers={"content-type": junk_type})
    assert none_ok.status_code == 409
    missing = await me.post("/dicomweb/studies", content=body, headers={"content-type": content_type,
                                                                        "accept-language": "en"})
    assert missing.status_code == 400 and "patient_id" in missing.json()["error"]["message"]
    other = await as_user(world.other_clinician)
    assert (await other.post(url, content=body, headers={"content-type": content_type})).status_code == 403


# --------------------------------------------------------------------------- streamed uploads

async def _streamed(*pieces: bytes | Path, size: int = 256 * 1024, sent: list[int] | None = None
                    ) -> AsyncIterator[bytes]:
    """A request body read from memory and files, ``size`` bytes at a time (``sent``: the count so far)."""
    for piece in pieces:
        with (piece.open("rb") if isinstance(piece, Path) else io.BytesIO(piece)) as fh:
            while chunk := fh.read(size):
                if sent is not None:
                    sent[0] += len(chunk)
                yield chunk


def _spools(rt) -> list[Path]:  # type: ignore[no-untyped-def]
    where = Path(rt.settings.files_dir) / "spool"
    return sorted(where.iterdir()) if where.exists() else []


async def _stored(db, patient_id) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(clinical files, imaging instances) of a patient."""
    from sqlalchemy import func, select

    from telebridge.files.models import ClinicalFile
    from telebridge.imaging.models import ImagingInstance, ImagingSeries, ImagingStudy

    files = await db.scalar(select(func.count()).select_from(ClinicalFile).where(ClinicalFile.patient_id == patient_id))
    instances = await db.scalar(select(func.count()).select_from(ImagingInstance).join(ImagingSeries).join(
        ImagingStudy).where(ImagingStudy.patient_id == patient_id))
    return int(files or 0), int(instances or 0)


async def test_stow_rs_streams_instances_whose_boundaries_straddle_chunks(app, world, as_user, db, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    me = await as_user(world.spoke_clinician)
    raws = [data(n) for n in ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", ULTRASOUND, "SC_rgb_rle.dcm")]
    body, content_type = multipart.encode(raws)
    boundary = multipart.params(content_type)[1]["boundary"].encode()
    cuts = {0, len(body)}
    at = body.find(boundary)
    while at >= 0:  # a chunk edge inside every delimiter, and around it
        cuts |= {at - 3, at - 1, at + 5, at + len(boundary) + 1}
        at = body.find(boundary, at + 1)
    sizes = [1, 2, 3, 7, 64, 4093, 65537]
    for i, start in enumerate(range(0, len(body), 20_000)):
        cuts |= {start + sizes[i % len(sizes)]}
    edges = sorted(c for c in cuts if 0 <= c <= len(body))

    async def chunks() -> AsyncIterator[bytes]:
        for a, b in itertools.pairwise(edges):
            yield body[a:b]

    url = f"/dicomweb/studies?patient_id={world.patient_a.id}"
    r = await me.post(url, content=chunks(), headers={"content-type": content_type})
    assert r.status_code == 200, r.text
    infos = [dicom.parse(raw) for raw in raws]
    assert [s["00081155"]["Value"][0] for s in r.json()["00081199"]["Value"]] == [i.sop_uid for i in infos]
    async with _dicomweb(app, me) as tb:  # stored byte for byte
        for raw, info in zip(raws, infos, strict=True):
            assert await tb.retrieve_instance(info.study_uid, info.series_uid, info.sop_uid) == raw
    assert await _stored(db, world.patient_a.id) == (5, 5)
    assert _spools(imaging_rt) == []


async def test_large_instances_stream_through_without_being_held_in_memory(app, world, as_user, db, imaging_rt,
                                                                           tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from telebridge.files.models import ClinicalFile

    me = await as_user(world.spoke_clinician)
    frames = 200  # 512 x 512 x 16 bits: 100 MiB of pixels
    by_stow, single = big_instance(tmp_path / "stow.dcm", frames), big_instance(tmp_path / "single.dcm", frames)
    size = by_stow.stat().st_size
    assert size > 100 * 1024 * 1024 > app.state.settings.max_upload_bytes
    boundary = "telebridge-big-instance"
    opening = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    closing = f"\r\n--{boundary}--\r\n".encode()
    gc.collect()
    tracemalloc.start()
    try:
        stow = await me.post(f"/dicomweb/studies?patient_id={world.patient_a.id}",
                             content=_streamed(opening, by_stow, closing),
                             headers={"content-type": f'multipart/related; type="application/dicom"; boundary={boundary}'})
        stow_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        one = await me.post(f"/api/v1/imaging/patients/{world.patient_a.id}/instances", content=_streamed(single),
                            headers={"content-type": "application/dicom", "content-length": str(size)})
        single_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert stow.status_code == 200, stow.text
    assert one.status_code == 201, one.text
    assert one.json()["instance"]["number_of_frames"] == frames
    assert stow_peak < size / 4 and single_peak < size / 4, (stow_peak, single_peak, size)
    stored = (await db.scalars(select(ClinicalFile).where(ClinicalFile.patient_id == world.patient_a.id))).all()
    expected = sorted((hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_size) for p in (by_stow, single))
    assert sorted((f.sha256, f.size) for f in stored) == expected  # whole, as sent
    assert _spools(imaging_rt) == []


# --------------------------------------------------------------------------- streamed WADO-RS answers

def _in_one_study(names: list[str], study_uid: str) -> list[bytes]:
    """Bundled instances made into one study of two series (new UIDs: content of this test only)."""
    from pydicom.uid import generate_uid

    series = [generate_uid(), generate_uid()]
    out = []
    for n, name in enumerate(names):
        ds = pydicom.dcmread(io.BytesIO(data(name)))
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series[n % 2]
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.PatientID = "STREAM-1"
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append(buf.getvalue())
    return out


async def _get_streamed(app, path: str, token_client: httpx.AsyncClient, on_chunk) -> tuple[int, dict[str, str], bool]:  # type: ignore[no-untyped-def]
    """GET through the ASGI app itself, each body chunk handed to ``on_chunk`` as it is sent (the
    test client would gather the whole body): (status, headers, whether the body was ended)."""
    import asyncio

    raw_path, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": raw_path, "raw_path": raw_path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": [(b"host", b"testserver"), (b"authorization", token_client.headers["authorization"].encode())],
             "client": ("203.0.113.9", 50001), "server": ("testserver", 80)}
    got: dict = {"status": 0, "headers": {}, "ended": False}
    done, asked = asyncio.Event(), False

    async def receive() -> dict:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            got["status"] = message["status"]
            got["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            on_chunk(message.get("body", b""))
            if not message.get("more_body", False):
                got["ended"] = True

    try:
        await app(scope, receive, send)
    finally:
        done.set()
    return got["status"], got["headers"], got["ended"]


async def _file_reads(db, file_ids) -> dict[str, int]:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from telebridge.kit.audit import AuditEvent

    rows = await db.execute(select(AuditEvent.object_id, func.count()).where(
        AuditEvent.object_type == "clinical_file", AuditEvent.action == "read",
        AuditEvent.object_id.in_([str(i) for i in file_ids])).group_by(AuditEvent.object_id))
    return {object_id: int(n) for object_id, n in rows.all()}


async def test_wado_rs_streams_each_instance_as_stored_and_audits_each_read(app, world, as_user, db, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    from pydicom.uid import generate_uid

    me = await as_user(world.spoke_clinician)
    study_uid = generate_uid()
    raws = _in_one_study(["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", ULTRASOUND, "SC_rgb_rle.dcm"], study_uid)
    uploaded = []
    for raw in raws:
        r = await _upload(me, world.patient_a.id, raw)
        assert r.status_code == 201, r.text
        uploaded.append(r.json()["instance"])
    file_ids = [i["file_id"] for i in uploaded]
    infos = [dicom.parse(raw) for raw in raws]
    before = await _file_reads(db, file_ids)

    r = await me.get(f"/dicomweb/studies/{study_uid}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith('multipart/related; type="application/dicom"; boundary=')
    parts = multipart.decode(r.content, r.headers["content-type"])
    assert [h["content-type"] for h, _p in parts] == ["application/dicom"] * len(raws)
    assert sorted(p for _h, p in parts) == sorted(raws)  # each part byte for byte
    body, encoded_type = multipart.encode([p for _h, p in parts])  # the same framing as the whole-body encoder
    boundary = multipart.params(r.headers["content-type"])[1]["boundary"]
    assert r.content == body.replace(multipart.params(encoded_type)[1]["boundary"].encode(), boundary.encode())
    after = await _file_reads(db, file_ids)
    assert all(after.get(f, 0) == before.get(f, 0) + 1 for f in file_ids), (before, after)  # one read each

    one_series = infos[0].series_uid  # CT, JPEG 2000 and RLE: the even ones
    r = await me.get(f"/dicomweb/studies/{study_uid}/series/{one_series}")
    assert sorted(p for _h, p in multipart.decode(r.content, r.headers["content-type"])) == sorted(raws[0::2])
    # Decompressed on request (one instance at a time), audited as a use of the instance.
    accept = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1'
    r = await me.get(f"/dicomweb/studies/{study_uid}/series/{infos[3].series_uid}", headers={"accept": accept})
    assert r.status_code == 200, r.text
    decoded = multipart.decode(r.content, r.headers["content-type"])
    assert all("transfer-syntax=1.2.840.10008.1.2.1" in h["content-type"] for h, _p in decoded)
    copies = [pydicom.dcmread(io.BytesIO(p)) for _h, p in decoded]
    assert sorted(c.SOPInstanceUID for c in copies) == sorted([infos[1].sop_uid, infos[3].sop_uid])
    assert all(c.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian for c in copies)

    # An outsider: 404, no byte of an instance, no read recorded.
    reads = await _file_reads(db, file_ids)
    stranger = await as_user(world.users["other_clinician"])
    for url in (f"/dicomweb/studies/{study_uid}", f"/dicomweb/studies/{study_uid}/series/{one_series}",
                f"/dicomweb/studies/{study_uid}/series/{one_series}/instances/{infos[0].sop_uid}"):
        chunks: list[bytes] = []
        status, headers, _ended = await _get_streamed(app, url, stranger, chunks.append)
        assert status == 404 and not headers["content-type"].startswith("multipart/")
        assert b"DICM" not in b"".join(chunks)
    assert await _file_reads(db, file_ids) == reads


async def test_a_damaged_instance_is_never_sent_as_whole(app, world, as_user, db, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    from pydicom.uid import generate_uid

    from telebridge.files.models import ClinicalFile, FileBlob

    me = await as_user(world.spoke_clinician)
    study_uid = generate_uid()
    raws = _in_one_study(["CT_small.dcm", "MR_small.dcm"], study_uid)
    ids = {dicom.parse(raw).sop_uid: (await _upload(me, world.patient_a.id, raw)).json()["instance"]["file_id"]
           for raw in raws}
    whole = await me.get(f"/dicomweb/studies/{study_uid}")
    sent = [pydicom.dcmread(io.BytesIO(p)) for _h, p in multipart.decode(whole.content, whole.headers["content-type"])]
    first, last = sent[0], sent[-1]  # the order of the answer; damage the last instance sent
    blob = await db.get(FileBlob, (await db.get(ClinicalFile, uuid.UUID(ids[last.SOPInstanceUID]))).blob_id)
    path = Path(imaging_rt.settings.files_dir) / "objects" / blob.object_key
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x20
    path.write_bytes(bytes(raw))
    # Damaged before anything was sent: an error answer.
    one = await me.get(f"/dicomweb/studies/{study_uid}/series/{last.SeriesInstanceUID}/instances/{last.SOPInstanceUID}")
    assert one.status_code == 500 and one.json()["error"]["code"] == "integrity"
    # Damaged while streaming: the answer is cut where that part starts; it is never closed.
    chunks: list[bytes] = []
    with pytest.raises(Exception):  # noqa: B017 - the server aborts the response, whatever the error
        await _get_streamed(app, f"/dicomweb/studies/{study_uid}", me, chunks.append)
    body = b"".join(chunks)
    good = next(r for r in raws if dicom.parse(r).sop_uid == first.SOPInstanceUID)
    assert good in body and body.endswith(b"Content-Type: application/dicom\r\n\r\n")
    assert not body.rstrip().endswith(b"--")


async def test_wado_rs_streams_a_large_study_without_holding_it_in_memory(app, world, as_user, db, imaging_rt,
                                                                         tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pydicom.uid import generate_uid

    me = await as_user(world.spoke_clinician)
    study_uid = generate_uid()
    paths = [big_instance(tmp_path / f"{n}.dcm", 40, study_uid=study_uid) for n in range(3)]  # 3 x 20 MiB
    size = sum(p.stat().st_size for p in paths)
    assert size > 60 * 1024 * 1024
    for p in paths:
        r = await me.post(f"/api/v1/imaging/patients/{world.patient_a.id}/instances", content=_streamed(p),
                          headers={"content-type": "application/dicom", "content-length": str(p.stat().st_size)})
        assert r.status_code == 201, r.text
    parser: multipart.Parser | None = None
    hashes: list[str] = []
    digest = hashlib.sha256()
    received = [0]

    def on_chunk(chunk: bytes) -> None:
        nonlocal digest
        assert parser is not None
        received[0] += len(chunk)
        for event in parser.feed(chunk):
            if isinstance(event, multipart.PartData):
                digest.update(event.data)
            elif isinstance(event, multipart.PartEnd):
                hashes.append(digest.hexdigest())
                digest = hashlib.sha256()

    boundary = "-"  # the parser needs the boundary: read it from the first chunk
    first: list[bytes] = []

    def start(chunk: bytes) -> None:
        nonlocal parser, boundary
        if parser is None:
            first.append(chunk)
            joined = b"".join(first)
            if b"\r\n" not in joined:
                return
            boundary = joined[2:joined.index(b"\r\n")].decode()
            parser = multipart.Parser(f"multipart/related; boundary={boundary}")
            first.clear()
            on_chunk(joined)
            return
        on_chunk(chunk)

    gc.collect()
    tracemalloc.start()
    try:
        status, headers, ended = await _get_streamed(app, f"/dicomweb/studies/{study_uid}", me, start)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status == 200 and ended and parser is not None and parser.closed
    assert boundary in headers["content-type"]
    assert sorted(hashes) == sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in paths)
    assert received[0] > size and peak < size / 4, (peak, size)


async def test_an_instance_over_the_limit_is_refused_at_once_and_nothing_is_stored(app, world, as_user, db,
                                                                                   imaging_rt, tmp_path) -> None:  # type: ignore[no-untyped-def]
    imaging_rt.settings = imaging_rt.settings.model_copy(
        update={"files_max_mb": {**imaging_rt.settings.files_max_mb, "dicom": 1}})
    me = await as_user(world.spoke_clinician)
    me.headers["accept-language"] = "en"
    big = big_instance(tmp_path / "big.dcm", frames=12)  # 6 MiB
    good = data("CT_small.dcm")
    boundary = "over-the-limit"
    part = f"\r\n--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    sent = [0]
    r = await me.post(f"/dicomweb/studies?patient_id={world.patient_a.id}&lang=en",
                      content=_streamed(part[2:], good, part, big, f"\r\n--{boundary}--\r\n".encode(), size=65536,
                                        sent=sent),
                      headers={"content-type": f"multipart/related; type=application/dicom; boundary={boundary}"})
    assert r.status_code == 413 and "at most 1 MB" in r.json()["error"]["message"], r.text
    assert sent[0] < len(good) + 1024 * 1024 + 3 * 65536  # refused as soon as the limit was passed
    sent = [0]
    single = await me.post(f"/api/v1/imaging/patients/{world.patient_a.id}/instances",
                           content=_streamed(big, size=65536, sent=sent), headers={"content-type": "application/dicom"})
    assert single.status_code == 413 and "at most 1 MB" in single.json()["error"]["message"]
    assert sent[0] < 1024 * 1024 + 3 * 65536
    assert await _stored(db, world.patient_a.id) == (0, 0)
    assert (await me.get(f"/api/v1/imaging/patients/{world.patient_a.id}/studies")).json() == []
    assert _spools(imaging_rt) == []


async def test_a_cut_or_malformed_stow_body_stores_nothing(app, world, as_user, db, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    me = await as_user(world.spoke_clinician)
    me.headers["accept-language"] = "en"
    body, content_type = multipart.encode([data("CT_small.dcm"), data("MR_small.dcm")])
    url = f"/dicomweb/studies?patient_id={world.patient_a.id}&lang=en"
    closing = len(multipart.params(content_type)[1]["boundary"]) + 6  # --boundary--CRLF
    for cut in (body[:-closing], body[:len(body) // 2]):
        r = await me.post(url, content=_streamed(cut, size=4096), headers={"content-type": content_type})
        assert r.status_code == 400 and "closing boundary is missing" in r.json()["error"]["message"], r.text
    not_multipart = await me.post(url, content=body, headers={"content-type": "application/dicom"})
    assert not_multipart.status_code == 400 and "multipart/related" in not_multipart.json()["error"]["message"]
    assert await _stored(db, world.patient_a.id) == (0, 0)
    assert _spools(imaging_rt) == []


async def test_a_client_leaving_mid_body_leaves_no_spool(app, world, as_user, db, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    """Through the ASGI interface as a server drives it: a few chunks, then ``http.disconnect``."""
    me = await as_user(world.spoke_clinician)
    body, content_type = multipart.encode([data("CT_small.dcm"), data(ULTRASOUND)])
    cases = [("/dicomweb/studies", f"patient_id={world.patient_a.id}", content_type),
             (f"/api/v1/imaging/patients/{world.patient_a.id}/instances", "", "application/dicom")]
    for path, query, ctype in cases:
        chunks = [body[:30_000], body[30_000:60_000]]
        spooling: list[list[Path]] = []
        sent: list[dict] = []  # type: ignore[type-arg]

        async def receive(chunks: list[bytes] = chunks, spooling: list[list[Path]] = spooling) -> dict:  # type: ignore[type-arg]
            if chunks:
                return {"type": "http.request", "body": chunks.pop(0), "more_body": True}
            spooling.append(_spools(imaging_rt))
            return {"type": "http.disconnect"}

        async def send(message: dict, sent: list[dict] = sent) -> None:  # type: ignore[type-arg]
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
                 "root_path": "", "server": ("testserver", 80), "client": ("203.0.113.9", 50001),
                 "headers": [(b"host", b"testserver"), (b"content-type", ctype.encode()),
                             (b"authorization", me.headers["authorization"].encode())]}
        await app(scope, receive, send)
        assert spooling and spooling[0], path  # the body was being spooled when the client left
        assert sent[0]["status"] == 400, sent
        assert _spools(imaging_rt) == []
    assert await _stored(db, world.patient_a.id) == (0, 0)


async def test_bad_uploads_are_clear_errors(world, as_user, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    me = await as_user(world.spoke_clinician)
    me.headers["accept-language"] = "en"
    truncated = await _upload(me, world.patient_a.id, data(ULTRASOUND)[:40_000])
    assert truncated.status_code == 422 and "incomplete" in truncated.json()["error"]["message"]
    pdf = await _upload(me, world.patient_a.id, b"%PDF-1.7\n%%EOF\n", filename="scan.dcm")
    assert pdf.status_code == 415 and "not a DICOM" in pdf.json()["error"]["message"]
    empty = await _upload(me, world.patient_a.id, b"")
    assert empty.status_code == 415
    listed = (await me.get(f"/api/v1/imaging/patients/{world.patient_a.id}/studies")).json()
    assert listed == []


async def test_pacs_search_pull_push_through_the_api(app, world, as_user, imaging_rt, orthanc, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    me = await as_user(world.spoke_clinician)
    me.headers["accept-language"] = "en"
    r = await me.get("/api/v1/imaging/pacs/studies", params={"patient_id": "x"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "pacs_not_configured"
    monkeypatch.setattr(app.state.settings, "pacs_dicomweb_url", orthanc.dicomweb)
    raw = data("SC_rgb_rle.dcm")
    info = dicom.parse(raw)
    async with DicomWebClient(orthanc.dicomweb) as pacs:
        await pacs.store([raw])
    found = (await me.get("/api/v1/imaging/pacs/studies", params={"study_uid": info.study_uid})).json()
    assert [s["study_uid"] for s in found] == [info.study_uid]
    pulled = await me.post("/api/v1/imaging/pacs/pull", json={"patient_id": str(world.patient_a.id),
                                                               "study_uid": info.study_uid})
    assert pulled.status_code == 201 and pulled.json()["instances"] == 1
    pushed = await me.post(f"/api/v1/imaging/studies/{pulled.json()['study_id']}/push")
    assert pushed.status_code == 200 and pushed.json()["stored"] == 1
    admin = await as_user(world.facility_admin)
    assert (await admin.get("/api/v1/imaging/pacs/studies", params={"patient_id": "x"})).status_code == 403

    monkeypatch.setattr(app.state.settings, "pacs_dicomweb_url", "http://127.0.0.1:9/dicom-web")
    down = await me.post("/api/v1/imaging/pacs/pull", json={"patient_id": str(world.patient_a.id),
                                                             "study_uid": "1.2.3"})
    assert down.status_code == 502 and "cannot be reached" in down.json()["error"]["message"]


async def test_teaching_copy_api(world, as_user, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    me = await as_user(world.spoke_clinician)
    me.headers["accept-language"] = "en"
    r = await _upload(me, world.patient_a.id, data(ULTRASOUND))
    copy = await me.post(f"/api/v1/imaging/instances/{r.json()['instance']['id']}/teaching-copy")
    assert copy.status_code == 200
    assert copy.json()["warnings"] and "burnt into the pixels" in copy.json()["warnings"][0]
    import base64

    ds = pydicom.dcmread(io.BytesIO(base64.b64decode(copy.json()["content_base64"])))
    assert ds.PatientIdentityRemoved == "YES"
    other = await as_user(world.other_clinician)
    assert (await other.post(f"/api/v1/imaging/instances/{r.json()['instance']['id']}/teaching-copy")).status_code == 403


async def _viewer_sources(c: httpx.AsyncClient, raw: bytes, patient_id) -> tuple[dict, str]:  # type: ignore[no-untyped-def, type-arg]
    body = (await _upload(c, patient_id, raw)).json()
    detail = (await c.get(f"/api/v1/imaging/studies/{body['study']['id']}")).json()
    series = next(s for s in detail["series"] if s["instances"][0]["sop_uid"] == body["instance"]["sop_uid"])
    r = await c.get(f"/api/v1/imaging/studies/{body['study']['id']}/series/{series['id']}/viewer")
    assert r.status_code == 200, r.text
    return r.json(), f"/api/v1/imaging/studies/{body['study']['id']}/series/{series['id']}/viewer"


async def test_viewer_loads_originals_through_signed_links(app, world, as_user, client, db, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from telebridge.kit.audit import AuditEvent

    me = await as_user(world.spoke_clinician)
    raw = data(ULTRASOUND)  # JPEG baseline: the browser viewer decodes it itself
    sources, url = await _viewer_sources(me, raw, world.patient_a.id)
    assert sources["decompressed"] is False and sources["accept"] == "application/dicom"
    [one] = sources["instances"]
    assert one["frames"] == 30 and one["url"].startswith("/files/") and "sig=" in one["url"]
    got = await client.get(one["url"])  # no session needed: the link is signed for this user, for minutes
    assert got.status_code == 200 and got.content == raw and "private" in got.headers["cache-control"]
    file_id = one["url"].split("/")[2]
    downloads = (await db.scalars(select(AuditEvent.action).where(AuditEvent.object_id == file_id))).all()
    assert "download" in downloads
    tampered = one["url"].replace("sig=", "sig=x")
    assert (await client.get(tampered)).status_code == 403
    for role in ("other_clinician", "hub_specialist", "sysadmin"):
        assert (await (await as_user(world.users[role])).get(url)).status_code in (403, 404)


async def test_viewer_gets_jpeg_ls_decompressed_through_wado_rs(app, world, as_user, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    me = await as_user(world.spoke_clinician)
    raw = data("MR_small_jpeg_ls_lossless.dcm")  # JPEG-LS: dwv has no decoder for it
    sources, _url = await _viewer_sources(me, raw, world.patient_a.id)
    assert sources["decompressed"] is True and "transfer-syntax=1.2.840.10008.1.2.1" in sources["accept"]
    [one] = sources["instances"]
    r = await me.get(one["url"], headers={"accept": sources["accept"]})
    assert r.status_code == 200, r.text
    [(headers, payload)] = multipart.decode(r.content, r.headers["content-type"])
    assert "transfer-syntax=1.2.840.10008.1.2.1" in headers["content-type"]
    copy, original = pydicom.dcmread(io.BytesIO(payload)), pydicom.dcmread(io.BytesIO(raw))
    assert copy.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert copy.SOPInstanceUID == original.SOPInstanceUID
    assert (copy.pixel_array == original.pixel_array).all()  # lossless: the same pixels
    # The original stays the default, and a syntax Telebridge does not offer is refused.
    plain = await me.get(one["url"])
    assert multipart.decode(plain.content, plain.headers["content-type"])[0][1] == raw
    j2k = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.90'
    refused = await me.get(one["url"], params={"lang": "en"}, headers={"accept": j2k})
    assert refused.status_code == 406 and "Explicit VR Little Endian" in refused.json()["error"]["message"]


async def test_rendered_frames_revalidate_with_etags_and_every_use_is_audited(app, world, as_user, db, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from telebridge.kit.audit import AuditEvent

    me = await as_user(world.spoke_clinician)
    raw = data(ULTRASOUND)
    body = (await _upload(me, world.patient_a.id, raw)).json()
    info = dicom.parse(raw)
    frame = f"/dicomweb/studies/{info.study_uid}/series/{info.series_uid}/instances/{info.sop_uid}/frames/3/rendered"

    async def renders() -> int:
        return int(await db.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.object_id == body["instance"]["id"], AuditEvent.action == "render")) or 0)

    first = await me.get(frame, headers={"accept": "image/jpeg"})
    etag = first.headers["etag"]
    assert first.status_code == 200 and first.headers["cache-control"] == "private, no-cache"
    again = await me.get(frame, headers={"accept": "image/jpeg"})  # from the rendered-frame cache
    assert again.content == first.content and again.headers["etag"] == etag
    unchanged = await me.get(frame, headers={"accept": "image/jpeg", "if-none-match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert await renders() == 3  # the 304 is a use too
    other = await me.get(frame, params={"window": "100,50"}, headers={"accept": "image/jpeg", "if-none-match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag  # (colour: the window does not apply)
    png = await me.get(frame, headers={"accept": "image/png", "if-none-match": etag})
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    stranger = await as_user(world.users["other_clinician"])
    assert (await stranger.get(frame, headers={"if-none-match": etag})).status_code == 404  # no 304 leak


async def test_metadata_bulk_data_uris_are_served(app, world, as_user, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    from pydicom.encaps import get_frame

    me = await as_user(world.spoke_clinician)
    for name in (ULTRASOUND, "CT_small.dcm"):
        raw = data(name)
        assert (await _upload(me, world.patient_a.id, raw)).status_code == 201
        info, original = dicom.parse(raw), pydicom.dcmread(io.BytesIO(raw))
        base = f"/dicomweb/studies/{info.study_uid}/series/{info.series_uid}/instances/{info.sop_uid}"
        [meta] = (await me.get(f"{base}/metadata")).json()
        uri = meta["7FE00010"]["BulkDataURI"]
        assert uri.startswith("http://testserver" + base + "/bulk/")
        r = await me.get(uri.removeprefix("http://testserver"))
        assert r.status_code == 200, r.text
        parts = multipart.decode(r.content, r.headers["content-type"])
        if original.file_meta.TransferSyntaxUID.is_compressed:  # one part per frame, as encoded
            assert [p for _h, p in parts] == [get_frame(original.PixelData, i, number_of_frames=30) for i in range(30)]
            assert "transfer-syntax=1.2.840.10008.1.2.4.50" in parts[0][0]["content-type"]
        else:
            assert [p for _h, p in parts] == [original.PixelData]
        stranger = await as_user(world.users["other_clinician"])
        assert (await stranger.get(uri.removeprefix("http://testserver"))).status_code == 404
        assert (await me.get(f"{base}/bulk/00100010")).status_code == 404  # not a binary element

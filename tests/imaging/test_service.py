"""imaging.service: ingest (original kept as an encrypted clinical file), index, access, audit,
rendering through the cache, PACS pull and push against a real Orthanc."""

from __future__ import annotations

import io
import uuid

import numpy as np
import pydicom
import pytest
from PIL import Image
from sqlalchemy import func, select

from telebridge.files import service as files
from telebridge.files.models import ClinicalFile
from telebridge.imaging import dicom, service
from telebridge.imaging.dicomweb import DicomWebClient, PacsUnavailable
from telebridge.imaging.models import ImagingStudy
from telebridge.kit.audit import AuditEvent
from telebridge.kit.errors import BadInput, Forbidden
from tests.imaging import orthanc as orthanc_server
from tests.imaging.conftest import add_consultation, subject_of
from tests.imaging.samples import ULTRASOUND, data


async def _file_count(db, patient_id) -> int:  # type: ignore[no-untyped-def]
    return int(await db.scalar(select(func.count()).select_from(ClinicalFile).where(ClinicalFile.patient_id == patient_id)))


async def test_ingest_indexes_and_keeps_the_original_untouched(db, world, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    me = await subject_of(db, world.spoke_clinician)
    raw = data(ULTRASOUND)
    got = await service.ingest(db, me, patient_id=world.patient_a.id, data=raw, filename="sieu-am.dcm")
    assert got.created and got.study.modalities == "US" and got.instance.number_of_frames == 30
    assert got.study.dicom_patient_id == pydicom.dcmread(io.BytesIO(raw)).PatientID
    await db.commit()
    stored = await db.get(ClinicalFile, got.instance.file_id)
    assert stored.kind == "dicom" and stored.filename == "sieu-am.dcm"
    assert (await files.read_bytes(db, me, file_id=stored.id))[1] == raw  # byte-identical original

    again = await service.ingest(db, me, patient_id=world.patient_a.id, data=raw)
    assert not again.created and again.instance.id == got.instance.id
    ct = await service.ingest(db, me, patient_id=world.patient_a.id, data=data("JPEG2000.dcm"))
    assert ct.study.id != got.study.id
    await db.commit()

    tree = await service.study_tree(db, me, study_id=got.study.id)
    assert [(s.modality, [i.sop_uid for i in insts]) for s, insts in tree.series] == [("US", [got.instance.sop_uid])]
    listed = await service.studies_for_patient(db, me, patient_id=world.patient_a.id)
    assert {s.id for s in listed} == {got.study.id, ct.study.id}
    await db.commit()
    actions = set((await db.scalars(select(AuditEvent.action).where(
        AuditEvent.patient_id == world.patient_a.id, AuditEvent.object_type == "imaging_study"))).all())
    assert {"read", "list"} <= actions


async def test_render_through_the_record_is_audited_per_frame(db, world, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    me = await subject_of(db, world.spoke_clinician)
    got = await service.ingest(db, me, patient_id=world.patient_a.id, data=data(ULTRASOUND))
    await db.commit()
    located = await service.locate(db, me, study_uid=got.study.study_uid, series_uid=got.series.series_uid,
                                   sop_uid=got.instance.sop_uid)
    first = await service.render(db, me, located, frame=1, fmt="png")
    tenth = await service.render(db, me, located, frame=10, fmt="png")
    assert not np.array_equal(np.asarray(Image.open(io.BytesIO(first))), np.asarray(Image.open(io.BytesIO(tenth))))
    await db.commit()
    renders = (await db.scalars(select(AuditEvent.detail).where(
        AuditEvent.object_id == str(got.instance.id), AuditEvent.action == "render"))).all()
    assert sorted(renders) == sorted(['{"frame": 1}', '{"frame": 10}'])  # the cached second read is audited too


@pytest.mark.parametrize("name", ["examples_ybr_color.dcm", "JPEG2000.dcm", "SC_rgb_rle.dcm",
                                  "MR_small_jpeg_ls_lossless.dcm", "SC_rgb_jpeg_dcmtk.dcm"])
async def test_compressed_syntaxes_ingest_and_render(db, world, imaging_rt, name) -> None:  # type: ignore[no-untyped-def]
    me = await subject_of(db, world.spoke_clinician)
    got = await service.ingest(db, me, patient_id=world.patient_a.id, data=data(name))
    located = await service.locate(db, me, study_uid=got.study.study_uid, series_uid=None, sop_uid=got.instance.sop_uid)
    img = Image.open(io.BytesIO(await service.render(db, me, located, frame=got.instance.number_of_frames)))
    assert img.size == (got.instance.columns, got.instance.rows)
    await db.rollback()


async def test_bad_files_store_nothing(db, world, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    me = await subject_of(db, world.spoke_clinician)
    before = await _file_count(db, world.patient_a.id)
    with pytest.raises(dicom.BadDicom):
        await service.ingest(db, me, patient_id=world.patient_a.id, data=data(ULTRASOUND)[:50_000])
    pdf = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    with pytest.raises(dicom.NotDicom):
        await service.ingest(db, me, patient_id=world.patient_a.id, data=pdf, filename="scan.dcm")
    with pytest.raises(dicom.NotDicom):
        await service.ingest(db, me, patient_id=world.patient_a.id, data=b"", filename="empty.dcm")
    assert await _file_count(db, world.patient_a.id) == before


async def test_access_follows_the_patient_relationship(db, world, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    me = await subject_of(db, world.spoke_clinician)
    got = await service.ingest(db, me, patient_id=world.patient_a.id, data=data("CT_small.dcm"))
    await db.commit()
    for name in ("other_clinician", "hub_specialist", "sysadmin", "analyst_national"):
        who = await subject_of(db, world.users[name])
        with pytest.raises(Forbidden):
            await service.study_tree(db, who, study_id=got.study.id)
        assert await service.search(db, who, service.repo.StudyFilter(study_uid=got.study.study_uid)) == []
        with pytest.raises(service.NotFound):
            await service.locate(db, who, study_uid=got.study.study_uid, series_uid=None, sop_uid=got.instance.sop_uid)
        with pytest.raises(Forbidden):
            await service.ingest(db, who, patient_id=world.patient_a.id, data=data("MR_small.dcm"))
    patient = await subject_of(db, world.patient_user)  # patients read their own images, do not add any
    assert (await service.study_tree(db, patient, study_id=got.study.id)).study.id == got.study.id
    with pytest.raises(Forbidden):
        await service.ingest(db, patient, patient_id=world.patient_a.id, data=data("MR_small.dcm"))
    await db.rollback()


async def test_consultation_context_must_be_about_the_same_patient(db, world, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    me = await subject_of(db, world.spoke_clinician)
    c = await add_consultation(db, world)
    got = await service.ingest(db, me, patient_id=world.patient_a.id, data=data("MR_small.dcm"),
                               context_type="consultation", context_id=c.id)
    assert (got.study.context_type, got.study.context_id) == ("consultation", c.id)
    assert [s.id for s in await service.studies_for_consultation(db, me, consultation_id=c.id)] == [got.study.id]
    about_b = await add_consultation(db, world, world.patient_b)
    with pytest.raises(BadInput):
        await service.ingest(db, me, patient_id=world.patient_a.id, data=data("CT_small.dcm"),
                             context_type="consultation", context_id=about_b.id)
    with pytest.raises(service.NotFound):
        await service.ingest(db, me, patient_id=world.patient_a.id, data=data("CT_small.dcm"),
                             context_type="consultation", context_id=uuid.uuid4())
    await db.rollback()


async def test_teaching_copy_is_deidentified(db, world, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    me = await subject_of(db, world.spoke_clinician)
    got = await service.ingest(db, me, patient_id=world.patient_a.id, data=data(ULTRASOUND))
    copy = await service.teaching_copy(db, me, instance_id=got.instance.id)
    ds = pydicom.dcmread(io.BytesIO(copy.data))
    assert ds.PatientIdentityRemoved == "YES" and ds.SOPInstanceUID != got.instance.sop_uid
    assert copy.warnings and copy.warnings[0][0] == dicom.WARN_BURNT_IN_UNKNOWN
    await db.rollback()


async def test_pull_from_and_push_to_orthanc(db, world, imaging_rt, orthanc) -> None:  # type: ignore[no-untyped-def]
    me = await subject_of(db, world.spoke_clinician)
    raw = data("examples_ybr_color.dcm")
    info = dicom.parse(raw)
    async with DicomWebClient(orthanc.dicomweb) as pacs:
        await pacs.store([raw])
        found = await service.search_pacs(db, me, pacs, study_uid=info.study_uid)
        assert [(s.study_uid, s.modalities) for s in found] == [(info.study_uid, "US")]
        c = await add_consultation(db, world)
        pulled = await service.pull_study(db, me, pacs, patient_id=world.patient_a.id, study_uid=info.study_uid,
                                          context_type="consultation", context_id=c.id)
        assert [p.instance.sop_uid for p in pulled] == [info.sop_uid] and pulled[0].study.source == "pacs"
        await db.commit()
        original = (await files.read_bytes(db, me, file_id=pulled[0].instance.file_id))[1]
        assert dicom.parse(original).sop_uid == info.sop_uid

        # Push a study that only Telebridge has; Orthanc then finds it.
        mine = await service.ingest(db, me, patient_id=world.patient_a.id, data=data("MR_small_RLE.dcm"))
        await db.commit()
        sent = await service.push_study(db, me, pacs, study_id=mine.study.id)
        assert sent == {"sent": 1, "stored": 1, "failed": 0}
        assert await pacs.search_instances(mine.study.study_uid)

        other = await subject_of(db, world.other_clinician)
        with pytest.raises(Forbidden):
            await service.push_study(db, other, pacs, study_id=mine.study.id)
        with pytest.raises(Forbidden):
            await service.pull_study(db, other, pacs, patient_id=world.patient_a.id, study_uid=info.study_uid)
        await db.rollback()


async def test_pull_from_a_pacs_that_is_down_stores_nothing(db, world, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    me = await subject_of(db, world.spoke_clinician)
    before = await _file_count(db, world.patient_a.id)
    async with DicomWebClient(f"http://127.0.0.1:{orthanc_server.free_port()}/dicom-web", timeout=5) as pacs:
        with pytest.raises(PacsUnavailable):
            await service.pull_study(db, me, pacs, patient_id=world.patient_a.id, study_uid="1.2.3")
    assert await _file_count(db, world.patient_a.id) == before
    assert await db.scalar(select(func.count()).select_from(ImagingStudy).where(
        ImagingStudy.patient_id == world.patient_a.id, ImagingStudy.study_uid == "1.2.3")) == 0
    await db.rollback()


async def test_a_resumably_uploaded_dicom_file_is_indexed_in_place(db, world, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    me = await subject_of(db, world.spoke_clinician)
    raw = data("JPGExtended.dcm")
    stored = await files.store_bytes(db, me, patient_id=world.patient_a.id, data=raw, filename="IM0001",
                                     allowed_kinds=frozenset({"dicom"}))
    before = await _file_count(db, world.patient_a.id)
    got = await service.ingest_file(db, me, file_id=stored.id)
    assert got.created and got.instance.file_id == stored.id and got.study.modalities == "NM"
    assert await _file_count(db, world.patient_a.id) == before  # no second copy
    jpeg = await files.store_bytes(db, me, patient_id=world.patient_a.id, data=data("SC_rgb_rle.dcm"), filename="x.dcm")
    other = await subject_of(db, world.other_clinician)
    with pytest.raises(Forbidden):
        await service.ingest_file(db, other, file_id=jpeg.id)
    png = await files.store_bytes(db, me, patient_id=world.patient_a.id, data=dicom.render(raw), filename="a.png")
    with pytest.raises(dicom.NotDicom):
        await service.ingest_file(db, me, file_id=png.id)
    await db.rollback()


def test_dataset_cache_is_bounded_by_count_and_size(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from telebridge.config import get_settings

    monkeypatch.setattr(get_settings(), "imaging_cache_instances", 2)
    monkeypatch.setattr(get_settings(), "imaging_cache_mb", 1)
    cache: service._Lru[pydicom.Dataset] = service._Lru(service._dataset_limits)
    a, b, c = (pydicom.Dataset() for _ in range(3))
    cache.put("a", a, 100)
    cache.put("b", b, 100)
    assert cache.get("a") is a  # a is now the most recent
    cache.put("c", c, 100)
    assert cache.get("b") is None and cache.get("a") is a and cache.get("c") is c
    cache.put("big", pydicom.Dataset(), 2 * 1024 * 1024)  # larger than the whole budget: not kept
    assert cache.get("big") is None and cache.get("c") is c
    cache.put("d", pydicom.Dataset(), 1024 * 1024 - 150)  # pushes the total over 1 MB: oldest go
    assert cache.get("a") is None


def _big_multiframe(frames: int) -> bytes:
    """An uncompressed multi-frame image of about ``frames`` × 1 MB (a long cine loop)."""
    ds = pydicom.dcmread(io.BytesIO(data("MR_small.dcm")))
    ds.Rows, ds.Columns, ds.NumberOfFrames = 512, 1024, frames
    ds.PixelData = np.arange(512 * 1024 * frames, dtype=np.uint16).tobytes()
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


async def test_a_large_stored_file_is_indexed_as_a_stream(db, world, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    import tracemalloc

    me = await subject_of(db, world.spoke_clinician)
    raw = _big_multiframe(40)  # 40 MB
    stored = await files.store_bytes(db, me, patient_id=world.patient_a.id, data=raw, filename="cine.dcm",
                                     allowed_kinds=frozenset({"dicom"}))
    del raw
    tracemalloc.start()
    try:
        got = await service.ingest_file(db, me, file_id=stored.id)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got.created and got.instance.number_of_frames == 40 and got.instance.rows == 512
    assert peak < 8 * 1024 * 1024, peak  # the header and a few chunks, never the whole file
    await db.rollback()


async def test_a_truncated_stored_file_is_refused_when_indexed(db, world, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    me = await subject_of(db, world.spoke_clinician)
    for name in ("CT_small.dcm", ULTRASOUND):
        raw = data(name)
        stored = await files.store_bytes(db, me, patient_id=world.patient_a.id, data=raw[:-1000],
                                         filename=name, allowed_kinds=frozenset({"dicom"}))
        with pytest.raises(dicom.BadDicom):
            await service.ingest_file(db, me, file_id=stored.id)
    await db.rollback()


# --------------------------------------------------------------------------- streamed PACS pull

def _one_study(names: list[str], study_uid: str) -> list[bytes]:
    """Bundled instances made into one study (new UIDs: content of this test only)."""
    from pydicom.uid import generate_uid

    series, out = generate_uid(), []
    for name in names:
        ds = pydicom.dcmread(io.BytesIO(data(name)))
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.PatientID, ds.PatientName = "PULL-1", "Thu^Nghiem"  # one patient in the PACS too
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append(buf.getvalue())
    return out


def _spools(rt) -> list:  # type: ignore[no-untyped-def]
    from pathlib import Path

    where = Path(rt.settings.files_dir) / "spool"
    return sorted(where.iterdir()) if where.exists() else []


async def test_pull_streams_a_study_of_several_instances_and_a_second_pull_adds_nothing(db, world, imaging_rt,
                                                                                      orthanc) -> None:  # type: ignore[no-untyped-def]
    from pydicom.uid import generate_uid

    me = await subject_of(db, world.spoke_clinician)
    study_uid = generate_uid()
    raws = _one_study(["CT_small.dcm", "MR_small_RLE.dcm", "JPEG2000.dcm", ULTRASOUND], study_uid)
    async with DicomWebClient(orthanc.dicomweb) as pacs:
        assert len((await pacs.store(raws)).stored) == 4
        sent = await pacs.retrieve_study(study_uid)  # what the PACS sends for the study
        before = await _file_count(db, world.patient_a.id)
        pulled = await service.pull_study(db, me, pacs, patient_id=world.patient_a.id, study_uid=study_uid)
        await db.commit()
        assert sorted(p.instance.sop_uid for p in pulled) == sorted(dicom.parse(r).sop_uid for r in raws)
        assert all(p.created and p.study.source == "pacs" for p in pulled)
        stored = [(await files.read_bytes(db, me, file_id=p.instance.file_id))[1] for p in pulled]
        assert sorted(stored) == sorted(sent)  # each instance stored byte for byte as the PACS sent it
        assert await _file_count(db, world.patient_a.id) == before + 4
        again = await service.pull_study(db, me, pacs, patient_id=world.patient_a.id, study_uid=study_uid)
        await db.commit()
        assert not any(p.created for p in again) and {p.instance.id for p in again} == {p.instance.id for p in pulled}
        assert await _file_count(db, world.patient_a.id) == before + 4
    assert _spools(imaging_rt) == []


async def test_pull_of_a_large_study_is_not_held_in_memory(db, world, imaging_rt, orthanc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import gc
    import hashlib
    import tracemalloc

    from pydicom.uid import generate_uid

    from tests.imaging.samples import big_instance

    me = await subject_of(db, world.spoke_clinician)
    study_uid = generate_uid()
    paths = [big_instance(tmp_path / f"{n}.dcm", 40, study_uid=study_uid) for n in range(3)]  # 3 x 20 MiB
    size = sum(p.stat().st_size for p in paths)
    assert size > 60 * 1024 * 1024
    async with DicomWebClient(orthanc.dicomweb, timeout=120) as pacs:
        for p in paths:
            assert (await pacs.store([p.read_bytes()])).stored
        gc.collect()
        tracemalloc.start()
        try:
            pulled = await service.pull_study(db, me, pacs, patient_id=world.patient_a.id, study_uid=study_uid)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    await db.commit()
    assert len(pulled) == 3 and all(p.created for p in pulled)
    stored = {(await db.get(ClinicalFile, p.instance.file_id)).sha256 for p in pulled}
    assert stored == {hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    assert peak < size / 4, (peak, size)
    assert _spools(imaging_rt) == []


async def _fake_pacs(answer: bytes):  # type: ignore[no-untyped-def]
    """A PACS on loopback that answers every request with ``answer`` (raw HTTP), then hangs up."""
    import asyncio

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/dicom-web"


async def test_pull_refuses_another_study_and_a_cut_answer_and_stores_nothing(db, world, imaging_rt) -> None:  # type: ignore[no-untyped-def]
    from pydicom.uid import generate_uid

    from telebridge.imaging import multipart

    me = await subject_of(db, world.spoke_clinician)
    wanted, other = generate_uid(), generate_uid()
    raws = _one_study(["CT_small.dcm"], wanted) + _one_study(["MR_small.dcm"], other)
    body, content_type = multipart.encode(raws)
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n".encode()
    before = await _file_count(db, world.patient_a.id)
    answers = {
        "another study": head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body,
        "cut off": head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:len(body) // 2],
        "no DICOM": head + b"Content-Length: 0\r\n\r\n",
    }
    for case, answer in answers.items():
        server, url = await _fake_pacs(answer)
        try:
            async with server, DicomWebClient(url, timeout=5) as pacs:
                if case == "cut off":
                    with pytest.raises(PacsUnavailable) as down:
                        await service.pull_study(db, me, pacs, patient_id=world.patient_a.id, study_uid=wanted)
                    assert down.value.message == "The image archive (PACS) cannot be reached right now; try again later."
                else:
                    with pytest.raises(BadInput) as refused:
                        await service.pull_study(db, me, pacs, patient_id=world.patient_a.id, study_uid=wanted)
                    if case == "another study":
                        assert refused.value.message == service.WRONG_STUDY
        finally:
            await db.rollback()
        assert await _file_count(db, world.patient_a.id) == before, case
        assert _spools(imaging_rt) == [], case

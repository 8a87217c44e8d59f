"""The screening workflow through /api/v1/auscultation on a real database and file store: a bridge
point uploads real recordings, the exam is flagged into its cardiology hub's worklist, a cardiologist
records a verdict; bad audio is refused with a clear message and nothing is stored; other facilities
are refused and the refusal is audited."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from telebridge.auscultation.models import AuscultationExam, AuscultationRecording, AuscultationVerdict
from telebridge.files.models import ClinicalFile
from telebridge.kit.audit import AuditEvent
from telebridge.messaging.models import Notification
from telebridge.patients.models import CareRelationship
from tests import factories

from .workflow import ABSENT, PRESENT, declare_cardiology, recording, reencoded, use_file_store

pytestmark = pytest.mark.usefixtures("circor_dir")


@pytest.fixture
async def ausc_world(world: factories.World, sessionmaker, tmp_path_factory) -> factories.World:  # type: ignore[no-untyped-def]
    use_file_store(tmp_path_factory)
    await declare_cardiology(sessionmaker, world)
    return world


async def _exam(client, world: factories.World, urgency: str = "routine") -> dict:  # type: ignore[no-untyped-def]
    assert world.patient_a
    r = await client.post("/api/v1/auscultation/exams", json={"patient_id": str(world.patient_a.id), "urgency": urgency})
    assert r.status_code == 201, r.text
    return r.json()


async def _upload(client, exam_id: str, site: str, data: bytes, name: str = "rec.flac"):  # type: ignore[no-untyped-def]
    return await client.post(f"/api/v1/auscultation/exams/{exam_id}/recordings", data={"site": site},
                             files={"file": (name, data, "application/octet-stream")})


async def _counts(sessionmaker, exam_id: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    async with sessionmaker() as db:
        recs = await db.scalar(select(func.count()).select_from(AuscultationRecording)
                               .where(AuscultationRecording.exam_id == uuid.UUID(exam_id)))
        files = await db.scalar(select(func.count()).select_from(ClinicalFile)
                                .where(ClinicalFile.context_id == uuid.UUID(exam_id)))
    return int(recs or 0), int(files or 0)


async def test_upload_flag_worklist_verdict(ausc_world: factories.World, as_user, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    w = ausc_world
    spoke, cardio = await as_user(w.spoke_clinician), await as_user(w.hub_specialist)
    exam = await _exam(spoke, w, "urgent")
    assert exam["hub_facility_id"] == str(w.hub_a.id) and exam["status"] == "analysing"
    # The hub may now read the patient: the screening request is the legal basis.
    async with sessionmaker() as db:
        care = await db.scalar(select(CareRelationship).where(CareRelationship.patient_id == w.patient_a.id,
                                                              CareRelationship.facility_id == w.hub_a.id))
    assert care is not None and care.basis == "auscultation_screening" and care.basis_ref == exam["id"]

    r = await _upload(spoke, exam["id"], "AV", recording(PRESENT, "AV"), f"{PRESENT}_AV.flac")
    assert r.status_code == 201, r.text
    body = r.json()
    rec = body["recording"]
    assert rec["quality_ok"] and rec["quality_code"] == "ok" and rec["murmur"] == "Present"
    assert 40 < rec["heart_rate_bpm"] < 250 and rec["sample_rate"] == 2000 and rec["channels"] == 1
    assert body["exam"]["status"] == "flagged" and body["exam"]["murmur"] == "Present"
    assert body["exam"]["model_version"].startswith("telebridge-murmur")
    r = await _upload(spoke, exam["id"], "PV", reencoded(PRESENT, "PV", rate=44100, channels=2), "pv.wav")
    assert r.status_code == 201, r.text
    assert r.json()["recording"]["sample_rate"] == 44100 and r.json()["recording"]["channels"] == 2
    assert r.json()["exam"]["recordings"] == 2

    # In the hub's worklist (and not in another hub's).
    r = await cardio.get("/api/v1/auscultation/worklist")
    assert r.status_code == 200
    assert exam["id"] in [i["id"] for i in r.json()["items"]]
    detail = (await cardio.get(f"/api/v1/auscultation/exams/{exam['id']}")).json()
    assert detail["may_give_verdict"] and not detail["may_add_recordings"]
    assert "not a diagnosis" in detail["disclaimer"] or "không phải" in detail["disclaimer"]
    # The cardiologist plays the original audio (through the files domain, audited).
    rec_id = detail["recording_results"][0]["id"]
    audio = await cardio.get(f"/api/v1/auscultation/recordings/{rec_id}/audio")
    assert audio.status_code == 200 and audio.content == recording(PRESENT, "AV")
    assert audio.headers["content-type"] == "audio/flac"

    r = await cardio.post(f"/api/v1/auscultation/exams/{exam['id']}/verdicts",
                          json={"murmur": "Present", "grade": 2, "timing": "systolic", "advice": "Siêu âm tim trong 2 tuần."})
    assert r.status_code == 201, r.text
    assert r.json()["agrees"] is True
    # The spoke sees the verdict; the exam left the queue; more recordings are refused.
    detail = (await spoke.get(f"/api/v1/auscultation/exams/{exam['id']}")).json()
    assert detail["status"] == "reviewed" and detail["verdicts"][0]["grade"] == 2
    assert detail["final_murmur"] == "Present"
    assert exam["id"] not in [i["id"] for i in (await cardio.get("/api/v1/auscultation/worklist")).json()["items"]]
    r = await _upload(spoke, exam["id"], "MV", recording(PRESENT, "AV"))
    assert r.status_code == 409
    async with sessionmaker() as db:
        notes = (await db.scalars(select(Notification).where(Notification.link == f"/auscultation/exams/{exam['id']}"))).all()
        reads = await db.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.actor_user_id == w.hub_specialist.id, AuditEvent.object_type == "clinical_file",
            AuditEvent.action == "read"))
    assert {n.kind for n in notes if n.user_id == w.hub_specialist.id} == {"auscultation_flagged"}
    assert {n.kind for n in notes if n.user_id == w.spoke_clinician.id} == {"auscultation_reviewed"}
    assert reads and reads >= 1


async def test_cleared_exam_stays_out_of_the_queue(ausc_world: factories.World, as_user) -> None:  # type: ignore[no-untyped-def]
    spoke, cardio = await as_user(ausc_world.spoke_clinician), await as_user(ausc_world.hub_specialist)
    exam = await _exam(spoke, ausc_world)
    r = await _upload(spoke, exam["id"], "AV", recording(ABSENT, "AV"))
    assert r.status_code == 201, r.text
    assert r.json()["exam"]["status"] == "cleared" and r.json()["exam"]["murmur"] == "Absent"
    queue = (await cardio.get("/api/v1/auscultation/worklist")).json()["items"]
    assert exam["id"] not in [i["id"] for i in queue]
    everything = (await cardio.get("/api/v1/auscultation/worklist", params={"status": "cleared"})).json()["items"]
    assert exam["id"] in [i["id"] for i in everything]
    mine = (await spoke.get("/api/v1/auscultation/exams")).json()["items"]
    assert [i["status"] for i in mine if i["id"] == exam["id"]] == ["cleared"]


async def test_worklist_order_urgency_then_probability(ausc_world: factories.World, as_user) -> None:  # type: ignore[no-untyped-def]
    spoke, cardio = await as_user(ausc_world.spoke_clinician), await as_user(ausc_world.hub_specialist)
    made = []
    for urgency, site in (("routine", "AV"), ("emergency", "PV"), ("routine", "PV"), ("urgent", "AV")):
        exam = await _exam(spoke, ausc_world, urgency)
        r = await _upload(spoke, exam["id"], site, recording(PRESENT, site))
        assert r.json()["exam"]["status"] == "flagged"
        made.append(r.json()["exam"])
    items = [i for i in (await cardio.get("/api/v1/auscultation/worklist")).json()["items"]
             if i["id"] in {m["id"] for m in made}]
    rank = {"emergency": 0, "urgent": 1, "routine": 2}
    keys = [(rank[i["urgency"]], -i["probability_present"]) for i in items]
    assert keys == sorted(keys) and len(items) == 4 and items[0]["urgency"] == "emergency"
    only = (await cardio.get("/api/v1/auscultation/worklist", params={"urgency": "urgent"})).json()["items"]
    assert {i["urgency"] for i in only} == {"urgent"}


@pytest.mark.parametrize("variant", ["stereo", "8-bit", "float32", "44k1", "mp3"])
async def test_device_formats_are_accepted(ausc_world: factories.World, as_user, variant: str) -> None:  # type: ignore[no-untyped-def]
    spoke = await as_user(ausc_world.spoke_clinician)
    exam = await _exam(spoke, ausc_world)
    data = {
        "stereo": lambda: reencoded(PRESENT, "AV", channels=2),
        "8-bit": lambda: reencoded(PRESENT, "AV", subtype="PCM_U8", rate=8000, gain=4.0),
        "float32": lambda: reencoded(PRESENT, "AV", subtype="FLOAT", rate=4000),
        "44k1": lambda: reencoded(PRESENT, "AV", rate=44100),
        "mp3": lambda: reencoded(PRESENT, "AV", rate=22050, fmt="MP3", subtype=None, gain=0.8),
    }[variant]()
    r = await _upload(spoke, exam["id"], "AV", data, "rec.mp3" if variant == "mp3" else "rec.wav")
    assert r.status_code == 201, r.text
    assert r.json()["recording"]["quality_ok"] is True and r.json()["exam"]["status"] in ("flagged", "cleared")


def _broken_mp3() -> bytes:
    data = bytearray(reencoded(PRESENT, "AV", rate=22050, fmt="MP3", subtype=None, gain=0.8))
    middle = len(data) // 2
    data[middle:middle + 300] = b"\x00" * 300
    return bytes(data)


@pytest.mark.parametrize(("name", "make", "status", "code", "words"), [
    ("clip.wav", lambda: reencoded(PRESENT, "AV", seconds=2.0), 422, "too_short", "5 giây"),
    ("broken.mp3", _broken_mp3, 422, "broken_mp3", "MP3"),
    ("notes.wav", lambda: b"This is a text file, not a recording.\n" * 50, 415, "not_audio", "WAV, FLAC"),
    ("scan.wav", lambda: b"%PDF-1.4\n" + b"0" * 4000, 415, "not_audio", "WAV, FLAC"),
    ("empty.wav", lambda: b"", 422, "empty", ""),
])
async def test_bad_audio_is_refused_and_nothing_is_stored(ausc_world: factories.World, as_user, sessionmaker,  # type: ignore[no-untyped-def]
                                                          name, make, status, code, words) -> None:
    spoke = await as_user(ausc_world.spoke_clinician)
    exam = await _exam(spoke, ausc_world)
    r = await _upload(spoke, exam["id"], "MV", make(), name)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and words in error["message"]
    assert await _counts(sessionmaker, exam["id"]) == (0, 0)
    detail = (await spoke.get(f"/api/v1/auscultation/exams/{exam['id']}")).json()
    assert detail["status"] == "analysing" and detail["recordings"] == 0


async def test_poor_quality_asks_to_re_record_never_absent(ausc_world: factories.World, as_user) -> None:  # type: ignore[no-untyped-def]
    import io

    import numpy as np
    import soundfile as sf

    spoke = await as_user(ausc_world.spoke_clinician)
    exam = await _exam(spoke, ausc_world)
    noise = np.random.default_rng(3).normal(0, 0.2, 4000 * 10)
    buf = io.BytesIO()
    sf.write(buf, noise, 4000, format="WAV", subtype="PCM_16")
    r = await _upload(spoke, exam["id"], "TV", buf.getvalue(), "noise.wav")
    assert r.status_code == 201, r.text
    rec, summary = r.json()["recording"], r.json()["exam"]
    assert rec["quality_ok"] is False and rec["murmur"] == "Unknown" and rec["quality_code"] == "noisy"
    assert "ghi lại" in rec["quality_message"]
    assert summary["status"] == "rejected_quality" and summary["murmur"] != "Absent"


async def test_other_facilities_are_refused_and_audited(ausc_world: factories.World, as_user, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    w = ausc_world
    spoke = await as_user(w.spoke_clinician)
    exam = await _exam(spoke, w)
    assert (await _upload(spoke, exam["id"], "AV", recording(PRESENT, "AV"))).status_code == 201
    for role in ("other_clinician", "hub_coordinator", "facility_admin", "sysadmin", "analyst_national"):
        c = await as_user(getattr(w, role))
        r = await c.get(f"/api/v1/auscultation/exams/{exam['id']}")
        if role == "hub_coordinator":  # the hub asked sees the exam, but may not give a verdict or add audio
            assert r.status_code == 200
            v = await c.post(f"/api/v1/auscultation/exams/{exam['id']}/verdicts",
                             json={"murmur": "Absent", "advice": "Không"})
            assert v.status_code == 403
            continue
        assert r.status_code == 403, role
        assert w.patient_a.full_name not in r.text
        rec_id = (await spoke.get(f"/api/v1/auscultation/exams/{exam['id']}")).json()["recording_results"][0]["id"]
        assert (await c.get(f"/api/v1/auscultation/recordings/{rec_id}/audio")).status_code == 403
        assert (await _upload(c, exam["id"], "PV", recording(PRESENT, "PV"))).status_code == 403
    other = await as_user(w.other_clinician)
    assert (await other.get("/api/v1/auscultation/worklist")).status_code == 403
    # A clinician of another facility cannot open an exam for a patient it does not care for.
    r = await other.post("/api/v1/auscultation/exams", json={"patient_id": str(w.patient_a.id)})
    assert r.status_code == 403
    async with sessionmaker() as db:
        denied = (await db.scalars(select(AuditEvent).where(
            AuditEvent.actor_user_id == w.other_clinician.id, AuditEvent.outcome == "denied"))).all()
    assert {(d.object_type, str(d.object_id)) for d in denied} >= {("auscultation_exam", exam["id"])}
    assert all(d.patient_id == w.patient_a.id for d in denied if d.object_type != "auscultation_worklist")


async def test_verdict_rules(ausc_world: factories.World, as_user, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    spoke, cardio = await as_user(ausc_world.spoke_clinician), await as_user(ausc_world.hub_specialist)
    exam = await _exam(spoke, ausc_world)
    url = f"/api/v1/auscultation/exams/{exam['id']}/verdicts"
    r = await cardio.post(url, json={"murmur": "Absent", "advice": "Không có tiếng thổi."})
    assert r.status_code == 409  # nothing to listen to yet
    await _upload(spoke, exam["id"], "AV", recording(PRESENT, "AV"))
    r = await cardio.post(url, json={"murmur": "Present", "advice": "Khám lại."})
    assert r.status_code == 400 and r.json()["error"]["field"] == "grade"
    r = await cardio.post(url, json={"murmur": "Present", "grade": 7, "advice": "x"})
    assert r.status_code == 422
    r = await cardio.post(url, json={"murmur": "Absent", "advice": "   "})
    assert r.status_code == 400
    r = await spoke.post(url, json={"murmur": "Absent", "advice": "Tự đánh giá"})
    assert r.status_code == 403
    r = await cardio.post(url, json={"murmur": "Absent", "advice": "Tiếng thổi cơ năng, không cần can thiệp."})
    assert r.status_code == 201 and r.json()["agrees"] is False and r.json()["algorithm_murmur"] == "Present"
    detail = (await spoke.get(f"/api/v1/auscultation/exams/{exam['id']}")).json()
    assert detail["final_murmur"] == "Absent" and detail["murmur"] == "Present"  # the verdict overrides
    async with sessionmaker() as db:
        n = await db.scalar(select(func.count()).select_from(AuscultationVerdict)
                            .where(AuscultationVerdict.exam_id == uuid.UUID(exam["id"])))
        e = await db.get(AuscultationExam, uuid.UUID(exam["id"]))
    assert n == 1 and e is not None and e.status == "reviewed"


async def test_export_labels_cli(ausc_world: factories.World, as_user, database_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import csv
    import os
    import sys

    spoke, cardio = await as_user(ausc_world.spoke_clinician), await as_user(ausc_world.hub_specialist)
    exam = await _exam(spoke, ausc_world)
    for site in ("AV", "PV"):
        assert (await _upload(spoke, exam["id"], site, recording(PRESENT, site))).status_code == 201
    r = await cardio.post(f"/api/v1/auscultation/exams/{exam['id']}/verdicts",
                          json={"murmur": "Present", "grade": 3, "timing": "systolic", "advice": "Chuyển tuyến."})
    assert r.status_code == 201
    out = tmp_path / "labels.csv"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telebridge.auscultation.cli", "export-labels", "--out", str(out),
        env={**os.environ, "TELEBRIDGE_DATABASE_URL": database_url}, stderr=asyncio.subprocess.PIPE)
    _out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    rows = [row for row in csv.DictReader(out.open(encoding="utf-8")) if row["exam_id"] == exam["id"]]
    assert sorted(row["site"] for row in rows) == ["AV", "PV"]
    assert {row["verdict_murmur"] for row in rows} == {"Present"} and {row["grade"] for row in rows} == {"3"}
    assert all(row["model_version"].startswith("telebridge-murmur") for row in rows)
    assert ausc_world.patient_a.full_name not in out.read_text(encoding="utf-8")

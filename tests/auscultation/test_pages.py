"""The auscultation pages in Vietnamese: new screening, upload form (no JavaScript), exam page with
waveform data, spectrogram and seekable audio, the hub worklist and the verdict form."""

from __future__ import annotations

import io

import pytest
import soundfile as sf

from tests import factories
from tests.conftest import csrf_of

from .workflow import PRESENT, declare_cardiology, recording, use_file_store

pytestmark = pytest.mark.usefixtures("circor_dir")


@pytest.fixture
async def ausc_world(world: factories.World, sessionmaker, tmp_path_factory) -> factories.World:  # type: ignore[no-untyped-def]
    use_file_store(tmp_path_factory)
    await declare_cardiology(sessionmaker, world)
    return world


async def test_spoke_and_hub_pages(ausc_world: factories.World, signed_in) -> None:  # type: ignore[no-untyped-def]
    w = ausc_world
    spoke = await signed_in(w.spoke_clinician)
    page = await spoke.get("/auscultation/new", params={"q": w.tag})
    assert page.status_code == 200 and "Sàng lọc mới" in page.text and w.patient_a.full_name in page.text
    assert w.patient_b.full_name not in page.text
    form = await spoke.get("/auscultation/new", params={"patient_id": str(w.patient_a.id)})
    r = await spoke.post("/auscultation/exams", data={"patient_id": str(w.patient_a.id), "urgency": "urgent",
                                                      "csrf_token": csrf_of(form.text)})
    assert r.status_code == 303
    exam_url = r.headers["location"]
    page = await spoke.get(exam_url)
    assert page.status_code == 200 and "Sàng lọc tiếng tim" in page.text and "Tải lên và phân tích" in page.text
    token = csrf_of(page.text)
    # Without JavaScript: the form posts multipart; a bad file re-renders the page with the message.
    bad = await spoke.post(exam_url + "/recordings", data={"site": "AV", "csrf_token": token},
                           files={"file": ("x.wav", b"not audio at all" * 10, "audio/wav")})
    assert bad.status_code == 415 and "WAV, FLAC hoặc MP3" in bad.text
    r = await spoke.post(exam_url + "/recordings", data={"site": "AV", "csrf_token": token},
                         files={"file": (f"{PRESENT}_AV.flac", recording(PRESENT, "AV"), "audio/flac")})
    assert r.status_code == 303, r.text
    page = await spoke.get(exam_url)
    assert "Có tiếng thổi" in page.text and "Chỉ hỗ trợ quyết định, không phải chẩn đoán" in page.text
    assert "telebridge-murmur" in page.text and "Cần nghe lại" in page.text
    mine = await spoke.get("/auscultation")
    assert exam_url.rsplit("/", 1)[1] in mine.text

    hub = await signed_in(w.hub_specialist)
    queue = await hub.get("/auscultation/worklist")
    assert queue.status_code == 200 and "Danh sách cần nghe lại" in queue.text
    assert exam_url.rsplit("/", 1)[1] in queue.text and w.patient_a.full_name in queue.text
    page = await hub.get(exam_url)
    assert 'id="verdict-form"' in page.text and 'id="upload-form"' not in page.text
    rec_id = page.text.split('data-id="', 1)[1].split('"', 1)[0]
    wave = (await hub.get(f"/auscultation/recordings/{rec_id}/waveform.json")).json()
    assert wave["duration"] > 5 and len(wave["min"]) == len(wave["max"]) > 500
    assert {s[2] for s in wave["segments"]} == {1, 2, 3, 4} and len(wave["beats"]) > 5
    png = await hub.get(f"/auscultation/recordings/{rec_id}/spectrogram.png")
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    whole = await hub.get(f"/auscultation/recordings/{rec_id}/audio")
    part = await hub.get(f"/auscultation/recordings/{rec_id}/audio", headers={"range": "bytes=100-199"})
    # CirCor audio is 2 kHz, below what browsers play: the listening copy is an 8 kHz WAV of it.
    listen, fs = sf.read(io.BytesIO(whole.content))
    original, fs0 = sf.read(io.BytesIO(recording(PRESENT, "AV")))
    assert fs == 8000 and fs0 == 2000 and len(listen) == 4 * len(original)
    assert whole.headers["content-type"] == "audio/wav" and whole.headers["accept-ranges"] == "bytes"
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"

    token = csrf_of(page.text)
    r = await hub.post(exam_url + "/verdict", data={"murmur": "Present", "grade": "", "advice": "Siêu âm tim.",
                                                    "csrf_token": token})
    assert r.status_code == 400 and "mức độ tiếng thổi" in r.text
    r = await hub.post(exam_url + "/verdict", data={"murmur": "Present", "grade": "3", "timing": "systolic",
                                                    "advice": "Siêu âm tim trong tuần này.", "csrf_token": token})
    assert r.status_code == 303
    page = await spoke.get(exam_url)
    assert "Nhận định của bác sĩ tim mạch" in page.text and "Mức độ 3/6" in page.text
    assert "Siêu âm tim trong tuần này." in page.text and "Bác sĩ tim mạch đã nhận định" in page.text


async def test_pages_refuse_other_facilities(ausc_world: factories.World, signed_in, as_user) -> None:  # type: ignore[no-untyped-def]
    w = ausc_world
    api = await as_user(w.spoke_clinician)
    exam = (await api.post("/api/v1/auscultation/exams", json={"patient_id": str(w.patient_a.id)})).json()
    other = await signed_in(w.other_clinician)
    r = await other.get(f"/auscultation/exams/{exam['id']}")
    assert r.status_code == 403 and w.patient_a.full_name not in r.text
    assert (await other.get("/auscultation/worklist")).status_code == 403

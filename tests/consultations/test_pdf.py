"""The minutes PDF (biên bản hội chẩn): parses, carries every conclusion, Vietnamese exactly."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from telebridge.consultations.pdf import (
    AddendumItem,
    CaseSummary,
    ConclusionItem,
    DiagnosisItem,
    FacilityRef,
    MinutesDocument,
    MinutesParticipant,
    PatientIdentity,
    SignatureItem,
    render_minutes_pdf,
)

HASH = hashlib.sha256(b"minutes content").hexdigest()


def sample(*, conclusions: int = 3, long: bool = False) -> MinutesDocument:
    history = ("Bệnh nhân nữ, 67 tuổi, tiền sử tăng huyết áp 10 năm, đái tháo đường type 2 điều trị không đều. "
               "Ba ngày nay sốt 38,5°C, ho khạc đờm vàng, khó thở tăng dần. ")
    return MinutesDocument(
        document_id="BBHC-2026-000123",
        requesting_facility=FacilityRef("Trạm Y tế xã Đông Anh", "01234"),
        consulting_facility=FacilityRef("Bệnh viện Bạch Mai", "01001"),
        patient=PatientIdentity("Nguyễn Thị Ánh", date(1959, 3, 14), "female", "001159012345",
                                "Thôn Ngọc Chi, xã Vĩnh Ngọc, Thành phố Hà Nội"),
        mode="remote_consultation",
        session_start=datetime(2026, 11, 23, 1, 30, tzinfo=UTC),  # 08:30 in Hà Nội
        session_end=datetime(2026, 11, 23, 2, 15, tzinfo=UTC),
        participants=[
            MinutesParticipant("Trần Văn Đức", "PGS.TS.BS", "001234/BYT-CCHN", "Bệnh viện Bạch Mai", "chair"),
            MinutesParticipant("Lê Thị Hằng", "BSCKI", "004567/HNO-CCHN", "Bệnh viện Bạch Mai", "secretary"),
            MinutesParticipant("Phạm Quốc Hưng", "BS", "007890/HNO-CCHN", "Trạm Y tế xã Đông Anh", "participant"),
        ],
        case_summary=CaseSummary(
            history=history * (40 if long else 1),
            examination="Tỉnh, tiếp xúc tốt. Ran nổ đáy phổi phải.",
            vital_signs="Mạch 102 l/p, HA 150/90 mmHg, nhịp thở 24 l/p, SpO₂ 92%, nhiệt độ 38,5°C.",
            investigations="X-quang ngực: đám mờ thuỳ dưới phổi phải. Bạch cầu 15,2 G/L, CRP 86 mg/L.",
            current_treatment="Paracetamol 500 mg × 3 lần/ngày; Amlodipin 5 mg/ngày.",
        ),
        question="Có cần chuyển tuyến không?",
        discussion="Các thành viên thống nhất chẩn đoán viêm phổi mắc phải cộng đồng mức độ trung bình. " * (30 if long else 1),
        conclusions=[ConclusionItem(f"Vấn đề số {n}: đánh giá mức độ nặng", f"Kết luận cho vấn đề {n}: điều trị tại chỗ, "
                                    "theo dõi sát SpO₂ mỗi 4 giờ.") for n in range(1, conclusions + 1)],
        diagnoses=[DiagnosisItem("J18.9", "Viêm phổi, không đặc hiệu"),
                   DiagnosisItem("I10", "Bệnh lý tăng huyết áp")],
        recommendation="treat_locally",
        recommendation_text="Ceftriaxon 2 g/ngày tiêm tĩnh mạch; tái hội chẩn nếu SpO₂ < 90%.",
        signatures=[SignatureItem("Trần Văn Đức", "chair", datetime(2026, 11, 23, 2, 20, tzinfo=UTC), HASH),
                    SignatureItem("Lê Thị Hằng", "secretary", datetime(2026, 11, 23, 2, 18, tzinfo=UTC), HASH)],
        addenda=[AddendumItem("Đính chính: liều Amlodipin là 5 mg, không phải 10 mg.", "Lê Thị Hằng",
                              datetime(2026, 11, 23, 3, 0, tzinfo=UTC), hashlib.sha256(b"addendum").hexdigest())],
        content_hash=HASH,
    )


def text_of(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def test_minutes_pdf_carries_the_form_in_vietnamese_with_exact_diacritics() -> None:
    pdf = render_minutes_pdf(sample())
    assert pdf.startswith(b"%PDF-")
    pages, text = text_of(pdf)
    assert pages >= 1
    for expected in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "BIÊN BẢN HỘI CHẨN TỪ XA",
                     "Nguyễn Thị Ánh", "14/03/1959", "001159012345", "Trạm Y tế xã Đông Anh", "01234",
                     "Bệnh viện Bạch Mai", "Hội chẩn từ xa giữa các cơ sở", "Kết luận", "Chủ trì", "Thư ký",
                     "001234/BYT-CCHN", "PGS.TS.BS", "J18.9", "Viêm phổi, không đặc hiệu",
                     "Điều trị tại cơ sở đề nghị hội chẩn", "Ceftriaxon 2 g/ngày", "SpO₂ 92%",
                     "vẫn chịu trách nhiệm", "Đính chính: liều Amlodipin", HASH):
        assert expected in text, expected
    # Times are shown in Vietnam's time zone: 01:30 UTC is 08:30 in Hà Nội.
    assert "08:30 23/11/2026" in text and "09:15 23/11/2026" in text
    assert "Trang 1/" in text or "Trang 1 /" in text


def test_every_conclusion_is_present_and_long_text_runs_over_pages() -> None:
    doc = sample(conclusions=25, long=True)
    pages, text = text_of(render_minutes_pdf(doc))
    assert pages >= 3
    flat = " ".join(text.split())
    for n in range(1, 26):
        assert f"Kết luận cho vấn đề {n}: điều trị tại chỗ" in flat, n
    assert flat.count("Vấn đề số") == 25
    assert f"Trang {pages}/{pages}" in flat or f"Trang {pages} / {pages}" in flat
    # the last sentence of the long discussion is not cut off
    assert flat.count("Các thành viên thống nhất chẩn đoán viêm phổi") == 30


def test_english_labels_and_provisional_identity() -> None:
    doc = replace(sample(), patient=PatientIdentity("Nguyễn Thị Ánh", None, "female", None, None),
                  recommendation="transfer", signatures=[], signed=False)
    _pages, text = text_of(render_minutes_pdf(doc, lang="en"))
    for expected in ("TELECONSULTATION MINUTES", "SOCIALIST REPUBLIC OF VIET NAM", "Conclusions, issue by issue",
                     "provisional identity", "Transfer the patient", "Nguyễn Thị Ánh", "DRAFT", "Not signed"):
        assert expected in text, expected
    _pages, vi = text_of(render_minutes_pdf(doc))
    assert "định danh tạm thời" in vi and "Chuyển tuyến người bệnh" in vi


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        render_minutes_pdf(replace(sample(), session_start=datetime(2026, 11, 23, 8, 30)))


def test_sample_png_for_a_human(artifacts: Path) -> None:
    """Renders page 1 to PNG (poppler's pdftoppm) so a person can check the diacritics by eye."""
    pdf = render_minutes_pdf(sample(conclusions=4, long=True))
    target = artifacts / "minutes-sample.pdf"
    target.write_bytes(pdf)
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (Debian poppler-utils) is not installed; `make system-deps` installs it")
    subprocess.run(["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "2", str(target),
                    str(artifacts / "minutes-sample")], check=True, timeout=60)
    pngs = sorted(artifacts.glob("minutes-sample-*.png"))
    assert len(pngs) >= 2 and all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)


def test_sparse_minutes_and_awkward_text_still_render() -> None:
    empty = replace(sample(), participants=[], conclusions=[], diagnoses=[], signatures=[], addenda=[],
                    discussion=None, recommendation=None, content_hash=None, session_start=None, session_end=None)
    _pages, text = text_of(render_minutes_pdf(empty))
    assert "không ghi nhận" in text and "Chưa ký" in text
    crowded = replace(sample(), discussion="x" * 3000 + " ctrl\x00\x07 end",
                      participants=[MinutesParticipant(f"Người tham gia {i}", "BS", "001234/BYT-CCHN",
                                                       "Trạm Y tế xã Đông Anh", "participant") for i in range(60)])
    pages, text = text_of(render_minutes_pdf(crowded))
    assert pages >= 3 and "Người tham gia 59" in text and "\x00" not in text
    assert text.count("Số chứng chỉ hành nghề") >= 2  # the table's heading repeats on the next page

"""imaging.dicom: parse, render and de-identify pydicom's bundled examples; refuse bad input."""

from __future__ import annotations

import io
from datetime import date

import numpy as np
import pydicom
import pytest
from PIL import Image

from telebridge.imaging import dicom
from telebridge.kit import i18n
from telebridge.kit.errors import BadInput, NotFound
from tests.imaging.samples import BUNDLED, ULTRASOUND, data


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_examples_parse_and_render_every_syntax(name: str) -> None:
    modality, frames, _ = BUNDLED[name]
    raw = data(name)
    info = dicom.parse(raw)
    assert info.modality == modality and info.number_of_frames == frames and info.has_pixels
    assert info.study_uid and info.series_uid and info.sop_uid
    for frame in {1, frames}:
        png = dicom.render(raw, frame)
        img = Image.open(io.BytesIO(png))
        assert img.format == "PNG" and img.size == (info.columns, info.rows)
        assert np.asarray(img).std() > 1, "a rendered frame must not be blank"
    jpeg = Image.open(io.BytesIO(dicom.render(raw, 1, fmt="jpeg")))
    assert jpeg.format == "JPEG"


def test_index_fields_of_ct() -> None:
    info = dicom.parse(data("CT_small.dcm"))
    ds = pydicom.dcmread(io.BytesIO(data("CT_small.dcm")))
    assert info.patient_name == str(ds.PatientName).replace("^", " ").strip()
    assert info.patient_id == ds.PatientID and info.patient_sex == ds.PatientSex
    assert info.study_date == date(int(ds.StudyDate[:4]), int(ds.StudyDate[4:6]), int(ds.StudyDate[6:]))
    assert (info.rows, info.columns) == (128, 128)


def test_multiframe_ultrasound_frames_differ_and_out_of_range_is_404() -> None:
    raw = data(ULTRASOUND)
    ds = dicom.read(raw)
    first, last = dicom.frame_pixels(ds, 1), dicom.frame_pixels(ds, 30)
    assert first.shape == (240, 320, 3) and not np.array_equal(first, last)
    with pytest.raises(NotFound) as exc:
        dicom.render_frame(ds, 31)
    assert "30" in exc.value.translated()


def test_window_level_and_rescale_are_applied() -> None:
    ds = dicom.read(data("CT_small.dcm"))
    stored = dicom.frame_pixels(ds, 1).astype(float) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    narrow = np.asarray(Image.open(io.BytesIO(dicom.render_frame(ds, 1, window=dicom.Window(40, 80)))))
    wide = np.asarray(Image.open(io.BytesIO(dicom.render_frame(ds, 1, window=dicom.Window(40, 2000)))))
    # Below the narrow window's floor (HU < 0) is black, above its ceiling (HU > 80) white.
    assert (narrow[stored < -1] == 0).all() and (narrow[stored > 81] == 255).all()
    assert not np.array_equal(narrow, wide)
    with pytest.raises(BadInput):
        dicom.Window(40, 0)


def test_monochrome1_is_inverted() -> None:
    ds = dicom.read(data("CT_small.dcm"))
    normal = np.asarray(Image.open(io.BytesIO(dicom.render_frame(ds, 1, window=dicom.Window(40, 400)))))
    ds.PhotometricInterpretation = "MONOCHROME1"
    inverted = np.asarray(Image.open(io.BytesIO(dicom.render_frame(ds, 1, window=dicom.Window(40, 400)))))
    assert np.array_equal(inverted, 255 - normal)


def test_ybr_is_rendered_as_rgb() -> None:
    img = Image.open(io.BytesIO(dicom.render(data("SC_rgb_jpeg_dcmtk.dcm"))))
    arr = np.asarray(img.convert("RGB")).astype(int)
    # The dcmtk test image has pure red, green and blue bands; YBR left unconverted would not.
    top = arr[5, 50]
    assert top[0] > 200 and top[1] < 60 and top[2] < 60


@pytest.mark.parametrize("cut", [200, 1000, 5000, 100_000, -10])
def test_truncated_dicom_is_refused_clearly(cut: int) -> None:
    raw = data(ULTRASOUND)
    i18n.set_locale("en")
    with pytest.raises(dicom.BadDicom) as exc:
        dicom.parse(raw[:cut])
    assert exc.value.status == 422 and "incomplete" in exc.value.translated()
    i18n.set_locale("vi")
    assert "không đầy đủ" in exc.value.translated()


def test_truncated_uncompressed_dicom_is_refused() -> None:
    raw = data("CT_small.dcm")
    with pytest.raises(dicom.BadDicom):
        dicom.parse(raw[:-1000])


@pytest.mark.parametrize("raw", [b"", b"%PDF-1.7\n" + b"0" * 500, b"\x00" * 128 + b"DIC", b"MZ" + b"\x00" * 300])
def test_non_dicom_is_refused_with_415(raw: bytes) -> None:
    i18n.set_locale("en")
    with pytest.raises(dicom.NotDicom) as exc:
        dicom.parse(raw)
    assert exc.value.status == 415 and "not a DICOM file" in exc.value.translated()


def test_deidentify_applies_basic_profile_and_warns_about_burnt_in_text() -> None:
    raw = data(ULTRASOUND)
    original = pydicom.dcmread(io.BytesIO(raw))
    first = dicom.deidentify(raw, salt="export-1")
    again = dicom.deidentify(raw, salt="export-1")
    other = dicom.deidentify(raw, salt="export-2")
    ds = pydicom.dcmread(io.BytesIO(first.data))
    assert ds.PatientIdentityRemoved == "YES" and ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert str(ds.PatientName) == "TEACHING" and ds.PatientBirthDate == "" and "InstitutionName" not in ds
    assert ds.StudyInstanceUID != original.StudyInstanceUID and ds.SOPInstanceUID != original.SOPInstanceUID
    assert ds.SOPClassUID == original.SOPClassUID  # well-known UIDs are kept
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert first.study_uid == again.study_uid != other.study_uid  # consistent within one export only
    assert not any(e.tag.is_private for e in ds)
    assert original.PatientName and str(original.PatientName) not in first.data.decode("latin-1")
    assert first.filename.endswith(".dcm") and original.SOPInstanceUID not in first.filename
    assert [w for w, _ in first.warnings] == [dicom.WARN_BURNT_IN_UNKNOWN]
    assert np.array_equal(dicom.frame_pixels(ds, 5), dicom.frame_pixels(original, 5))


def test_deidentify_warnings_follow_burned_in_annotation() -> None:
    ds = pydicom.dcmread(io.BytesIO(data("CT_small.dcm")))
    assert dicom.deidentify(data("CT_small.dcm"), salt="s").warnings == []  # CT, not flagged
    for flag, expected in (("YES", [dicom.WARN_BURNT_IN]), ("NO", [])):
        ds.BurnedInAnnotation = flag
        buf = io.BytesIO()
        ds.save_as(buf)
        assert [w for w, _ in dicom.deidentify(buf.getvalue(), salt="s").warnings] == expected


def test_every_cut_of_a_file_is_refused() -> None:
    raw = data("CT_small.dcm")
    for cut in range(132, len(raw) - 1, 97):
        with pytest.raises((dicom.BadDicom, dicom.NotDicom)):
            dicom.parse(raw[:cut])


def test_fast_jpeg_baseline_path_matches_pydicom() -> None:
    ds = dicom.read(data(ULTRASOUND))
    for frame in (1, 15, 30):
        fast = dicom._pillow_frame(ds, frame - 1, 30)
        reference = pydicom.pixels.pixel_array(ds, index=frame - 1, as_rgb=True)
        assert fast is not None and fast.shape == reference.shape
        assert np.abs(fast.astype(int) - reference.astype(int)).max() <= 4  # chroma upsampling only
    rgb = dicom.read(data("SC_rgb_rle.dcm"))  # not JPEG: the generic path
    assert dicom._pillow_frame(rgb, 0, 1) is None


def _streamed(raw: bytes, cuts: list[int]) -> dicom.DicomInfo:
    parser = dicom.StreamParser()
    for start, end in zip([0, *cuts], [*cuts, len(raw)], strict=True):
        parser.feed(raw[start:end])
    return parser.finish()


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_a_file_read_in_chunks_parses_as_a_whole_and_truncation_is_caught(name: str) -> None:
    raw = data(name)
    whole = dicom.parse(raw)
    pixels = raw.find(b"\xe0\x7f\x10\x00")
    for cut in [*range(133, len(raw), max(211, len(raw) // 40)), *range(pixels - 16, pixels + 16)]:  # and near pixels
        assert _streamed(raw, [cut]) == whole, cut
    assert _streamed(raw, list(range(97, len(raw), 97))) == whole
    for end in [*range(len(raw) - 12, len(raw)), len(raw) // 2, pixels + 5, pixels + 13, 300]:
        with pytest.raises((dicom.BadDicom, dicom.NotDicom)):
            _streamed(raw[:end], list(range(4096, end, 4096)))


def test_a_file_read_in_chunks_must_be_dicom() -> None:
    with pytest.raises(dicom.NotDicom):
        _streamed(b"%PDF-1.7\n" + b"x" * 400, [200])


def _object_without_pixels(value_size: int) -> bytes:
    """A DICOM object with no Pixel Data whose early private value holds the Pixel Data tag's bytes."""
    ds = dicom.read(data(ULTRASOUND))
    for keyword in ("PixelData", "Rows", "Columns"):
        delattr(ds, keyword)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.104.1"  # Encapsulated PDF
    ds.add_new(0x00091010, "OB", b"\xe0\x7f\x10\x00" * 4 + b"\x00" * value_size)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_a_tag_like_pattern_does_not_make_every_chunk_reparse_the_header(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    raw = _object_without_pixels(600_000)
    tries = []
    original = dicom.StreamParser._try_header
    monkeypatch.setattr(dicom.StreamParser, "_try_header", lambda self: (tries.append(1), original(self))[1])
    info = _streamed(raw, list(range(4096, len(raw), 4096)))  # about 150 chunks
    assert info == dicom.parse(raw)
    assert len(tries) <= 3, len(tries)  # once when the pattern arrives (and a retry at most), not per chunk


def test_a_header_past_the_limit_is_refused_with_a_clear_message(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(dicom.StreamParser, "MAX_HEAD", 1024 * 1024)
    raw = _object_without_pixels(1_500_000)
    parser = dicom.StreamParser()
    with pytest.raises(dicom.BadDicom) as refused:
        for at in range(0, len(raw), 4096):
            parser.feed(raw[at:at + 4096])
    assert at < 1024 * 1024 + 4096  # refused as soon as the limit was passed, not at the end
    assert refused.value.code == "bad_dicom"
    assert refused.value.translated() == (
        "This DICOM object has more than 1 MB before its images (or no images at all): it cannot be stored as DICOM.")

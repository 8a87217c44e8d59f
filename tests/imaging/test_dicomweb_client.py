"""The DICOMweb client against a real Orthanc (DICOMweb plugin) on loopback."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest

from telebridge.imaging import dicom, multipart
from telebridge.imaging.dicomweb import DicomWebClient, PacsUnavailable, tag_value
from telebridge.kit import i18n
from telebridge.kit.errors import BadInput, NotFound
from tests.imaging import orthanc as orthanc_server
from tests.imaging.samples import ULTRASOUND, data


def test_multipart_round_trip_and_bad_bodies() -> None:
    parts = [b"first\r\n--not-a-boundary", b"", b"\x00\x01third"]
    body, content_type = multipart.encode(parts)
    assert [p for _, p in multipart.decode(body, content_type)] == parts
    with pytest.raises(BadInput):
        multipart.decode(body[:-20], content_type)  # no closing delimiter
    with pytest.raises(BadInput):
        multipart.decode(body, "application/dicom")


async def test_stow_qido_wado_round_trip(orthanc: orthanc_server.Orthanc) -> None:
    raw = data(ULTRASOUND)
    info = dicom.parse(raw)
    ct = data("CT_small.dcm")
    async with DicomWebClient(orthanc.dicomweb) as pacs:
        result = await pacs.store([raw, ct])
        assert sorted(result.stored) == sorted([info.sop_uid, dicom.parse(ct).sop_uid]) and not result.failed

        studies = await pacs.search_studies(StudyInstanceUID=info.study_uid)
        assert [tag_value(s, "0020000D") for s in studies] == [info.study_uid]
        assert tag_value(studies[0], "00100020") == info.patient_id
        assert await pacs.search_studies(PatientID="nobody-has-this-id") == []
        series = await pacs.search_series(info.study_uid)
        assert [tag_value(s, "0020000E") for s in series] == [info.series_uid]
        assert tag_value(series[0], "00080060") == "US"
        instances = await pacs.search_instances(info.study_uid, info.series_uid)
        assert [tag_value(i, "00080018") for i in instances] == [info.sop_uid]

        pulled = await pacs.retrieve_study(info.study_uid)
        assert len(pulled) == 1
        back = pydicom.dcmread(io.BytesIO(pulled[0]))
        original = pydicom.dcmread(io.BytesIO(raw))
        assert back.SOPInstanceUID == info.sop_uid and int(back.NumberOfFrames) == 30
        assert back.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID  # untouched, no transcoding
        assert np.array_equal(dicom.frame_pixels(back, 17), dicom.frame_pixels(original, 17))
        single = await pacs.retrieve_instance(info.study_uid, info.series_uid, info.sop_uid)
        assert dicom.parse(single).sop_uid == info.sop_uid

        jpeg = await pacs.rendered_frame(info.study_uid, info.series_uid, info.sop_uid, 3)
        assert jpeg[:2] == b"\xff\xd8"

        with pytest.raises(NotFound):
            await pacs.retrieve_study("1.2.3.4.5.6.7.8.9")


async def test_pacs_down_is_a_clear_error() -> None:
    port = orthanc_server.free_port()  # nothing listens there
    i18n.set_locale("en")
    async with DicomWebClient(f"http://127.0.0.1:{port}/dicom-web", timeout=5) as pacs:
        with pytest.raises(PacsUnavailable) as exc:
            await pacs.search_studies()
    assert exc.value.status == 502 and "cannot be reached" in exc.value.translated()

"""DICOM without a database: parse and index, render a frame, de-identify for teaching.

Pure functions on bytes (pydicom, with the pylibjpeg plugins for JPEG baseline/extended/
lossless, JPEG-LS, JPEG 2000 and RLE). Bad input raises translated domain errors: a file
that is not DICOM Part 10 is refused with 415, a truncated or undecodable one with 422.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import struct
import warnings
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pydicom
import pydicom.filereader
import pydicom.pixels
from PIL import Image
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileDataset
from pydicom.encaps import get_frame
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, generate_uid

from telebridge.kit.errors import BadInput, DomainError, NotFound
from telebridge.kit.i18n import N_

DICOM_MEDIA_TYPE = "application/dicom"
RENDER_FORMATS = {"png": "image/png", "jpeg": "image/jpeg"}


class NotDicom(DomainError):
    status = 415
    code = "not_dicom"


class BadDicom(DomainError):
    status = 422
    code = "bad_dicom"


NOT_DICOM = N_("This file is not a DICOM file (Part 10 with the 'DICM' header).")
TRUNCATED = N_("This DICOM file is incomplete (truncated): send the whole file again.")
UNDECODABLE = N_("The images in this DICOM file cannot be decoded ({reason}).")
NO_UID = N_("This DICOM file lacks its study, series or instance identifier.")
NO_PIXELS = N_("This DICOM object holds no image.")
HEAD_TOO_LARGE = N_("This DICOM object has more than {mb} MB before its images (or no images at all): it cannot be "
                    "stored as DICOM.")
NO_FRAME = N_("Frame {frame} does not exist: this image has {frames} frame(s).")
BAD_WINDOW = N_("The window width must be a positive number.")


# --------------------------------------------------------------------------- parsing

@dataclass(frozen=True)
class DicomInfo:
    """The index fields of one instance (strings as found, trimmed; dates parsed)."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    patient_name: str | None
    patient_id: str | None
    patient_birth_date: date | None
    patient_sex: str | None
    modality: str | None
    study_date: date | None
    study_description: str | None
    series_description: str | None
    series_number: int | None
    instance_number: int | None
    accession_number: str | None
    number_of_frames: int
    rows: int | None
    columns: int | None
    has_pixels: bool


def _text(ds: Dataset, keyword: str, limit: int = 200) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    text = str(value).replace("^", " ").strip() if keyword.endswith("Name") else str(value).strip()
    return text[:limit] or None


def _date(ds: Dataset, keyword: str) -> date | None:
    raw = str(ds.get(keyword) or "").strip()
    if len(raw) != 8 or not raw.isdigit():
        return None
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        return None


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def read(data: bytes, *, stop_before_pixels: bool = False) -> FileDataset:
    """Read DICOM Part 10 bytes; refuse anything else, refuse truncated files."""
    if len(data) < 132 or data[128:132] != b"DICM":
        raise NotDicom(NOT_DICOM)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=stop_before_pixels)
        except InvalidDicomError:
            raise NotDicom(NOT_DICOM) from None
        except (EOFError, ValueError, KeyError, TypeError, NotImplementedError, OverflowError, MemoryError):
            raise BadDicom(TRUNCATED) from None
    if any("End of file reached" in str(w.message) for w in caught) or _short_element(ds):
        raise BadDicom(TRUNCATED)
    if not stop_before_pixels:
        _check_pixel_length(ds)
    return ds


def _short_element(ds: Dataset) -> bool:
    """pydicom keeps an element cut off by the end of the bytes, shorter than its declared length."""
    undefined = 0xFFFFFFFF
    for elem in ds._dict.values():  # still raw: nothing has been converted yet
        if isinstance(elem, RawDataElement) and elem.length != undefined and elem.value is not None \
                and len(elem.value) < elem.length:
            return True
    return False


def _check_pixel_length(ds: Dataset, length: int | None = None) -> None:
    """An image whose pixel data went missing or is short was cut off in transit (``length``: of
    the pixel data when ``ds`` was read without it)."""
    if "Rows" not in ds or "Columns" not in ds:
        sop_class = ds.get("SOPClassUID")
        if sop_class is not None and "Image Storage" in UID(str(sop_class)).name:
            raise BadDicom(TRUNCATED)  # an image object that ended before its image
        return
    if length is None and "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise BadDicom(TRUNCATED)
    if (length is not None or "PixelData" in ds) and not ds.file_meta.TransferSyntaxUID.is_compressed:
        bits = int(ds.get("BitsAllocated", 8))
        expected = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1)) * _frames(ds) * bits // 8
        if ds.get("PhotometricInterpretation") == "YBR_FULL_422":
            expected = expected * 2 // 3
        if (len(ds.PixelData) if length is None else length) < expected:
            raise BadDicom(TRUNCATED)


def _frames(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def info_of(ds: Dataset) -> DicomInfo:
    study, series, sop = (str(ds.get(k) or "").strip() for k in
                          ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"))
    if not (study and series and sop):
        # pydicom stops quietly at the end of the bytes: a file that ends before the
        # identifiers (group 0020) was cut off, one that has passed them lacks them.
        ended_early = len(ds) == 0 or max(int(t) for t in ds.keys())  # noqa: SIM118 - tags, unconverted < 0x0020000E
        raise BadDicom(TRUNCATED if ended_early else NO_UID)
    meta = getattr(ds, "file_meta", Dataset())
    return DicomInfo(
        study_uid=study, series_uid=series, sop_uid=sop,
        sop_class_uid=str(ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID") or ""),
        transfer_syntax_uid=str(meta.get("TransferSyntaxUID") or ""),
        patient_name=_text(ds, "PatientName"), patient_id=_text(ds, "PatientID", 64),
        patient_birth_date=_date(ds, "PatientBirthDate"), patient_sex=_text(ds, "PatientSex", 16),
        modality=_text(ds, "Modality", 16), study_date=_date(ds, "StudyDate"),
        study_description=_text(ds, "StudyDescription"), series_description=_text(ds, "SeriesDescription"),
        series_number=_int(ds, "SeriesNumber"), instance_number=_int(ds, "InstanceNumber"),
        accession_number=_text(ds, "AccessionNumber", 64),
        number_of_frames=_frames(ds), rows=_int(ds, "Rows"), columns=_int(ds, "Columns"),
        has_pixels="PixelData" in ds,
    )


def parse(data: bytes) -> DicomInfo:
    """Index fields of DICOM bytes, after checking the file is whole."""
    return info_of(read(data))


_SEQUENCE_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"  # (FFFE,E0DD), length 0: end of encapsulated pixel data
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})


class StreamParser:
    """:func:`parse` for a file read in chunks (a stored file of several GB): only the header (the
    elements before Pixel Data) and the last bytes are kept in memory. The pixel data is checked
    against its declared length, or, encapsulated, for its closing delimiter."""

    TAIL = 64 * 1024
    MAX_HEAD = 64 * 1024 * 1024  # what may come before Pixel Data (or make up an object without any)
    _TAGS = (b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10")  # Pixel Data, little and big endian

    def __init__(self) -> None:
        self._head = bytearray()
        self._header: tuple[FileDataset, int] | None = None  # the dataset, where Pixel Data starts
        self._after = 0  # bytes after the head
        self._tail = b""
        self._short = False  # the header parsed up to Pixel Data, whose length had not arrived yet

    def feed(self, chunk: bytes) -> None:
        if self._header is not None:
            self._after += len(chunk)
            self._tail = (self._tail + chunk)[-self.TAIL:]
            return
        new = max(0, len(self._head) - 3)  # a tag may straddle two chunks
        self._head += chunk
        if len(self._head) >= 132 and self._head[128:132] != b"DICM":
            raise NotDicom(NOT_DICOM)
        # Parsed again only when a possible Pixel Data tag arrives (or its length was missing):
        # a tag-like pattern inside an early value cannot make every later chunk re-read the head.
        if self._short or any(self._head.find(tag, new) >= 0 for tag in self._TAGS):
            self._try_header()
        if self._header is None and len(self._head) > self.MAX_HEAD:
            raise BadDicom(HEAD_TOO_LARGE, mb=self.MAX_HEAD // (1024 * 1024))

    def _try_header(self) -> None:
        self._short = False
        fp = io.BytesIO(self._head)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(fp, stop_before_pixels=True)
        except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError, NotImplementedError, OverflowError,
                struct.error):
            return  # an incomplete header: wait for more bytes
        at = fp.tell()
        tag = self._TAGS[0] if ds.original_encoding[1] else self._TAGS[1]
        if self._head[at:at + 4] == tag:  # (a tag cut by the chunk's end is found whole in the next one)
            if len(self._head) >= at + 12:  # with the element's length
                self._header = (ds, at)
                self._tail = bytes(self._head[-self.TAIL:])
            else:
                self._short = True

    def finish(self) -> DicomInfo:
        if self._header is None:  # no pixel data (or not DICOM): small enough to parse whole
            return parse(bytes(self._head))
        ds, at = self._header
        head = bytes(self._head[:at])
        read(head, stop_before_pixels=True)  # the header's own checks (short elements, end of file)
        implicit, little = ds.original_encoding
        order = "little" if little else "big"
        vr = bytes(self._head[at + 4:at + 6])
        if implicit or vr not in _LONG_VRS:
            start, size = at + 8, self._head[at + 4:at + 8] if implicit else self._head[at + 6:at + 8]
        else:
            start, size = at + 12, self._head[at + 8:at + 12]
        total = len(self._head) + self._after
        if len(size) not in (2, 4) or total < start:
            raise BadDicom(TRUNCATED)
        length = int.from_bytes(size, order)
        if length == 0xFFFFFFFF:
            end = self._tail.rfind(_SEQUENCE_END, max(0, start - (total - len(self._tail))))  # not a header's
            if end < 0:
                raise BadDicom(TRUNCATED)
            trailing = self._tail[end + len(_SEQUENCE_END):]
        else:
            if start + length > total:
                raise BadDicom(TRUNCATED)
            _check_pixel_length(ds, length)
            trailing = self._tail[len(self._tail) - (total - start - length):] if total - start - length else b""
        _check_trailing(trailing, implicit, little)
        return dataclasses.replace(info_of(ds), has_pixels=True)


def _check_trailing(data: bytes, implicit: bool, little: bool) -> None:
    """Elements after the pixel data (padding, usually) must be whole too."""
    if not data:
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rest = pydicom.filereader.read_dataset(io.BytesIO(data), implicit, little)
        except (EOFError, ValueError, KeyError, TypeError, NotImplementedError, OverflowError, MemoryError):
            raise BadDicom(TRUNCATED) from None
    if any("End of file reached" in str(w.message) for w in caught) or _short_element(rest):
        raise BadDicom(TRUNCATED)


# --------------------------------------------------------------------------- rendering

@dataclass(frozen=True)
class Window:
    center: float
    width: float

    def __post_init__(self) -> None:
        if not self.width > 0:
            raise BadInput(BAD_WINDOW, field="window")


def _first(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, pydicom.multival.MultiValue):
        value = value[0] if len(value) else None
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def default_window(ds: Dataset) -> Window | None:
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is None or width is None or width <= 0:
        return None
    return Window(center, width)


def frame_pixels(ds: Dataset, frame: int) -> np.ndarray:
    """Frame ``frame`` (1-based) as decoded by pydicom: RGB for colour, stored values for grey."""
    frames = _frames(ds)
    if "PixelData" not in ds:
        raise NotFound(NO_PIXELS)
    if not 1 <= frame <= frames:
        raise NotFound(NO_FRAME, frame=frame, frames=frames)
    fast = _pillow_frame(ds, frame - 1, frames)
    if fast is not None:
        return fast
    try:
        return pydicom.pixels.pixel_array(ds, index=frame - 1 if frames > 1 else None, as_rgb=True)
    except (ValueError, RuntimeError, NotImplementedError, TypeError, KeyError) as exc:
        raise BadDicom(UNDECODABLE, reason=type(exc).__name__) from None


_PILLOW_SYNTAXES = frozenset({"1.2.840.10008.1.2.4.50"})  # JPEG baseline: libjpeg-turbo through Pillow


def _pillow_frame(ds: Dataset, index: int, frames: int) -> np.ndarray | None:
    """8-bit JPEG-baseline frames (the usual ultrasound cine) decoded by Pillow, several times
    faster than the generic path; the same pixels (YCbCr → RGB as PS3.5 8.2.1 specifies)."""
    meta = getattr(ds, "file_meta", None)
    if meta is None or str(meta.get("TransferSyntaxUID", "")) not in _PILLOW_SYNTAXES:
        return None
    if int(ds.get("BitsAllocated", 0)) != 8 or int(ds.get("BitsStored", 8)) != 8:
        return None
    samples, photometric = int(ds.get("SamplesPerPixel", 1)), str(ds.get("PhotometricInterpretation", ""))
    try:
        img = Image.open(io.BytesIO(get_frame(ds.PixelData, index, number_of_frames=frames)))
        img.load()
    except (OSError, ValueError, IndexError, SyntaxError):
        return None  # let pydicom try, and report
    if samples == 3 and photometric in ("YBR_FULL_422", "YBR_FULL") and img.mode == "RGB":
        return np.asarray(img)
    if samples == 1 and photometric in ("MONOCHROME1", "MONOCHROME2") and img.mode == "L":
        return np.asarray(img)
    return None


def _grey_to_8bit(ds: Dataset, arr: np.ndarray, window: Window | None) -> np.ndarray:
    values = arr.astype(np.float64)
    slope, intercept = _first(ds.get("RescaleSlope")), _first(ds.get("RescaleIntercept"))
    if slope is not None or intercept is not None:
        values = values * (slope if slope is not None else 1.0) + (intercept or 0.0)
    window = window or default_window(ds)
    if window is None:  # no window in the file: stretch to the frame's own range
        lo, hi = float(values.min()), float(values.max())
        window = Window((lo + hi) / 2, max(hi - lo, 1.0))
    # PS3.3 C.11.2.1.2.1 linear VOI function.
    c, w = window.center - 0.5, window.width - 1.0
    if w < 1:
        out = np.where(values <= c, 0.0, 255.0)
    else:
        out = ((values - c) / w + 0.5) * 255.0
    out = np.clip(out, 0, 255).astype(np.uint8)
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":
        out = 255 - out
    return out


def render_frame(ds: Dataset, frame: int = 1, *, fmt: str = "png", window: Window | None = None,
                 quality: int = 90) -> bytes:
    """One frame as an 8-bit PNG or JPEG with the modality LUT and the chosen (or stored) window."""
    arr = frame_pixels(ds, frame)
    samples = int(ds.get("SamplesPerPixel", 1))
    if samples == 1:
        img = Image.fromarray(_grey_to_8bit(ds, arr, window), mode="L")
    else:
        if arr.dtype != np.uint8:  # 16-bit colour: scale down to 8 bits
            arr = (arr.astype(np.float64) / max(float(arr.max()), 1.0) * 255).astype(np.uint8)
        img = Image.fromarray(arr[..., :3], mode="RGB")
    out = io.BytesIO()
    if fmt == "jpeg":
        img.save(out, format="JPEG", quality=quality)
    else:
        img.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def render(data: bytes, frame: int = 1, **kwargs: Any) -> bytes:
    return render_frame(read(data), frame, **kwargs)


# --------------------------------------------------------------------------- bulk data (WADO-RS metadata)

NO_BULK = N_("This image has no such bulk data element.")


def bulk_parts(ds: Dataset, tag: int) -> tuple[list[bytes], str]:
    """The value of a binary element the metadata referred to by BulkDataURI, as (parts, media type).
    Compressed pixel data comes as one part per frame, in its transfer syntax."""
    elem = ds.get(tag) if tag in ds else next((e for e in ds.iterall() if e.tag == tag), None)
    if elem is None or not isinstance(elem.value, bytes):
        raise NotFound(NO_BULK)
    syntax = ds.file_meta.TransferSyntaxUID
    if tag == 0x7FE00010 and syntax.is_compressed:
        count = _frames(ds)
        return [get_frame(elem.value, i, number_of_frames=count) for i in range(count)], \
            f"application/octet-stream; transfer-syntax={syntax}"
    return [elem.value], "application/octet-stream"


# --------------------------------------------------------------------------- for the browser viewer

# Transfer syntaxes the browser viewer (dwv 0.36) decodes itself, in its web workers: the
# uncompressed ones, JPEG baseline/extended, JPEG lossless, JPEG 2000 and RLE. Anything else
# (JPEG-LS, deflate, HTJ2K, …) is sent to it decompressed (:func:`decompressed`).
VIEWER_SYNTAXES = frozenset({
    "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.5",
})
EXPLICIT_LE = str(pydicom.uid.ExplicitVRLittleEndian)


def decompressed(ds: Dataset) -> bytes:
    """A copy of the instance in Explicit VR Little Endian with its pixels decoded (colour as
    RGB), the same SOP Instance UID: a lossless change of transfer syntax (PS3.18 8.7.3.5)."""
    copy = pydicom.dcmread(io.BytesIO(_saved(ds)))
    if copy.file_meta.TransferSyntaxUID.is_compressed:
        try:
            copy.decompress(generate_instance_uid=False)
        except (ValueError, RuntimeError, NotImplementedError, TypeError, KeyError) as exc:
            raise BadDicom(UNDECODABLE, reason=type(exc).__name__) from None
    else:
        copy.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    return _saved(copy)


def _saved(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


# --------------------------------------------------------------------------- de-identification

# PS3.15 Annex E, Basic Application Level Confidentiality Profile (Table E.1-1), by action:
# Z = keep the element but empty it, D = a dummy value, X = remove. UIDs (U) are handled for
# every UI element that is not a well-known (class or transfer syntax) UID; private tags are removed.
_EMPTY = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "AccessionNumber",
    "ReferringPhysicianName", "StudyID", "ContentDate", "ContentTime", "SeriesDate", "SeriesTime",
    "AcquisitionDate", "AcquisitionTime", "InstanceCreationDate", "InstanceCreationTime", "ContrastBolusAgent",
)
_REMOVE = (
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "InstitutionCodeSequence",
    "StationName", "PerformingPhysicianName", "PerformingPhysicianIdentificationSequence",
    "NameOfPhysiciansReadingStudy", "PhysiciansReadingStudyIdentificationSequence", "OperatorsName",
    "OperatorIdentificationSequence", "PhysiciansOfRecord", "PhysiciansOfRecordIdentificationSequence",
    "RequestingPhysician", "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers",
    "ReferringPhysicianIdentificationSequence", "ConsultingPhysicianName", "OtherPatientIDs",
    "OtherPatientIDsSequence", "OtherPatientNames", "PatientBirthName", "PatientBirthTime", "PatientAge",
    "PatientSize", "PatientWeight", "PatientAddress", "PatientMotherBirthName", "PatientTelephoneNumbers",
    "PatientTelecomInformation", "MilitaryRank", "BranchOfService", "EthnicGroup", "Occupation",
    "AdditionalPatientHistory", "PatientComments", "PatientReligiousPreference", "PatientInsurancePlanCodeSequence",
    "PatientPrimaryLanguageCodeSequence", "MedicalRecordLocator", "MedicalAlerts", "Allergies",
    "PregnancyStatus", "LastMenstrualDate", "SmokingStatus", "CountryOfResidence", "RegionOfResidence",
    "PatientState", "IssuerOfPatientID", "IssuerOfPatientIDQualifiersSequence", "ResponsiblePerson",
    "ResponsibleOrganization", "AdmissionID", "AdmittingDiagnosesDescription", "AdmittingDiagnosesCodeSequence",
    "CurrentPatientLocation", "PatientInstitutionResidence", "ServiceEpisodeID", "ServiceEpisodeDescription",
    "DeviceSerialNumber", "DeviceUID", "ProtocolName", "StudyDescription", "SeriesDescription", "ImageComments",
    "FrameComments", "StudyComments", "InterpretationText", "DerivationDescription", "RequestAttributesSequence",
    "ReferencedPatientSequence", "ReferencedStudySequence", "ReferencedPerformedProcedureStepSequence",
    "RequestedProcedureDescription", "RequestedProcedureID", "ScheduledProcedureStepDescription",
    "ScheduledProcedureStepID", "PerformedProcedureStepDescription", "PerformedProcedureStepID",
    "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime", "PerformedProcedureStepEndDate",
    "PerformedProcedureStepEndTime", "PerformedLocation", "PerformedStationName", "ScheduledPerformingPhysicianName",
    "AcquisitionDateTime", "AcquisitionComments", "AcquisitionDeviceProcessingDescription", "ContentSequence",
    "TextString", "TextComments", "VisitComments", "ReasonForStudy", "RequestedContrastAgent",
    "InstitutionalDepartmentTypeCodeSequence", "DataSetTrailingPadding", "DigitalSignaturesSequence",
    "OriginalAttributesSequence", "ModifiedAttributesSequence", "CurveDate", "CurveTime", "OverlayDate",
    "OverlayTime", "ReviewerName", "VerifyingObserverName", "PersonName", "PersonAddress", "PersonTelephoneNumbers",
    "DetectorID", "GantryID", "GeneratorID", "PlateID", "CassetteID", "SourceSerialNumber",
    "ReferencedImageSequence", "SourceImageSequence", "ReferencedSOPInstanceMACSequence",
)
# Modalities whose pixels often carry burnt-in names and dates (annotations on the image itself).
BURNT_IN_MODALITIES = frozenset({"US", "SC", "XA", "ES", "OT", "DX", "CR", "RF", "XC", "GM", "SM", "IVUS", "OP", "DOC"})
WARN_BURNT_IN = N_("The image itself declares burnt-in annotations: check the pixels for names or dates "
                   "and mask them before publishing.")
WARN_BURNT_IN_UNKNOWN = N_("This kind of image ({modality}) often has names or dates burnt into the pixels and "
                           "does not say whether it does: check the pixels before publishing.")


@dataclass
class Deidentified:
    data: bytes
    filename: str
    study_uid: str
    series_uid: str
    sop_uid: str
    warnings: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (msgid, params)


def _new_uid(old: str, salt: str) -> str:
    """The same original UID maps to the same new one within one export (same salt)."""
    return str(generate_uid(entropy_srcs=[salt, old]))


def _strip(ds: Dataset, salt: str) -> None:
    ds.remove_private_tags()
    for keyword in _REMOVE:
        if keyword in ds:
            delattr(ds, keyword)
    for elem in list(ds):
        group = elem.tag.group
        if 0x5000 <= group <= 0x50FF or (0x6000 <= group <= 0x60FF and elem.tag.element in (0x4000, 0x0022)):
            del ds[elem.tag]  # curves, overlay comments and descriptions
        elif elem.VR == "UI" and elem.value:
            values = elem.value if isinstance(elem.value, pydicom.multival.MultiValue) else [elem.value]
            mapped = [v if UID(str(v)) in pydicom.uid.UID_dictionary else _new_uid(str(v), salt) for v in values]
            elem.value = mapped if len(mapped) > 1 else mapped[0]
        elif elem.VR == "SQ":
            for item in elem.value:
                _strip(item, salt)
    for keyword in _EMPTY:
        if keyword in ds:
            setattr(ds, keyword, "")


def deidentify(data: bytes, *, salt: str, label: str = "TEACHING") -> Deidentified:
    """A copy for teaching with the PS3.15 basic profile applied; pixel data untouched.

    ``salt`` keeps one export consistent (the same study UID maps to the same new UID for every
    instance exported with it) while making the mapping unguessable without it.
    """
    ds = read(data)
    modality = str(ds.get("Modality") or "").upper()
    burnt = str(ds.get("BurnedInAnnotation") or "").upper()
    notes: list[tuple[str, dict[str, str]]] = []
    if burnt == "YES":
        notes.append((WARN_BURNT_IN, {}))
    elif burnt != "NO" and (modality in BURNT_IN_MODALITIES or not modality):
        notes.append((WARN_BURNT_IN_UNKNOWN, {"modality": modality or "?"}))
    _strip(ds, salt)
    pseudonym = hashlib.sha256(f"{salt}:{ds.StudyInstanceUID}".encode()).hexdigest()[:10].upper()
    ds.PatientName = label
    ds.PatientID = f"{label}-{pseudonym}"
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "PS3.15 E.1 Basic Profile (Telebridge)"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "113100", "DCM", "Basic Application Confidentiality Profile"
    ds.DeidentificationMethodCodeSequence = [code]
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for keyword in ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle", "ReceivingApplicationEntityTitle",
                    "PrivateInformationCreatorUID", "PrivateInformation"):
        if keyword in ds.file_meta:
            delattr(ds.file_meta, keyword)
    return Deidentified(data=_saved(ds), filename=f"{label.lower()}-{ds.SOPInstanceUID}.dcm",
                        study_uid=str(ds.StudyInstanceUID), series_uid=str(ds.SeriesInstanceUID),
                        sop_uid=str(ds.SOPInstanceUID), warnings=notes)

"""pydicom's bundled example files used by the imaging tests (never downloaded at run time)."""

from __future__ import annotations

from pathlib import Path

from pydicom.data import get_testdata_file

# name → (modality, frames, transfer syntax family)
BUNDLED = {
    "examples_ybr_color.dcm": ("US", 30, "JPEG baseline, YBR_FULL_422, multi-frame ultrasound"),
    "JPEG2000.dcm": ("NM", 1, "JPEG 2000"),
    "SC_rgb_rle.dcm": ("OT", 1, "RLE, RGB"),
    "MR_small_RLE.dcm": ("MR", 1, "RLE, grey"),
    "MR_small_jpeg_ls_lossless.dcm": ("MR", 1, "JPEG-LS lossless"),
    "SC_rgb_jpeg_dcmtk.dcm": ("OT", 1, "JPEG baseline, YBR_FULL"),
    "JPGExtended.dcm": ("NM", 1, "JPEG extended 12-bit"),
    "CT_small.dcm": ("CT", 1, "uncompressed, rescale slope/intercept"),
    "MR_small.dcm": ("MR", 1, "uncompressed"),
}
ULTRASOUND = "examples_ybr_color.dcm"


def path(name: str) -> Path:
    found = get_testdata_file(name, download=False)
    assert found, f"{name} is not bundled with the installed pydicom"
    return Path(str(found))


def data(name: str) -> bytes:
    return path(name).read_bytes()


def big_instance(path: Path, frames: int, side: int = 512, study_uid: str | None = None) -> Path:
    """A multi-frame 16-bit image of ``frames`` x ``side``² pixels written to ``path`` without
    holding its pixels in memory (the Pixel Data element is appended frame by frame)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sop_class, uid = "1.2.840.10008.5.1.4.1.1.7.3", generate_uid()  # multi-frame grayscale word SC
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, uid
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid or generate_uid(), generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID = "OT", "Thu^Nghiem", "BIG-1"
    ds.Rows = ds.Columns = side
    ds.NumberOfFrames, ds.SamplesPerPixel, ds.PhotometricInterpretation = frames, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.save_as(path, enforce_file_format=True)
    frame = bytes(range(256)) * (side * side * 2 // 256)
    with path.open("ab") as fh:
        fh.write(b"\xe0\x7f\x10\x00OW\x00\x00" + (len(frame) * frames).to_bytes(4, "little"))
        for i in range(frames):
            fh.write(frame[i % 256:] + frame[:i % 256])
    return path

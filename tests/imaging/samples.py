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

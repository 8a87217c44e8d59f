"""A real Telebridge server (uvicorn) on loopback with its own database and file store, holding
the bundled multi-frame ultrasound: for the browser test and bench/frame_render.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from telebridge.kit.db import make_engine, make_sessionmaker
from telebridge.kit.subject import Role
from tests import factories
from tests.browser.conftest import serving
from tests.conftest import fresh_database


@dataclass
class Live:
    url: str
    world: factories.World
    token: str  # bearer token of the world's spoke clinician
    study_id: str
    study_uid: str
    series_uid: str
    sop_uid: str


def slices(template: bytes, count: int, study_uid: str) -> list[bytes]:
    """``count`` single-frame instances of one new series of the study (a small CT/MR-like stack)."""
    import io

    import pydicom
    from pydicom.uid import generate_uid

    series_uid, out = generate_uid(), []
    for n in range(1, count + 1):
        ds = pydicom.dcmread(io.BytesIO(template))
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study_uid, series_uid, generate_uid()
        ds.InstanceNumber = n
        ds.SeriesDescription = "stack"
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, z + 5.0 * n]  # a stack: one slice after the other
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PixelData = (ds.pixel_array // n).astype(ds.pixel_array.dtype).tobytes()  # each slice different
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append(buf.getvalue())
    return out


def into_study(raw: bytes, study_uid: str, description: str) -> bytes:
    """``raw`` as a new series of the study, its pixel data (and transfer syntax) untouched."""
    import io

    import pydicom
    from pydicom.uid import generate_uid

    ds = pydicom.dcmread(io.BytesIO(raw))
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study_uid, generate_uid(), generate_uid()
    ds.SeriesDescription = description
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@asynccontextmanager
async def telebridge_with_study(tmp: Path, dicom_bytes: bytes, *, workers: int = 1,
                                more: list[bytes] | None = None) -> AsyncIterator[Live]:
    """The server, with ``dicom_bytes`` (and ``more`` instances, same patient) uploaded."""
    url = await fresh_database(tmp, "sqlite", "_imaging_live")
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    world = await factories.build_world(maker)
    token = await factories.api_token(maker, world.spoke_clinician)
    async with maker() as db:  # a second clinician of the same station (a TOTP code works once)
        world.users["spoke_clinician_2"] = await factories.add_user(
            db, f"spoke2-{world.tag}", [(Role.SPOKE_CLINICIAN, world.spoke_a.id, None)],
            practitioner_id=world.practitioners["spoke"].id)
        await db.commit()
    await engine.dispose()
    async with serving(url, workers=workers, TELEBRIDGE_FILES_DIR=str(tmp / "files")) as base:
        async with httpx.AsyncClient(timeout=30) as http:
            assert world.patient_a is not None
            r = await http.post(f"{base}/api/v1/imaging/patients/{world.patient_a.id}/instances", content=dicom_bytes,
                                headers={"authorization": f"Bearer {token}", "content-type": "application/dicom"})
            r.raise_for_status()
            body = r.json()
            for extra in more or []:
                (await http.post(f"{base}/api/v1/imaging/patients/{world.patient_a.id}/instances", content=extra,
                                 headers={"authorization": f"Bearer {token}",
                                          "content-type": "application/dicom"})).raise_for_status()
            detail = (await http.get(f"{base}/api/v1/imaging/studies/{body['study']['id']}",
                                     headers={"authorization": f"Bearer {token}"})).json()
        yield Live(base, world, token, body["study"]["id"], body["study"]["study_uid"],
                   detail["series"][0]["series_uid"], body["instance"]["sop_uid"])

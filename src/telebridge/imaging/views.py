"""Imaging pages: a patient's studies, and the viewer (a JS island on Telebridge's DICOMweb
rendered frames: window/level, zoom, pan, length measurement, cine playback)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from telebridge.identity.deps import Db, PageSubject
from telebridge.imaging import service
from telebridge.kit.web import render

router = APIRouter(include_in_schema=False)


@router.get("/patients/{patient_id}/imaging")
async def patient_studies(patient_id: uuid.UUID, request: Request, subject: PageSubject, db: Db) -> Response:
    studies = await service.studies_for_patient(db, subject, patient_id=patient_id)
    counts = await service.repo.counts(db, [s.id for s in studies])
    return render(request, "imaging/studies.html", {"patient_id": patient_id, "studies": studies, "counts": counts})


@router.get("/imaging/studies/{study_id}")
async def viewer(study_id: uuid.UUID, request: Request, subject: PageSubject, db: Db) -> Response:
    tree = await service.study_tree(db, subject, study_id=study_id)
    return render(request, "imaging/viewer.html", {"tree": tree, "study": tree.study})

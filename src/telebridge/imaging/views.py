"""Imaging pages: a patient's studies, and the viewer (dwv, an npm package, driven by
static/js/viewer.js: window/level, zoom, pan, length measurement, cine playback)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from telebridge.identity.deps import Db, PageSubject
from telebridge.imaging import service
from telebridge.kit.web import render

router = APIRouter(include_in_schema=False)
# dwv empties the inline style of its measurement layer (setAttribute("style", "")): the viewer
# page allows exactly that, an empty style attribute (the hash of ""), and no other inline style.
EMPTY_STYLE = "'unsafe-hashes' 'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"


@router.get("/patients/{patient_id}/imaging")
async def patient_studies(patient_id: uuid.UUID, request: Request, subject: PageSubject, db: Db) -> Response:
    studies = await service.studies_for_patient(db, subject, patient_id=patient_id)
    counts = await service.repo.counts(db, [s.id for s in studies])
    return render(request, "imaging/studies.html", {"patient_id": patient_id, "studies": studies, "counts": counts})


def viewer_csp() -> str:
    from telebridge.app import SECURITY_HEADERS  # the site's policy; the app imports this module

    policy = SECURITY_HEADERS["content-security-policy"]
    assert "style-src 'self';" in policy
    return policy.replace("style-src 'self';", f"style-src 'self' {EMPTY_STYLE};")


@router.get("/imaging/studies/{study_id}")
async def viewer(study_id: uuid.UUID, request: Request, subject: PageSubject, db: Db) -> Response:
    tree = await service.study_tree(db, subject, study_id=study_id)
    response = render(request, "imaging/viewer.html", {"tree": tree, "study": tree.study})
    response.headers["content-security-policy"] = viewer_csp()
    return response

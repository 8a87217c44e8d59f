"""The start page after sign-in: what this person can do, by role."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from telebridge.identity.deps import PageSubject
from telebridge.identity.views import NOTICES
from telebridge.kit.i18n import gettext
from telebridge.kit.web import render

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request, subject: PageSubject, m: str | None = None) -> Response:
    notice = gettext(NOTICES[m]) if m in NOTICES else None
    return render(request, "home.html", {"notice": notice})

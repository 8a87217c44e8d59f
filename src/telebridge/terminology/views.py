"""ICD-10 pages: the lookup page (the picker in use) and the picker's suggestion fragment (htmx).

Include ``terminology/_icd10_picker.html`` in a form (see that template) and load
``/static/js/icd10-picker.js``; without JavaScript the clinician types the codes, which
``icd10.resolve_codes`` turns into entries (or translated errors)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from telebridge.identity.deps import PageSubject
from telebridge.kit import i18n
from telebridge.kit.access import authorize
from telebridge.kit.web import render
from telebridge.terminology import icd10, policy

router = APIRouter(include_in_schema=False)


@router.get("/terminology/icd10/suggest")
async def suggest_icd10(
    request: Request, subject: PageSubject, q: Annotated[str, Query(max_length=icd10.MAX_QUERY)] = "",
    icd10_q: Annotated[str, Query(max_length=icd10.MAX_QUERY)] = "",
    limit: Annotated[int, Query(ge=1, le=icd10.MAX_LIMIT)] = 12,
) -> HTMLResponse:
    """``q`` (API-style) or ``icd10_q`` (the picker's own input, sent by htmx)."""
    authorize(policy.can_search_terminology(subject), action="read", object_type="icd10")
    lang = i18n.get_locale()
    query = (q or icd10_q).strip()
    entries = icd10.search(query, limit, lang)
    return render(request, "terminology/_icd10_suggest.html", {"entries": entries, "q": query, "lang": lang})


@router.get("/terminology/icd10")
async def icd10_page(
    request: Request, subject: PageSubject, code: Annotated[list[str], Query(max_length=40)] = [],  # noqa: B006
    icd10_q: Annotated[str, Query(max_length=icd10.MAX_QUERY)] = "",
) -> HTMLResponse:
    """Look codes up, choose several, see their place in the classification and whether
    remote treatment is allowed for them."""
    authorize(policy.can_search_terminology(subject), action="read", object_type="icd10")
    chosen, errors = icd10.resolve_codes([*code, icd10_q])
    return render(request, "terminology/icd10.html", {
        "chosen": chosen, "errors": [e.translated() for e in errors], "lang": i18n.get_locale(),
        "source": icd10.source(),
    })

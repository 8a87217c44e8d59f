"""/api/v1/terminology: ICD-10 search and lookup for signed-in staff (no patient data)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from telebridge.identity.deps import ApiSubject
from telebridge.kit import i18n
from telebridge.kit.access import authorize
from telebridge.kit.errors import NotFound
from telebridge.kit.i18n import N_
from telebridge.terminology import icd10, policy
from telebridge.terminology.schemas import Icd10Out, Icd10Results

router = APIRouter(prefix="/api/v1/terminology", tags=["terminology"])


def _lang(lang: str | None) -> str:
    return i18n.normalize(lang) or i18n.get_locale()


@router.get("/icd10", response_model=Icd10Results)
async def search_icd10(
    subject: ApiSubject, q: Annotated[str, Query(max_length=icd10.MAX_QUERY)] = "",
    limit: Annotated[int, Query(ge=1, le=icd10.MAX_LIMIT)] = 20, lang: str | None = None,
) -> Icd10Results:
    """Search as you type: a code prefix ("J18") or words of the title, with or without diacritics."""
    authorize(policy.can_search_terminology(subject), action="read", object_type="icd10")
    language = _lang(lang)
    return Icd10Results(query=q, items=[Icd10Out(**e.as_dict(language)) for e in icd10.search(q, limit, language)])


@router.get("/icd10/{code}", response_model=Icd10Out)
async def get_icd10(code: str, subject: ApiSubject, lang: str | None = None) -> Icd10Out:
    authorize(policy.can_search_terminology(subject), action="read", object_type="icd10")
    entry = icd10.lookup(code)
    if entry is None:
        raise NotFound(N_("This ICD-10 code is not in the list."), field="code")
    return Icd10Out(**entry.as_dict(_lang(lang)))

"""Helpers shared by the network pages: form parsing into the API's input models, labels for
coded values, the pager, and re-showing a form with its error."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.kit import i18n
from telebridge.kit.errors import BadInput, DomainError
from telebridge.kit.i18n import N_
from telebridge.kit.web import CSRF_FIELD, render
from telebridge.network import repository as repo
from telebridge.network.reference import SPECIALTIES

M = TypeVar("M", bound=BaseModel)
PAGE_SIZE = 20

KIND_LABELS = {"hospital": N_("Hospital"), "medical_centre": N_("Medical centre"),
               "health_station": N_("Commune health station"), "clinic": N_("Clinic")}
LEVEL_LABELS = {"primary": N_("Primary care"), "basic": N_("Basic"), "specialised": N_("Specialised")}
TIER_LABELS = {"central": N_("Central"), "provincial": N_("Provincial"), "district": N_("District"),
               "commune": N_("Commune")}
PROFESSION_LABELS = {"doctor": N_("Doctor"), "nurse": N_("Nurse"), "midwife": N_("Midwife"),
                     "technician": N_("Technician"), "pharmacist": N_("Pharmacist")}
MODE_LABELS = {"direct_to_patient": N_("Direct to the patient"),
               "patient_at_receiving_facility": N_("Patient at a receiving facility"),
               "inter_facility_support": N_("Inter-facility support"), "remote_consultation": N_("Remote consultation")}
LICENCE_LABELS = {"valid": N_("Valid"), "expiring": N_("Expires within 60 days"), "expired": N_("Expired"),
                  "not_yet_valid": N_("Not yet valid")}
STATUS_LABELS = {"submitted": N_("Submitted"), "published": N_("Published"), "withdrawn": N_("Withdrawn")}


def specialty_names() -> dict[str, str]:
    vi = i18n.get_locale() == "vi"
    return {code: name_vi if vi else name_en for code, name_vi, name_en in SPECIALTIES}


def labels() -> dict[str, Any]:
    """Everything a network template needs to show coded values in the user's language."""
    return {"kind_labels": KIND_LABELS, "level_labels": LEVEL_LABELS, "tier_labels": TIER_LABELS,
            "profession_labels": PROFESSION_LABELS, "mode_labels": MODE_LABELS, "licence_labels": LICENCE_LABELS,
            "status_labels": STATUS_LABELS, "specialty_names": specialty_names()}


def page_view(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return render(request, template, {**labels(), **context}, status_code)


async def form_data(request: Request) -> dict[str, Any]:
    """The submitted form as a dict: repeated fields as lists, empty values as None."""
    form = await request.form()
    data: dict[str, Any] = {}
    for key in form:
        if key == CSRF_FIELD:
            continue
        values = [v.strip() if isinstance(v, str) else v for v in form.getlist(key)]
        data[key] = values if len(values) > 1 else (values[0] or None)
    return data


def listed(value: Any) -> list[str]:
    """A multi-value field (checkboxes) that may have come as one value or none."""
    if value is None:
        return []
    return [v for v in (value if isinstance(value, list) else [value]) if v]


def parse(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = [".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()]
        raise BadInput(N_("Some fields are missing or malformed: {fields}."), field=fields[0] if fields else None,
                       fields=", ".join(fields)) from None


def form_failed(request: Request, template: str, context: dict[str, Any], exc: DomainError) -> HTMLResponse:
    return page_view(request, template, {**context, "error": exc.translated(), "error_field": exc.field}, exc.status)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def pager(request: Request, *, page: int, page_size: int, total: int) -> dict[str, Any]:
    """Previous/next links keeping the current filters."""
    params = {k: v for k, v in request.query_params.items() if k != "page" and v}

    def url(n: int) -> str:
        return "?" + urlencode({**params, "page": n})

    last = max(1, -(-total // page_size))
    return {"page": page, "last": last, "total": total,
            "prev": url(page - 1) if page > 1 else None, "next": url(page + 1) if page < last else None}


async def place_choices(db: AsyncSession, province_code: int | None) -> dict[str, Any]:
    return {"provinces": await repo.provinces(db),
            "communes": await repo.communes_of(db, province_code) if province_code else []}

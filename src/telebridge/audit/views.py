"""The audit page for administrators, with filters; the same as JSON under /api/v1/audit."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from telebridge.audit import policy
from telebridge.audit import repository as repo
from telebridge.identity.deps import ApiSubject, PageSubject
from telebridge.kit.access import authorize
from telebridge.kit.errors import BadInput
from telebridge.kit.i18n import N_
from telebridge.kit.subject import Subject
from telebridge.kit.web import render
from telebridge.identity.deps import Db

router = APIRouter()
PAGE = 50
ACTIONS = ("read", "search", "create", "update", "delete", "merge", "break_glass", "login", "logout",
           "lockout", "mfa_enrol", "password_change", "token_issue", "consent", "review")
_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


class AuditEventOut(BaseModel):
    seq: int
    at: datetime
    actor_user_id: uuid.UUID | None
    actor_name: str | None
    actor_role: str | None
    actor_facility_id: uuid.UUID | None
    patient_id: uuid.UUID | None
    object_type: str
    object_id: str | None
    action: str
    outcome: str
    client_addr: str | None
    break_glass: bool

    model_config = {"from_attributes": True}


def _parse_uuid(value: str | None, field: str) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadInput(N_("Not a valid identifier."), field=field) from None


def _day(value: str | None, field: str, *, end: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        d = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise BadInput(N_("Dates are written YYYY-MM-DD."), field=field) from None
    start = datetime.combine(d, time.min, tzinfo=_TZ)
    return start + timedelta(days=1) if end else start


def _filter(actor: str | None, patient: str | None, action: str | None, outcome: str | None,
            since: str | None, until: str | None, break_glass: bool | None) -> repo.AuditFilter:
    return repo.AuditFilter(
        actor_user_id=_parse_uuid(actor, "actor"), patient_id=_parse_uuid(patient, "patient"),
        action=action or None, outcome=outcome or None, break_glass=break_glass or None,
        since=_day(since, "since"), until=_day(until, "until", end=True),
    )


def _check(subject: Subject) -> None:
    authorize(policy.can_read_trail(subject), action="read", object_type="audit_trail")


@router.get("/audit", include_in_schema=False)
async def audit_page(
    request: Request, subject: PageSubject, db: Db,
    actor: str | None = None, patient: str | None = None, action: str | None = None, outcome: str | None = None,
    since: str | None = None, until: str | None = None, break_glass: bool | None = None,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    _check(subject)
    f = _filter(actor, patient, action, outcome, since, until, break_glass)
    events = await repo.list_events(db, subject, f, limit=PAGE, before_seq=before)
    total = await repo.count_events(db, subject, f)
    return render(request, "audit/list.html", {
        "events": events, "total": total, "actions": ACTIONS,
        "q": {"actor": actor or "", "patient": patient or "", "action": action or "", "outcome": outcome or "",
              "since": since or "", "until": until or "", "break_glass": bool(break_glass)},
        "next_before": events[-1].seq if len(events) == PAGE else None,
    })


@router.get("/api/v1/audit", response_model=list[AuditEventOut], tags=["audit"])
async def audit_api(
    subject: ApiSubject, db: Db,
    actor: str | None = None, patient: str | None = None, action: str | None = None, outcome: str | None = None,
    since: str | None = None, until: str | None = None, break_glass: bool | None = None,
    before: Annotated[int | None, Query(ge=1)] = None, limit: Annotated[int, Query(ge=1, le=500)] = PAGE,
) -> list[AuditEventOut]:
    _check(subject)
    f = _filter(actor, patient, action, outcome, since, until, break_glass)
    return [AuditEventOut.model_validate(e) for e in await repo.list_events(db, subject, f, limit=limit, before_seq=before)]

"""The minutes as a document: the stored minutes of a consultation mapped onto the PDF form.
Signed minutes print their frozen content (what was signed, with its fingerprint); a draft
prints with a visible draft mark."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.consultations import pdf
from telebridge.consultations import repository as repo
from telebridge.consultations.models import Consultation
from telebridge.kit import clock, i18n
from telebridge.kit.errors import Conflict
from telebridge.kit.i18n import N_
from telebridge.network.models import Facility
from telebridge.patients.models import Patient


def _dt(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:  # typed in the form: local time in Vietnam
            from zoneinfo import ZoneInfo

            parsed = parsed.replace(tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
        return parsed
    return None


async def minutes_pdf(db: AsyncSession, c: Consultation) -> bytes:
    m = await repo.minutes_of(db, c.id)
    if m is None or not m.content:
        raise Conflict(N_("There are no minutes to print yet."), code="no_minutes")
    content = m.content
    requesting = await db.get(Facility, c.requesting_facility_id)
    hub = await db.get(Facility, c.hub_facility_id) if c.hub_facility_id else None
    patient = await db.get(Patient, c.patient_id)
    assert requesting is not None and patient is not None
    snap = content.get("patient") or {}
    summary = (content.get("consultation") or {}).get("summary") or c.summary or {}
    vitals = summary.get("vitals") or {}
    signatures = [s for s in await repo.signatures(db, m.id) if s.addendum_id is None]
    dob = snap.get("date_of_birth")
    doc = pdf.MinutesDocument(
        document_id=c.reference,
        requesting_facility=pdf.FacilityRef(requesting.name, getattr(requesting, "insurance_code", None)),
        consulting_facility=pdf.FacilityRef(hub.name if hub else "", getattr(hub, "insurance_code", None) if hub else None),
        patient=pdf.PatientIdentity(
            full_name=snap.get("name") or patient.full_name,
            date_of_birth=date.fromisoformat(dob) if dob else patient.date_of_birth,
            sex=snap.get("sex") or patient.sex,
            citizen_id=snap.get("citizen_id", patient.citizen_id),
            address=patient.address_line),
        mode=c.mode or "remote_consultation",
        session_start=_dt(content.get("session_start")), session_end=_dt(content.get("session_end")),
        participants=[pdf.MinutesParticipant(name=p.get("name", ""), title=p.get("title"),
                                             licence_number=p.get("licence_number"), site=p.get("site"),
                                             role=p.get("role", "participant")) for p in content.get("participants", [])],
        case_summary=pdf.CaseSummary(
            history=summary.get("history"), examination=summary.get("examination"),
            vital_signs=", ".join(f"{k}: {v}" for k, v in vitals.items()) or None,
            investigations=summary.get("investigations"), current_treatment=summary.get("current_treatment")),
        question=(content.get("consultation") or {}).get("question") or c.question,
        discussion=content.get("discussion"),
        conclusions=[pdf.ConclusionItem(x["issue"], x["conclusion"]) for x in content.get("conclusions", [])],
        diagnoses=[pdf.DiagnosisItem(d["code"], d.get("title", "")) for d in content.get("diagnoses", [])],
        recommendation=content.get("recommendation"), recommendation_text=content.get("recommendation_text"),
        signatures=[pdf.SignatureItem(s.signer_name, s.role, s.signed_at, s.content_hash) for s in signatures],
        addenda=[pdf.AddendumItem(a.text, a.author_name, a.signed_at, a.content_hash)
                 for a in await repo.addenda(db, m.id)],
        content_hash=m.content_hash, signed=m.status == "signed", printed_at=clock.now(),
    )
    return pdf.render_minutes_pdf(doc, lang=i18n.get_locale())

"""Patient registry rules: registration (with provisional identities), demographics, search,
the patient record and consent per purpose. Never commits; every read and write is audited.
Identity merges and emergency access live in :mod:`telebridge.patients.access`."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from telebridge.config import get_settings
from telebridge.kit import audit, events
from telebridge.kit.access import authorize
from telebridge.kit.db import utcnow
from telebridge.kit.errors import BadInput, Conflict, NotFound
from telebridge.kit.i18n import N_
from telebridge.kit.subject import Subject
from telebridge.kit.validators import citizen_id as valid_citizen_id
from telebridge.kit import validators
from telebridge.kit.validators import clean_text, fold
from telebridge.network import service as network
from telebridge.patients import policy
from telebridge.patients import repository as repo
from telebridge.patients.models import CareRelationship, Consent, Patient
from telebridge.patients.policy import PatientAccess, ReadBasis
from telebridge.patients.schemas import (
    CareOut, ConsentIn, ConsentOut, EmergencyStub, MergeOut, PatientDetail, PatientFields, PatientIn, PatientSummary,
)

OBJECT = "patient"
_CITIZEN = re.compile(r"^\d{12}$")
# Mobile 0[35789]xxxxxxxx or landline 02xxxxxxxxx; +84 / 84 prefixes accepted.
TEXT_LIMITS = {"full_name": 200, "address_line": 300, "guardian_name": 200}
MAX_QUERY = 200
REGISTER_DENIED = N_("Only clinicians register patients, at a facility where they work.")


class MergedRecord(Conflict):
    """The record was merged into another; ``merged_into`` names the one to use."""

    code = "merged"

    def __init__(self, merged_into: uuid.UUID):
        super().__init__(N_("This record was merged into record {merged_into}; use that record."),
                         merged_into=str(merged_into))
        self.merged_into = merged_into


# --------------------------------------------------------------------------- helpers

def today() -> date:
    return utcnow().astimezone(ZoneInfo(get_settings().timezone)).date()


def age(date_of_birth: date | None, on: date | None = None) -> int | None:
    if date_of_birth is None:
        return None
    on = on or today()
    return on.year - date_of_birth.year - ((on.month, on.day) < (date_of_birth.month, date_of_birth.day))


def mask_name(full_name: str) -> str:
    """'Nguyễn Văn A' → 'N*** V** A': enough to confirm the person, not to identify them."""
    return " ".join(w[0] + "*" * min(len(w) - 1, 3) for w in full_name.split())


async def _validated(db: AsyncSession, values: dict[str, Any]) -> dict[str, Any]:
    """Clean and check a complete set of demographic fields; raise a clear 400 on the first problem."""
    out = {f: clean_text(values.get(f), field=f, max_len=n, required=f == "full_name") for f, n in TEXT_LIMITS.items()}
    dob: date | None = values.get("date_of_birth")
    if dob is not None and dob > today():
        raise BadInput(N_("The date of birth cannot be in the future."), field="date_of_birth")
    if dob is not None and dob.year < 1900:
        raise BadInput(N_("The date of birth is too far in the past."), field="date_of_birth")
    sex = values.get("sex") or "unknown"
    cid = values.get("citizen_id")
    out.update(
        date_of_birth=dob, sex=sex, phone=validators.phone(values.get("phone")),
        citizen_id=valid_citizen_id(cid, birth_date=dob, sex=sex) if cid else None,
        province_code=values.get("province_code"), commune_code=values.get("commune_code"),
    )
    await network.check_place(db, province_code=out["province_code"], commune_code=out["commune_code"])
    return out


_ALREADY_REGISTERED = N_(
    "This person is already registered with this citizen ID. To see their record, ask the facility that "
    "cares for them to share it (for example through a consultation request), or, in an emergency, "
    "search their citizen ID and request emergency access."
)


async def _ensure_unique(db: AsyncSession, citizen_id: str | None, *, own_id: uuid.UUID | None = None) -> None:
    if citizen_id is None:
        return
    existing = await repo.active_by_citizen_id(db, citizen_id)
    if existing is not None and existing.id != own_id:
        raise Conflict(_ALREADY_REGISTERED, field="citizen_id")


async def _flush_unique(db: AsyncSession) -> None:
    """A concurrent registration of the same citizen ID trips the unique index: same 409."""
    try:
        await db.flush()
    except IntegrityError:
        raise Conflict(_ALREADY_REGISTERED, field="citizen_id") from None


def _registering_facility(subject: Subject, chosen: uuid.UUID | None) -> uuid.UUID | None:
    if chosen is not None:
        return chosen
    mine = subject.clinical_facility_ids
    if len(mine) > 1:
        raise BadInput(N_("Choose which of your facilities registers this patient."), field="facility_id")
    return next(iter(mine), None)


# --------------------------------------------------------------------------- registry

async def register(db: AsyncSession, subject: Subject, *, data: PatientIn) -> Patient:
    facility_id = _registering_facility(subject, data.facility_id)
    authorize(facility_id is not None and policy.can_register(subject, facility_id), action="create",
              object_type=OBJECT, message=REGISTER_DENIED)
    assert facility_id is not None
    values = await _validated(db, data.model_dump(exclude={"facility_id"}))
    await _ensure_unique(db, values["citizen_id"])
    patient = Patient(**values, search_text=fold(values["full_name"]), provisional=values["citizen_id"] is None,
                      status="active", registered_by_facility_id=facility_id)
    db.add(patient)
    await _flush_unique(db)
    db.add(CareRelationship(patient_id=patient.id, facility_id=facility_id, basis="registration", created_at=utcnow()))
    await db.flush()
    audit.record(db, subject, action="create", object_type=OBJECT, object_id=patient.id, patient_id=patient.id,
                 detail={"facility_id": str(facility_id), "provisional": patient.provisional})
    return patient


async def load(db: AsyncSession, patient_id: uuid.UUID) -> PatientAccess:
    """An active patient with its care facilities; 404 if unknown, 409 if merged away."""
    patient = await repo.get_patient(db, patient_id)
    if patient is None:
        raise NotFound(N_("No such patient."))
    if patient.status == "merged" and patient.merged_into_id is not None:
        raise MergedRecord(patient.merged_into_id)
    return await repo.access_of(db, patient)


async def editable(db: AsyncSession, subject: Subject, patient_id: uuid.UUID, *, action: str) -> PatientAccess:
    access = await load(db, patient_id)
    authorize(policy.can_edit(subject, access), action=action, object_type=OBJECT, object_id=patient_id,
              patient_id=patient_id, message=N_("Only clinicians of a facility caring for this patient may change the record."))
    return access


async def update(db: AsyncSession, subject: Subject, *, patient_id: uuid.UUID, changes: PatientFields) -> list[str]:
    """Apply the fields that were sent; return the names of those that changed."""
    patient = (await editable(db, subject, patient_id, action="update")).patient
    current = {f: getattr(patient, f) for f in PatientFields.model_fields}
    values = await _validated(db, {**current, **changes.model_dump(exclude_unset=True)})
    changed = sorted(f for f, v in values.items() if v != current[f])
    if not changed:
        return []
    if "citizen_id" in changed:
        await _ensure_unique(db, values["citizen_id"], own_id=patient.id)
    for f in changed:
        setattr(patient, f, values[f])
    patient.search_text = fold(patient.full_name)
    patient.provisional = patient.citizen_id is None
    await _flush_unique(db)
    audit.record(db, subject, action="update", object_type=OBJECT, object_id=patient.id, patient_id=patient.id,
                 detail={"fields": changed})
    return changed


# --------------------------------------------------------------------------- search

@dataclass
class SearchResult:
    rows: list[tuple[Patient, str | None]]
    total: int
    stub: EmergencyStub | None


def summary(patient: Patient, province_name: str | None) -> PatientSummary:
    return PatientSummary(
        id=patient.id, full_name=patient.full_name, citizen_id=patient.citizen_id, date_of_birth=patient.date_of_birth,
        age=age(patient.date_of_birth), sex=patient.sex, provisional=patient.provisional,
        province_code=patient.province_code, province_name=province_name,
    )


async def search(db: AsyncSession, subject: Subject, *, q: str | None, date_of_birth: date | None,
                 province_code: int | None, offset: int, limit: int) -> SearchResult:
    """Readable patients only. An exact citizen ID of a patient the clinician may not read yields a
    masked stub from which emergency access can be requested. One audit record per search."""
    text = (q or "").strip()
    if len(text) > MAX_QUERY:
        raise BadInput(N_("Too long: at most {max} characters."), field="q", max=MAX_QUERY)
    exact = text.replace(" ", "") if _CITIZEN.match(text.replace(" ", "")) else None
    f = repo.SearchFilter(citizen_id=exact, name=None if exact else (fold(text) or None),
                          date_of_birth=date_of_birth, province_code=province_code)
    rows, total = await repo.search(db, subject, f, offset=offset, limit=limit)
    stub: EmergencyStub | None = None
    if exact and total == 0 and policy.can_request_break_glass(subject):
        found = await repo.active_by_citizen_id(db, exact)
        if found is not None:
            stub = EmergencyStub(id=found.id, masked_name=mask_name(found.full_name))
    audit.record(db, subject, action="search", object_type=OBJECT, object_id=stub.id if stub else None,
                 patient_id=stub.id if stub else None,
                 detail={"results": total, **({"emergency_stub": True} if stub else {})})
    return SearchResult(rows, total, stub)


async def readable_by_citizen_id(db: AsyncSession, subject: Subject, value: str) -> Patient:
    """The active record with this citizen ID, if the subject may read it (merge form)."""
    cid = value.strip().replace(" ", "")
    if not _CITIZEN.match(cid):
        raise BadInput(N_("A citizen ID has exactly 12 digits."), field="target_citizen_id")
    rows, _total = await repo.search(db, subject, repo.SearchFilter(citizen_id=cid), offset=0, limit=1)
    if not rows:
        raise BadInput(N_("No record you may read has this citizen ID."), field="target_citizen_id")
    return rows[0][0]


# --------------------------------------------------------------------------- the record

async def readable(db: AsyncSession, subject: Subject, patient_id: uuid.UUID) -> tuple[PatientAccess, ReadBasis]:
    """Authorise a read (403, audited as denied). A merged record points to its successor only
    for someone who may read the successor."""
    patient = await repo.get_patient(db, patient_id)
    if patient is None:
        raise NotFound(N_("No such patient."))
    target = patient
    if patient.status == "merged" and patient.merged_into_id is not None:
        target = await repo.get_patient(db, patient.merged_into_id) or patient
    access = await repo.access_of(db, target)
    basis = policy.read_basis(subject, access)
    authorize(basis is not None, action="read", object_type=OBJECT, object_id=patient_id, patient_id=patient_id)
    assert basis is not None
    if target is not patient:
        audit.record(db, subject, action="read", object_type=OBJECT, object_id=patient.id, patient_id=patient.id,
                     break_glass=basis == ReadBasis.BREAK_GLASS, detail={"merged_into": str(target.id)})
        raise MergedRecord(target.id)
    return access, basis


def _consent_out(consent: Consent, recorder: str | None) -> ConsentOut:
    out = ConsentOut.model_validate(consent)
    out.recorded_by_name = recorder
    return out


async def detail(db: AsyncSession, subject: Subject, *, patient_id: uuid.UUID) -> PatientDetail:
    """The patient record for one reader; the read is audited (flagged when by emergency access)."""
    access, basis = await readable(db, subject, patient_id)
    p = access.patient
    province, commune = await network.place(db, province_code=p.province_code, commune_code=p.commune_code)
    care = [CareOut(facility_id=c.facility_id, facility_name=name, basis=c.basis, since=c.created_at, ended_at=c.ended_at)
            for c, name in await repo.care_relationships(db, p.id)]
    consents = [_consent_out(c, name) for c, name in await repo.consents(db, p.id)]
    merges = [MergeOut.model_validate(m) for m in await repo.merges(db, p.id)]
    audit.record(db, subject, action="read", object_type=OBJECT, object_id=p.id, patient_id=p.id,
                 break_glass=basis == ReadBasis.BREAK_GLASS)
    return PatientDetail(
        **summary(p, province.name if province else None).model_dump(),
        commune_code=p.commune_code, commune_name=commune.name if commune else None, address_line=p.address_line,
        phone=p.phone, guardian_name=p.guardian_name, status=p.status,
        registered_by_facility_id=p.registered_by_facility_id, created_at=p.created_at, access_basis=basis.value,
        care_relationships=care, consents=consents, merges=merges,
    )


# --------------------------------------------------------------------------- consent

async def record_consent(db: AsyncSession, subject: Subject, *, patient_id: uuid.UUID, data: ConsentIn) -> Consent:
    await editable(db, subject, patient_id, action="consent")
    consent = Consent(
        patient_id=patient_id, purpose=data.purpose, granted=data.granted, method=data.method,
        text_version=clean_text(data.text_version, field="text_version", max_len=32, required=True),
        given_by=clean_text(data.given_by, field="given_by", max_len=200, required=True),
        recorded_by=subject.user_id, recorded_at=utcnow(),
    )
    db.add(consent)
    await db.flush()
    audit.record(db, subject, action="consent", object_type="consent", object_id=consent.id, patient_id=patient_id,
                 detail={"purpose": data.purpose, "granted": data.granted})
    if not data.granted:
        _consent_gone(db, patient_id, data.purpose)
    return consent


CONSENTS = "patients:consents"  # bus topic: a consent was withdrawn or refused (after commit)


def _consent_gone(db: AsyncSession, patient_id: uuid.UUID, purpose: str) -> None:
    """Tell every app process, once committed, that the patient no longer consents to ``purpose``
    (a recording under way stops: CLINICAL-RULES, recording needs the patient's consent)."""
    events.publish(db, CONSENTS, {"patient_id": str(patient_id), "purpose": purpose})


async def withdraw_consent(db: AsyncSession, subject: Subject, *, patient_id: uuid.UUID, consent_id: uuid.UUID) -> int:
    """Withdraw consent for the record's purpose (every standing record of it); nothing is deleted."""
    await editable(db, subject, patient_id, action="withdraw")
    consent = await repo.get_consent(db, consent_id)
    if consent is None or consent.patient_id != patient_id:
        raise NotFound(N_("No such consent record."))
    if consent.withdrawn_at is not None:
        raise Conflict(N_("This consent was already withdrawn."))
    count = await repo.withdraw_purpose(db, patient_id, consent.purpose, utcnow(), subject.user_id)
    audit.record(db, subject, action="withdraw", object_type="consent", object_id=consent.id, patient_id=patient_id,
                 detail={"purpose": consent.purpose, "records": count})
    _consent_gone(db, patient_id, consent.purpose)
    return count


async def has_consent(db: AsyncSession, *, patient_id: uuid.UUID, purpose: str, at: datetime | None = None) -> bool:
    """Whether the patient's latest standing consent record for ``purpose`` at ``at`` grants it."""
    latest = await repo.latest_consent(db, patient_id, purpose, at or utcnow())
    return bool(latest and latest.granted)


# --------------------------------------------------------------------------- reference for forms

async def registering_facilities(db: AsyncSession, subject: Subject) -> dict[uuid.UUID, str]:
    return await repo.facility_names(db, subject.clinical_facility_ids)


provinces = network.provinces
communes = network.communes

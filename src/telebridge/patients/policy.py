"""Who may do what with a patient record: the one place that says so. Deny by default.

A clinician sees a patient because their facility has a current care relationship with
that patient, never because of a global role; emergency ("break-glass") access is the
only other way in for staff, and it is flagged on every read. A patient reads their own
record. Administrators and analysts do not read identifiable records.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from telebridge.kit.subject import CLINICAL_ROLES, Role, Subject
from telebridge.patients.models import BreakGlassGrant, Patient


@dataclass(frozen=True)
class PatientAccess:
    """A patient with the facilities that currently care for them (what the rules need)."""

    patient: Patient
    care_facility_ids: frozenset[uuid.UUID]


class ReadBasis(StrEnum):
    RELATIONSHIP = "relationship"
    BREAK_GLASS = "break_glass"
    SELF = "self"


def _is_clinician(subject: Subject) -> bool:
    return subject.has_role(*CLINICAL_ROLES)


def _related(subject: Subject, access: PatientAccess) -> bool:
    return bool(subject.clinical_facility_ids & access.care_facility_ids)


def read_basis(subject: Subject, access: PatientAccess) -> ReadBasis | None:
    """Why ``subject`` may read this patient, or None. A relationship wins over break-glass."""
    if _related(subject, access):
        return ReadBasis.RELATIONSHIP
    if _is_clinician(subject) and access.patient.id in subject.break_glass_patient_ids:
        return ReadBasis.BREAK_GLASS
    if subject.patient_id is not None and subject.patient_id == access.patient.id:
        return ReadBasis.SELF
    return None


def can_read(subject: Subject, access: PatientAccess) -> bool:
    return read_basis(subject, access) is not None


def can_register(subject: Subject, facility_id: uuid.UUID | None = None) -> bool:
    """At the given facility, which must be one where the subject works clinically (or at any
    such facility when none is named yet: the registration form)."""
    if facility_id is None:
        return bool(subject.clinical_facility_ids)
    return facility_id in subject.clinical_facility_ids


def can_edit(subject: Subject, access: PatientAccess) -> bool:
    """Demographics and consent are kept by the facilities that care for the patient."""
    return access.patient.status == "active" and _related(subject, access)


def can_record_consent(subject: Subject, access: PatientAccess) -> bool:
    return can_edit(subject, access)


def can_merge(subject: Subject, source: PatientAccess, target: PatientAccess) -> bool:
    """A clinician who may read both records (relationship or emergency access)."""
    clinical = (ReadBasis.RELATIONSHIP, ReadBasis.BREAK_GLASS)
    return read_basis(subject, source) in clinical and read_basis(subject, target) in clinical


def can_request_break_glass(subject: Subject) -> bool:
    return _is_clinician(subject)


def can_review_break_glass(subject: Subject, grant: BreakGlassGrant, grantee_facility_ids: frozenset[uuid.UUID]) -> bool:
    """System administrators review every grant; facility administrators those of their staff.
    Nobody reviews their own emergency access."""
    if grant.user_id == subject.user_id:
        return False
    if subject.is_system_admin:
        return True
    return bool(subject.facility_ids(Role.FACILITY_ADMIN) & grantee_facility_ids)


def can_list_break_glass(subject: Subject) -> bool:
    return subject.has_role(Role.SYSTEM_ADMIN, Role.FACILITY_ADMIN)

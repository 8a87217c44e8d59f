"""Who may do what with imaging studies. Reading follows the patient record's rules
(:func:`telebridge.patients.policy.read_basis`); adding images follows the files rule (a clinician
caring for the patient, or under emergency access); the PACS is for clinicians only."""

from __future__ import annotations

from telebridge.files import policy as files_policy
from telebridge.kit.subject import CLINICAL_ROLES, Subject
from telebridge.patients.policy import ReadBasis


def can_add(subject: Subject, basis: ReadBasis | None) -> bool:
    return files_policy.can_upload(subject, basis)


def can_use_pacs(subject: Subject) -> bool:
    return subject.has_role(*CLINICAL_ROLES)


def can_push(subject: Subject, basis: ReadBasis | None) -> bool:
    """Sending a study to a PACS shares it: a care relationship, not emergency access alone."""
    return subject.has_role(*CLINICAL_ROLES) and basis == ReadBasis.RELATIONSHIP

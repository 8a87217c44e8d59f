"""Who may do what with clinical files. Reading follows the patient record's rules
(:func:`telebridge.patients.policy.read_basis`); adding a file is for clinicians who may read the
patient through a care relationship or emergency access; an upload belongs to its creator."""

from __future__ import annotations

from telebridge.files.models import UploadSession
from telebridge.kit.subject import CLINICAL_ROLES, Subject
from telebridge.patients.policy import ReadBasis


def can_upload(subject: Subject, basis: ReadBasis | None) -> bool:
    return subject.has_role(*CLINICAL_ROLES) and basis in (ReadBasis.RELATIONSHIP, ReadBasis.BREAK_GLASS)


def owns_upload(subject: Subject, upload: UploadSession) -> bool:
    return upload.user_id == subject.user_id

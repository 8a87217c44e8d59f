"""Who may use the reference terminologies (ICD-10): every signed-in member of staff.

The lists hold no patient data; patients' own accounts do not use them (their portal shows
diagnoses already chosen by a clinician), so the patient role is refused like every other
unknown case (deny by default)."""

from __future__ import annotations

from telebridge.kit.subject import Role, Subject

STAFF_ROLES = frozenset(Role) - {Role.PATIENT}


def can_search_terminology(subject: Subject) -> bool:
    return any(role in STAFF_ROLES for role in subject.roles)

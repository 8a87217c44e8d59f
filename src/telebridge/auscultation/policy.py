"""Who may do what with auscultation exams: the one place that says so. Deny by default.

The requesting bridge point's clinicians create exams and add recordings; the hub asked
(its specialists and coordinators) sees the exam in its worklist; only the hub's specialists
record a verdict. Nobody else, whatever their global role.
"""

from __future__ import annotations

import uuid

from telebridge.auscultation.models import AuscultationExam
from telebridge.kit.subject import CLINICAL_ROLES, Role, Subject

HUB_ROLES = (Role.HUB_SPECIALIST, Role.HUB_COORDINATOR)


def can_create(subject: Subject, facility_id: uuid.UUID) -> bool:
    """A clinician working at the requesting facility."""
    return facility_id in subject.facility_ids(*CLINICAL_ROLES)


def is_requester(subject: Subject, exam: AuscultationExam) -> bool:
    return exam.requesting_facility_id in subject.facility_ids(*CLINICAL_ROLES)


def is_hub(subject: Subject, exam: AuscultationExam) -> bool:
    return exam.hub_facility_id in subject.facility_ids(*HUB_ROLES)


def can_read(subject: Subject, exam: AuscultationExam) -> bool:
    return is_requester(subject, exam) or is_hub(subject, exam)


def can_add_recording(subject: Subject, exam: AuscultationExam) -> bool:
    return is_requester(subject, exam)


def can_give_verdict(subject: Subject, exam: AuscultationExam) -> bool:
    """A specialist of the hub asked, acting as a practitioner (licence checked by the service)."""
    return exam.hub_facility_id in subject.facility_ids(Role.HUB_SPECIALIST) and subject.practitioner_id is not None


def can_see_worklist(subject: Subject) -> bool:
    return bool(subject.facility_ids(*HUB_ROLES))


def can_list_requested(subject: Subject) -> bool:
    return bool(subject.facility_ids(*CLINICAL_ROLES))


def can_export_labels(subject: Subject) -> bool:
    return subject.is_system_admin

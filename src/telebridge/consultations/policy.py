"""Who may do what with a teleconsultation: the one place that says so. Deny by default.

A clinician sees a case because their facility asked (the requesting site) or was asked
(the hub it is currently routed to), never because of a global role. Administrators and
analysts see figures, not cases.
"""

from __future__ import annotations

import uuid

from telebridge.consultations.models import Consultation
from telebridge.consultations.states import Side
from telebridge.kit.subject import Role, Subject


def spoke_ids(subject: Subject) -> frozenset[uuid.UUID]:
    return subject.facility_ids(Role.SPOKE_CLINICIAN, Role.HUB_SPECIALIST)


def hub_ids(subject: Subject) -> frozenset[uuid.UUID]:
    return subject.facility_ids(Role.HUB_SPECIALIST, Role.HUB_COORDINATOR)


def is_spoke_side(subject: Subject, c: Consultation) -> bool:
    return c.requesting_facility_id in spoke_ids(subject)


def is_hub_side(subject: Subject, c: Consultation) -> bool:
    return c.hub_facility_id is not None and c.hub_facility_id in hub_ids(subject) and c.status != "draft"


def can_read(subject: Subject, c: Consultation) -> bool:
    if c.status == "draft":  # a draft is its author's until it is sent
        return c.requested_by == subject.user_id
    return is_spoke_side(subject, c) or is_hub_side(subject, c)


def can_request_at(subject: Subject, facility_id: uuid.UUID) -> bool:
    return facility_id in spoke_ids(subject) and subject.practitioner_id is not None


def can_act(subject: Subject, c: Consultation, side: Side) -> bool:
    if side == Side.SPOKE:
        return is_spoke_side(subject, c) and (c.status != "draft" or c.requested_by == subject.user_id)
    if side == Side.HUB:
        return is_hub_side(subject, c)
    return False


def can_accept(subject: Subject, c: Consultation) -> bool:
    return (c.hub_facility_id in subject.facility_ids(Role.HUB_SPECIALIST) and c.status != "draft"
            and subject.practitioner_id is not None)


def can_reassign(subject: Subject, c: Consultation) -> bool:
    coordinator = c.hub_facility_id in subject.facility_ids(Role.HUB_COORDINATOR)
    return is_hub_side(subject, c) and (coordinator or c.assigned_user_id == subject.user_id)


def can_edit_minutes(subject: Subject, c: Consultation) -> bool:
    return c.status in ("accepted", "info_requested") and (is_hub_side(subject, c) or is_spoke_side(subject, c))


def can_sign_minutes(subject: Subject, c: Consultation) -> bool:
    return (is_hub_side(subject, c) or is_spoke_side(subject, c)) and subject.practitioner_id is not None


def can_record_outcome(subject: Subject, c: Consultation) -> bool:
    return is_spoke_side(subject, c) and c.status in ("concluded", "closed")

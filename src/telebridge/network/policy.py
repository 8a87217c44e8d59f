"""Who may read and change the network: facilities, links, practitioners, rosters, declarations.

Reading is open to every signed-in user holding a role other than ``patient`` (clinicians,
coordinators, administrators, analysts). Writes are narrow: system administrators, and
facility administrators for their own facility. Everything else is denied.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from telebridge.kit.subject import Role, Subject

STAFF_ROLES = frozenset(Role) - {Role.PATIENT}


def can_read_network(subject: Subject) -> bool:
    """The directory, practitioners, links, rosters and declarations."""
    return any(role in STAFF_ROLES for role in subject.roles)


def _admin_of(subject: Subject, facility_id: uuid.UUID | None) -> bool:
    return facility_id is not None and facility_id in subject.facility_ids(Role.FACILITY_ADMIN)


def can_create_facility(subject: Subject) -> bool:
    return subject.is_system_admin


def can_edit_facility(subject: Subject, facility_id: uuid.UUID) -> bool:
    return subject.is_system_admin or _admin_of(subject, facility_id)


def can_manage_link(subject: Subject, hub_id: uuid.UUID) -> bool:
    """Create, edit or end a link: system administrators and administrators of the hub."""
    return subject.is_system_admin or _admin_of(subject, hub_id)


def can_manage_practitioner(subject: Subject, facility_ids: Iterable[uuid.UUID]) -> bool:
    """Create or edit a practitioner registered (or being registered) at ``facility_ids``."""
    return subject.is_system_admin or any(_admin_of(subject, f) for f in facility_ids)


def can_change_registrations(subject: Subject, facility_ids: Iterable[uuid.UUID]) -> bool:
    """Add, change or end registrations at these facilities: each facility's own administrators
    (or a system administrator). Editing a practitioner never reaches another facility's roll."""
    return subject.is_system_admin or all(_admin_of(subject, f) for f in facility_ids)


def can_add_practitioners(subject: Subject) -> bool:
    """Whether to offer the new-practitioner form (the facilities chosen are checked on submit)."""
    return subject.is_system_admin or bool(subject.facility_ids(Role.FACILITY_ADMIN))


def can_see_citizen_id(subject: Subject, facility_ids: Iterable[uuid.UUID]) -> bool:
    """A practitioner's citizen ID: system administrators and the admins of its facilities."""
    return can_manage_practitioner(subject, facility_ids)


def can_manage_roster(subject: Subject, hub_id: uuid.UUID) -> bool:
    return (subject.is_system_admin or _admin_of(subject, hub_id)
            or hub_id in subject.facility_ids(Role.HUB_COORDINATOR))


def can_declare(subject: Subject, facility_id: uuid.UUID) -> bool:
    """Submit or withdraw a facility's remote-care declaration."""
    return subject.is_system_admin or _admin_of(subject, facility_id)


def can_publish_declaration(subject: Subject) -> bool:
    return subject.is_system_admin

"""Who may read the audit trail."""

from __future__ import annotations

from telebridge.kit.subject import Role, Subject


def can_read_trail(subject: Subject) -> bool:
    return subject.has_role(Role.SYSTEM_ADMIN, Role.FACILITY_ADMIN)


def can_read_all(subject: Subject) -> bool:
    """System administrators see every record; facility administrators their facility's."""
    return subject.is_system_admin

"""The one read check every network route makes (patients and role-less users are refused)."""

from __future__ import annotations

from telebridge.kit.access import authorize
from telebridge.kit.subject import Subject
from telebridge.network import policy


def require_read(subject: Subject, object_type: str, object_id: object = None) -> None:
    authorize(policy.can_read_network(subject), action="read", object_type=object_type, object_id=object_id)

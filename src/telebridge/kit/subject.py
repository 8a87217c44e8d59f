"""The acting subject: who is making a request, with which roles at which facilities.

Policies (``<domain>/policy.py``) decide from a Subject; audit records take their actor
fields from it. A person may hold several roles at several facilities.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from telebridge.kit.i18n import N_


class Role(StrEnum):
    SPOKE_CLINICIAN = "spoke_clinician"
    HUB_SPECIALIST = "hub_specialist"
    HUB_COORDINATOR = "hub_coordinator"
    FACILITY_ADMIN = "facility_admin"
    AUTHORITY_ANALYST = "authority_analyst"
    SYSTEM_ADMIN = "system_admin"
    PATIENT = "patient"


ROLE_LABELS = {
    Role.SPOKE_CLINICIAN: N_("Bridge-point clinician"),
    Role.HUB_SPECIALIST: N_("Hub specialist"),
    Role.HUB_COORDINATOR: N_("Hub coordinator"),
    Role.FACILITY_ADMIN: N_("Facility administrator"),
    Role.AUTHORITY_ANALYST: N_("Health-authority analyst"),
    Role.SYSTEM_ADMIN: N_("System administrator"),
    Role.PATIENT: N_("Patient"),
}

CLINICAL_ROLES = frozenset({Role.SPOKE_CLINICIAN, Role.HUB_SPECIALIST, Role.HUB_COORDINATOR})
# Accounts holding any of these roles must use a second factor.
MFA_ROLES = frozenset(Role) - {Role.PATIENT}


@dataclass(frozen=True)
class Assignment:
    role: Role
    facility_id: uuid.UUID | None = None  # facility-scoped roles
    province_code: int | None = None  # authority analysts: a province, or None = national


@dataclass(frozen=True)
class Subject:
    user_id: uuid.UUID
    username: str
    display_name: str
    assignments: tuple[Assignment, ...] = ()
    practitioner_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    client_addr: str | None = None
    break_glass_patient_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(a.role for a in self.assignments)

    def has_role(self, *roles: Role) -> bool:
        return any(a.role in roles for a in self.assignments)

    def facility_ids(self, *roles: Role) -> frozenset[uuid.UUID]:
        wanted = roles or tuple(Role)
        return frozenset(a.facility_id for a in self.assignments if a.role in wanted and a.facility_id)

    @property
    def clinical_facility_ids(self) -> frozenset[uuid.UUID]:
        return self.facility_ids(*CLINICAL_ROLES)

    @property
    def is_system_admin(self) -> bool:
        return self.has_role(Role.SYSTEM_ADMIN)

    def analyst_scope(self) -> tuple[bool, frozenset[int]]:
        """(national, provinces) of the subject's analyst assignments."""
        mine = [a for a in self.assignments if a.role == Role.AUTHORITY_ANALYST]
        national = any(a.province_code is None for a in mine)
        return national, frozenset(a.province_code for a in mine if a.province_code is not None)

    # --- audit.Actor protocol
    @property
    def role_label(self) -> str:
        return ",".join(sorted({a.role.value for a in self.assignments})) or "none"

    @property
    def facility_id(self) -> uuid.UUID | None:
        return next((a.facility_id for a in self.assignments if a.facility_id), None)

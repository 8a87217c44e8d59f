"""Enforcing a policy decision: a refusal is a 403 whose denial is audited."""

from __future__ import annotations

import uuid
from typing import Any

from telebridge.kit.errors import Forbidden
from telebridge.kit.i18n import N_


def authorize(
    allowed: bool, *, action: str, object_type: str, object_id: Any = None,
    patient_id: uuid.UUID | None = None, message: str = N_("You do not have access to this."),
) -> None:
    if allowed:
        return
    exc = Forbidden(message)
    exc.audit = {  # type: ignore[attr-defined]
        "action": action, "object_type": object_type,
        "object_id": None if object_id is None else str(object_id), "patient_id": patient_id,
    }
    raise exc

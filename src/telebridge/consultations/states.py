"""The one state machine of a teleconsultation request.

    draft ──submit──▶ submitted ──accept──▶ accepted ──(chair signs minutes)──▶ concluded ──close──▶ closed
                        │  ▲                  │  ▲
          request_info  │  │ provide_info     │  │ reassign (stays accepted)
                        ▼  │                  ▼  │
                     info_requested ◀─────────┘  │
                        decline / escalate: the request moves to the next linked hub
                        (stays submitted) or, with no hub left, becomes unrouted
    draft, submitted, info_requested, unrouted ──cancel──▶ cancelled

Every other (status, action) pair is illegal and answered with 409.
"""

from __future__ import annotations

from enum import StrEnum

from telebridge.kit.errors import Conflict, Msg
from telebridge.kit.i18n import N_


class Status(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    INFO_REQUESTED = "info_requested"
    ACCEPTED = "accepted"
    CONCLUDED = "concluded"
    CLOSED = "closed"
    UNROUTED = "unrouted"
    CANCELLED = "cancelled"


class Action(StrEnum):
    SUBMIT = "submit"
    ACCEPT = "accept"
    DECLINE = "decline"
    REQUEST_INFO = "request_info"
    PROVIDE_INFO = "provide_info"
    REASSIGN = "reassign"
    CONCLUDE = "conclude"
    CLOSE = "close"
    CANCEL = "cancel"
    ESCALATE = "escalate"  # the SLA sweeper moves an unanswered request on


class Side(StrEnum):
    SPOKE = "spoke"  # clinicians of the requesting facility
    HUB = "hub"  # specialists and coordinators of the current hub
    SYSTEM = "system"


# (from, action) -> (to, who may do it). ``None`` as target: decided by the service
# (decline/escalate: submitted at the next hub or unrouted; provide_info: back to where it was).
TRANSITIONS: dict[tuple[Status, Action], tuple[Status | None, Side]] = {
    (Status.DRAFT, Action.SUBMIT): (Status.SUBMITTED, Side.SPOKE),
    (Status.DRAFT, Action.CANCEL): (Status.CANCELLED, Side.SPOKE),
    (Status.SUBMITTED, Action.ACCEPT): (Status.ACCEPTED, Side.HUB),
    (Status.SUBMITTED, Action.DECLINE): (None, Side.HUB),
    (Status.SUBMITTED, Action.REQUEST_INFO): (Status.INFO_REQUESTED, Side.HUB),
    (Status.SUBMITTED, Action.REASSIGN): (Status.SUBMITTED, Side.HUB),
    (Status.SUBMITTED, Action.CANCEL): (Status.CANCELLED, Side.SPOKE),
    (Status.SUBMITTED, Action.ESCALATE): (None, Side.SYSTEM),
    (Status.INFO_REQUESTED, Action.PROVIDE_INFO): (None, Side.SPOKE),
    (Status.INFO_REQUESTED, Action.CANCEL): (Status.CANCELLED, Side.SPOKE),
    (Status.ACCEPTED, Action.REQUEST_INFO): (Status.INFO_REQUESTED, Side.HUB),
    (Status.ACCEPTED, Action.REASSIGN): (Status.ACCEPTED, Side.HUB),
    (Status.ACCEPTED, Action.CONCLUDE): (Status.CONCLUDED, Side.HUB),
    (Status.CONCLUDED, Action.CLOSE): (Status.CLOSED, Side.SPOKE),
    (Status.UNROUTED, Action.CANCEL): (Status.CANCELLED, Side.SPOKE),
    (Status.UNROUTED, Action.SUBMIT): (Status.SUBMITTED, Side.SPOKE),
}

OPEN = frozenset({Status.SUBMITTED, Status.INFO_REQUESTED, Status.ACCEPTED, Status.CONCLUDED, Status.UNROUTED})
AT_HUB = frozenset({Status.SUBMITTED, Status.INFO_REQUESTED, Status.ACCEPTED, Status.CONCLUDED})

STATUS_LABELS = {
    Status.DRAFT: N_("Draft"),
    Status.SUBMITTED: N_("Waiting for the hub"),
    Status.INFO_REQUESTED: N_("More information requested"),
    Status.ACCEPTED: N_("Accepted"),
    Status.CONCLUDED: N_("Minutes signed"),
    Status.CLOSED: N_("Closed"),
    Status.UNROUTED: N_("No hub available"),
    Status.CANCELLED: N_("Cancelled"),
}

ACTION_LABELS = {
    Action.SUBMIT: N_("submitted"),
    Action.ACCEPT: N_("accepted"),
    Action.DECLINE: N_("declined"),
    Action.REQUEST_INFO: N_("asked for more information"),
    Action.PROVIDE_INFO: N_("answered the information request"),
    Action.REASSIGN: N_("reassigned"),
    Action.CONCLUDE: N_("concluded"),
    Action.CLOSE: N_("closed"),
    Action.CANCEL: N_("cancelled"),
    Action.ESCALATE: N_("escalated"),
}


def transition(current: str, action: Action) -> tuple[Status | None, Side]:
    """The target and the side allowed to act, or 409 with a clear message."""
    try:
        return TRANSITIONS[(Status(current), action)]
    except (KeyError, ValueError):
        raise Conflict(N_("This consultation is “{status}”: it cannot be {action} now."), code="illegal_transition",
                       status=Msg(STATUS_LABELS.get(current, current)),  # type: ignore[call-overload]
                       action=Msg(ACTION_LABELS[action])) from None


def allowed_actions(current: str) -> set[Action]:
    return {a for (s, a) in TRANSITIONS if s.value == current}

"""The ticket state machine: one explicit table of (status, action) → next status.

Who may perform an action is a separate question, answered by `permissions.can()`. Later rules
(escalation, approvals) extend this table rather than rewrite it. Imports nothing from Flask or
SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from portal.domain.errors import IllegalTransition


class Status(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Action(StrEnum):
    VIEW = "view"
    CLAIM = "claim"
    ACKNOWLEDGE = "acknowledge"
    REPLY = "reply"
    NOTE = "note"
    RECATEGORISE = "recategorise"
    REPRIORITISE = "reprioritise"
    TRANSFER = "transfer"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    CLOSE = "close"
    CUSTOMER_MESSAGE = "customer_message"


OPEN_STATUSES: Final = frozenset({Status.NEW, Status.ACKNOWLEDGED, Status.IN_PROGRESS})

_N, _A, _P, _R, _C = (
    Status.NEW,
    Status.ACKNOWLEDGED,
    Status.IN_PROGRESS,
    Status.RESOLVED,
    Status.CLOSED,
)

TRANSITIONS: Final[Mapping[tuple[Status, Action], Status]] = {
    # Looking and writing internal notes never change the status; a closed case stays readable.
    **{(s, Action.VIEW): s for s in Status},
    **{(s, Action.NOTE): s for s in Status},
    # R6: the first responder to claim owns the case; claiming a new case also acknowledges it (R3).
    (_N, Action.CLAIM): _P,
    (_A, Action.CLAIM): _P,
    # R3: a registration confirmation within 24 hours, by button or by the first public reply.
    (_N, Action.ACKNOWLEDGE): _A,
    (_N, Action.REPLY): _A,
    (_A, Action.REPLY): _A,
    (_P, Action.REPLY): _P,
    (_R, Action.REPLY): _R,
    # R5: classification and routing can be corrected while the case is open.
    **{(s, Action.RECATEGORISE): s for s in OPEN_STATUSES},
    **{(s, Action.REPRIORITISE): s for s in OPEN_STATUSES},
    **{(s, Action.TRANSFER): s for s in OPEN_STATUSES},
    # R4: a small problem is answered and resolved at once, from any open status.
    **{(s, Action.RESOLVE): _R for s in OPEN_STATUSES},
    # R16: not done until the customer is satisfied; staff may reopen a resolved case.
    (_R, Action.REOPEN): _P,
    (_R, Action.CLOSE): _C,
    # The customer can keep writing until the case is closed (R13).
    **{(s, Action.CUSTOMER_MESSAGE): s for s in (_N, _A, _P, _R)},
}


def next_status(current: Status, action: Action) -> Status:
    """Return the status after `action`; raise IllegalTransition if the table forbids it."""
    try:
        return TRANSITIONS[(current, action)]
    except KeyError:
        raise IllegalTransition(f"cannot {action.value} a ticket that is {current.value}") from None


def is_allowed(current: Status, action: Action) -> bool:
    return (current, action) in TRANSITIONS


def is_open(status: Status) -> bool:
    return status in OPEN_STATUSES

"""The ticket state machine: one explicit table of (status, action) → next status.

Who may perform an action is a separate question, answered by `permissions.can()`; whether the
escalation tier allows it is `ladder`'s; whether a resolution needs a manager is `approval`'s.
Imports nothing from Flask or SQLAlchemy.
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
    AWAITING_APPROVAL = "awaiting_approval"
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
    PROPOSE = "propose"
    APPROVE = "approve"
    REJECT = "reject"
    ESCALATE = "escalate"
    SEND_BACK = "send_back"
    MARK_SERIOUS = "mark_serious"
    PROMISE = "promise"
    EXTEND = "extend"
    PAUSE = "pause"
    RESUME = "resume"
    LINK_STAFF = "link_staff"
    REPORT_NONCOOPERATION = "report_noncooperation"
    RECORD_CALLBACK = "record_callback"
    REOPEN = "reopen"
    CLOSE = "close"
    CUSTOMER_MESSAGE = "customer_message"
    CUSTOMER_CONFIRM = "customer_confirm"
    CUSTOMER_REOPEN = "customer_reopen"
    AUTO_CLOSE = "auto_close"


_N, _A, _P, _W, _R, _C = (
    Status.NEW,
    Status.ACKNOWLEDGED,
    Status.IN_PROGRESS,
    Status.AWAITING_APPROVAL,
    Status.RESOLVED,
    Status.CLOSED,
)
# Not yet decided: the clocks run and the ladder applies.
OPEN_STATUSES: Final = frozenset({_N, _A, _P, _W})
# The same set as stored strings, for SQL `IN` lists and templates.
OPEN_STATUS_VALUES: Final = tuple(sorted(s.value for s in OPEN_STATUSES))
# Open and still being worked (a proposal waiting for a manager is frozen until decided).
WORKING_STATUSES: Final = frozenset({_N, _A, _P})


def _same(action: Action, statuses: frozenset[Status]) -> dict[tuple[Status, Action], Status]:
    return {(s, action): s for s in statuses}


TRANSITIONS: Final[Mapping[tuple[Status, Action], Status]] = {
    # Looking and writing internal notes never change the status; a closed case stays readable.
    **_same(Action.VIEW, frozenset(Status)),
    **_same(Action.NOTE, frozenset(Status)),
    # R6: the first responder to claim owns the case; claiming a new case also acknowledges it (R3).
    (_N, Action.CLAIM): _P,
    (_A, Action.CLAIM): _P,
    # R10 outranks R6: when the owner turns out to be the person complained about, the work goes to
    # their lead at once (services/recusal.py); a case left without an owner can be taken on again.
    (_P, Action.CLAIM): _P,
    # R3: a registration confirmation within 24 hours, by button or by the first public reply.
    (_N, Action.ACKNOWLEDGE): _A,
    (_N, Action.REPLY): _A,
    (_A, Action.REPLY): _A,
    (_P, Action.REPLY): _P,
    # R11: while a decision waits, staff may still calm the customer (but promise no outcome).
    (_W, Action.REPLY): _W,
    (_R, Action.REPLY): _R,
    # R8: a promised update time can be given whenever the case is open.
    **_same(Action.PROMISE, OPEN_STATUSES),
    # R5: classification and routing can be corrected while the case is open.
    **_same(Action.RECATEGORISE, OPEN_STATUSES),
    **_same(Action.REPRIORITISE, OPEN_STATUSES),
    **_same(Action.TRANSFER, OPEN_STATUSES),
    # R9: the ladder moves while the case is open; the status does not change with the tier.
    **_same(Action.ESCALATE, OPEN_STATUSES),
    **_same(Action.SEND_BACK, OPEN_STATUSES),
    **_same(Action.MARK_SERIOUS, OPEN_STATUSES),
    **_same(Action.REPORT_NONCOOPERATION, OPEN_STATUSES),
    # R7: clocks can be extended once, or paused while waiting for the customer.
    **_same(Action.EXTEND, WORKING_STATUSES),
    **_same(Action.PAUSE, frozenset({_A, _P})),
    **_same(Action.RESUME, frozenset({_A, _P})),
    # R10: the staff member a complaint is about can be named until it is closed.
    **_same(Action.LINK_STAFF, frozenset({_N, _A, _P, _W, _R})),
    # R4: a small problem is answered and resolved at once, from any working status.
    **{(s, Action.RESOLVE): _R for s in WORKING_STATUSES},
    # R12: a resolution that commits the organisation waits for a manager's signature.
    **{(s, Action.PROPOSE): _W for s in WORKING_STATUSES},
    (_W, Action.APPROVE): _R,
    (_W, Action.REJECT): _P,
    # R15–R17: after the decision — the customer's answer, callbacks, closing.
    (_R, Action.CUSTOMER_CONFIRM): _C,
    (_R, Action.CUSTOMER_REOPEN): _P,  # R16: dissatisfied means not done
    (_R, Action.AUTO_CLOSE): _C,
    (_R, Action.REOPEN): _P,
    (_R, Action.CLOSE): _C,
    **_same(Action.RECORD_CALLBACK, frozenset({_R, _C})),
    # The customer can keep writing until the case is closed (R13).
    **_same(Action.CUSTOMER_MESSAGE, frozenset({_N, _A, _P, _W, _R})),
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

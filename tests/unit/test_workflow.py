"""The ticket state machine, held to a transition table written out here by hand.

EXPECTED is read from the rules cited in portal/domain/workflow.py, not copied from its code, so
an accidental edit of `workflow.TRANSITIONS` (a pair added, dropped or retargeted) fails a test.
"""

from __future__ import annotations

import itertools

import pytest

from portal.domain import workflow
from portal.domain.errors import IllegalTransition
from portal.domain.workflow import Action, Status

N = Status.NEW
A = Status.ACKNOWLEDGED
P = Status.IN_PROGRESS
W = Status.AWAITING_APPROVAL
R = Status.RESOLVED
C = Status.CLOSED

# Every allowed (status, action) pair and where it leads; anything not listed is illegal.
EXPECTED: dict[Status, dict[Action, Status]] = {
    N: {
        Action.VIEW: N,
        Action.NOTE: N,
        Action.CLAIM: P,  # R6 + R3: claiming a new case owns and acknowledges it
        Action.ACKNOWLEDGE: A,  # R3
        Action.REPLY: A,  # R3: the first public reply is the confirmation
        Action.PROMISE: N,  # R8
        Action.RECATEGORISE: N,  # R5
        Action.REPRIORITISE: N,
        Action.TRANSFER: N,
        Action.ESCALATE: N,  # R9: the tier moves, the status does not
        Action.SEND_BACK: N,
        Action.MARK_SERIOUS: N,
        Action.REPORT_NONCOOPERATION: N,  # R6
        Action.EXTEND: N,  # R7
        Action.LINK_STAFF: N,  # R10
        Action.RESOLVE: R,  # R4
        Action.PROPOSE: W,  # R12
        Action.CUSTOMER_MESSAGE: N,  # R13
    },
    A: {
        Action.VIEW: A,
        Action.NOTE: A,
        Action.CLAIM: P,  # R6
        Action.REPLY: A,
        Action.PROMISE: A,
        Action.RECATEGORISE: A,
        Action.REPRIORITISE: A,
        Action.TRANSFER: A,
        Action.ESCALATE: A,
        Action.SEND_BACK: A,
        Action.MARK_SERIOUS: A,
        Action.REPORT_NONCOOPERATION: A,
        Action.EXTEND: A,
        Action.PAUSE: A,  # R7: waiting for the customer
        Action.RESUME: A,
        Action.LINK_STAFF: A,
        Action.RESOLVE: R,
        Action.PROPOSE: W,
        Action.CUSTOMER_MESSAGE: A,
    },
    P: {
        Action.VIEW: P,
        Action.CLAIM: P,  # R10: an owner released by recusal is replaced by a colleague's claim
        Action.NOTE: P,
        Action.REPLY: P,
        Action.PROMISE: P,
        Action.RECATEGORISE: P,
        Action.REPRIORITISE: P,
        Action.TRANSFER: P,
        Action.ESCALATE: P,
        Action.SEND_BACK: P,
        Action.MARK_SERIOUS: P,
        Action.REPORT_NONCOOPERATION: P,
        Action.EXTEND: P,
        Action.PAUSE: P,
        Action.RESUME: P,
        Action.LINK_STAFF: P,
        Action.RESOLVE: R,
        Action.PROPOSE: W,
        Action.CUSTOMER_MESSAGE: P,
    },
    W: {
        Action.VIEW: W,
        Action.NOTE: W,
        Action.REPLY: W,  # R11: calm the customer while the decision waits
        Action.PROMISE: W,
        Action.RECATEGORISE: W,
        Action.REPRIORITISE: W,
        Action.TRANSFER: W,
        Action.ESCALATE: W,
        Action.SEND_BACK: W,
        Action.MARK_SERIOUS: W,
        Action.REPORT_NONCOOPERATION: W,
        Action.LINK_STAFF: W,
        Action.APPROVE: R,  # R12
        Action.REJECT: P,
        Action.CUSTOMER_MESSAGE: W,
    },
    R: {
        Action.VIEW: R,
        Action.NOTE: R,
        Action.REPLY: R,
        Action.LINK_STAFF: R,
        Action.RECORD_CALLBACK: R,  # R17
        Action.CUSTOMER_MESSAGE: R,
        Action.CUSTOMER_CONFIRM: C,  # R15
        Action.CUSTOMER_REOPEN: P,  # R16
        Action.AUTO_CLOSE: C,
        Action.REOPEN: P,  # R16
        Action.CLOSE: C,
    },
    C: {
        Action.VIEW: C,
        Action.NOTE: C,
        Action.RECORD_CALLBACK: C,  # R17: every resolved item gets its callback, even once closed
    },
}

ALL_PAIRS = list(itertools.product(Status, Action))


def test_expected_table_names_every_status() -> None:
    assert set(EXPECTED) == set(Status)


def test_transition_table_is_exactly_the_expected_table() -> None:
    expected_pairs = {(s, a): t for s, row in EXPECTED.items() for a, t in row.items()}
    assert dict(workflow.TRANSITIONS) == expected_pairs


@pytest.mark.parametrize(("status", "action"), ALL_PAIRS, ids=[f"{s}-{a}" for s, a in ALL_PAIRS])
def test_every_status_action_pair_is_either_a_listed_transition_or_illegal(
    status: Status, action: Action
) -> None:
    target = EXPECTED[status].get(action)
    if target is None:
        assert not workflow.is_allowed(status, action)
        with pytest.raises(IllegalTransition, match=f"cannot {action.value} a ticket that is {status.value}"):
            workflow.next_status(status, action)
    else:
        assert workflow.is_allowed(status, action)
        assert workflow.next_status(status, action) is target


def test_closed_ticket_stays_closed_and_accepts_only_view_note_and_callback() -> None:
    """A closed case is read-only apart from internal notes and the R17 follow-up call record."""
    allowed = {a for a in Action if workflow.is_allowed(C, a)}
    assert allowed == {Action.VIEW, Action.NOTE, Action.RECORD_CALLBACK}
    assert {workflow.next_status(C, a) for a in allowed} == {C}


@pytest.mark.parametrize("action", [Action.REPLY, Action.REOPEN, Action.CUSTOMER_REOPEN, Action.RESOLVE])
def test_closed_ticket_cannot_be_answered_or_reopened(action: Action) -> None:
    with pytest.raises(IllegalTransition):
        workflow.next_status(C, action)


def test_claiming_a_new_ticket_puts_it_in_progress_r6() -> None:
    assert workflow.next_status(N, Action.CLAIM) is P


def test_claiming_an_acknowledged_ticket_puts_it_in_progress_r6() -> None:
    assert workflow.next_status(A, Action.CLAIM) is P


def test_an_in_progress_ticket_whose_owner_was_released_can_be_claimed_r10() -> None:
    assert workflow.next_status(P, Action.CLAIM) is P


@pytest.mark.parametrize("status", [W, R, C])
def test_a_ticket_awaiting_a_decision_or_done_cannot_be_claimed_r6(status: Status) -> None:
    with pytest.raises(IllegalTransition):
        workflow.next_status(status, Action.CLAIM)


def test_first_public_reply_acknowledges_a_new_ticket_r3() -> None:
    assert workflow.next_status(N, Action.REPLY) is A


def test_acknowledge_button_only_works_on_a_new_ticket_r3() -> None:
    assert workflow.next_status(N, Action.ACKNOWLEDGE) is A
    for status in (A, P, W, R, C):
        with pytest.raises(IllegalTransition):
            workflow.next_status(status, Action.ACKNOWLEDGE)


@pytest.mark.parametrize("status", sorted(workflow.WORKING_STATUSES))
def test_small_problem_can_be_resolved_at_once_from_every_working_status_r4(status: Status) -> None:
    assert workflow.next_status(status, Action.RESOLVE) is R


def test_a_proposal_awaiting_approval_is_not_resolved_around_the_manager_r12() -> None:
    """R4's immediate resolve stops once a resolution waits for signature: only approve/reject."""
    with pytest.raises(IllegalTransition):
        workflow.next_status(W, Action.RESOLVE)
    assert workflow.next_status(W, Action.APPROVE) is R
    assert workflow.next_status(W, Action.REJECT) is P


@pytest.mark.parametrize("action", [Action.REOPEN, Action.CUSTOMER_REOPEN])
def test_reopen_goes_back_to_in_progress_only_from_resolved_r16(action: Action) -> None:
    assert workflow.next_status(R, action) is P
    for status in (N, A, P, W, C):
        with pytest.raises(IllegalTransition):
            workflow.next_status(status, action)


def test_open_statuses_are_the_undecided_ones() -> None:
    assert {N, A, P, W} == workflow.OPEN_STATUSES
    assert {N, A, P} == workflow.WORKING_STATUSES
    assert [s for s in Status if workflow.is_open(s)] == [N, A, P, W]


def test_customer_can_write_until_the_ticket_is_closed_r13() -> None:
    allowed = {s for s in Status if workflow.is_allowed(s, Action.CUSTOMER_MESSAGE)}
    assert allowed == {N, A, P, W, R}

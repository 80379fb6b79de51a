"""When a resolution needs a manager's signature (R12, R11) and who may give it (R12, R10).

`expected_reasons` below restates R12 independently of portal/domain/approval.py; every
combination of outcome × amount × serious × concerns-staff × tier is checked against it, and a
short table pins the cases the rules name outright.
"""

from __future__ import annotations

import itertools

import pytest

from portal.domain import approval
from portal.domain.approval import ApprovalReason, Outcome, ProposalFacts
from portal.domain.errors import NotPermitted
from portal.domain.permissions import Role

THRESHOLD = 50_000  # minor units, e.g. 500.00
AMOUNTS = [None, 0, THRESHOLD, THRESHOLD + 1]
TIERS = [1, 2, 3]

R = ApprovalReason


def expected_reasons(
    outcome: Outcome, amount: int | None, serious: bool, concerns_staff: bool, tier: int
) -> set[ApprovalReason]:
    """R12 restated: money above the threshold, anything serious, anything about a staff member
    (discipline), and anything decided at the manager tier (R9) needs a manager's signature."""
    reasons: set[ApprovalReason] = set()
    if outcome is Outcome.COMPENSATION and amount is not None and amount > THRESHOLD:
        reasons.add(R.COMPENSATION_ABOVE_THRESHOLD)
    if serious:
        reasons.add(R.SERIOUS)
    if outcome is Outcome.STAFF_ACTION or concerns_staff:
        reasons.add(R.CONCERNS_STAFF)
    if tier == 3:
        reasons.add(R.MANAGER_TIER)
    return reasons


ALL_FACTS = list(itertools.product(Outcome, AMOUNTS, [False, True], [False, True], TIERS))


def facts(
    outcome: Outcome = Outcome.EXPLANATION,
    amount: int | None = None,
    *,
    serious: bool = False,
    concerns_staff: bool = False,
    tier: int = 1,
) -> ProposalFacts:
    return ProposalFacts(
        outcome=outcome, amount_minor=amount, serious=serious, concerns_staff=concerns_staff, tier=tier
    )


def test_the_exhaustive_grid_really_is_exhaustive() -> None:
    assert len(ALL_FACTS) == len(Outcome) * 4 * 2 * 2 * 3 == 240


@pytest.mark.parametrize(
    ("outcome", "amount", "serious", "concerns_staff", "tier"),
    [
        pytest.param(
            *combo, id=f"{combo[0]}-amount-{combo[1]}-serious-{combo[2]}-staff-{combo[3]}-tier-{combo[4]}"
        )
        for combo in ALL_FACTS
    ],
)
def test_approval_reasons_follow_r12_for_every_combination(
    outcome: Outcome, amount: int | None, serious: bool, concerns_staff: bool, tier: int
) -> None:
    proposal = facts(outcome, amount, serious=serious, concerns_staff=concerns_staff, tier=tier)
    reasons = approval.approval_reasons(proposal, THRESHOLD)
    expected = expected_reasons(outcome, amount, serious, concerns_staff, tier)

    assert set(reasons) == expected
    assert len(reasons) == len(set(reasons)), "a reason is listed twice"
    assert approval.requires_approval(proposal, THRESHOLD) is bool(expected)


@pytest.mark.parametrize(
    ("proposal", "expected"),
    [
        pytest.param(facts(), [], id="R12-plain-explanation-at-tier-1-needs-nothing"),
        pytest.param(facts(tier=2), [], id="R12-plain-explanation-at-lead-tier-needs-nothing"),
        pytest.param(facts(Outcome.REPAIR_OR_REPLACEMENT), [], id="R12-repair-needs-nothing"),
        pytest.param(facts(Outcome.OTHER), [], id="R12-other-needs-nothing"),
        pytest.param(
            facts(Outcome.COMPENSATION, THRESHOLD + 1),
            [R.COMPENSATION_ABOVE_THRESHOLD],
            id="R12-compensation-one-minor-unit-above-threshold",
        ),
        pytest.param(
            facts(Outcome.COMPENSATION, THRESHOLD),
            [],
            id="R12-compensation-exactly-at-threshold-is-not-above",
        ),
        pytest.param(facts(Outcome.COMPENSATION, 1), [], id="R12-small-compensation"),
        pytest.param(
            facts(Outcome.REPAIR_OR_REPLACEMENT, THRESHOLD * 10),
            [],
            id="R12-an-amount-on-a-repair-is-not-compensation",
        ),
        pytest.param(facts(Outcome.STAFF_ACTION), [R.CONCERNS_STAFF], id="R12-staff-action-outcome"),
        pytest.param(facts(concerns_staff=True), [R.CONCERNS_STAFF], id="R10-R12-complaint-names-staff"),
        pytest.param(
            facts(Outcome.STAFF_ACTION, concerns_staff=True),
            [R.CONCERNS_STAFF],
            id="R12-staff-action-about-named-staff-listed-once",
        ),
        pytest.param(facts(serious=True), [R.SERIOUS], id="R12-marked-serious"),
        pytest.param(facts(tier=3), [R.MANAGER_TIER], id="R9-R12-manager-tier"),
        pytest.param(
            facts(Outcome.COMPENSATION, THRESHOLD + 1, serious=True, concerns_staff=True, tier=3),
            [R.COMPENSATION_ABOVE_THRESHOLD, R.SERIOUS, R.CONCERNS_STAFF, R.MANAGER_TIER],
            id="R12-every-reason-at-once",
        ),
    ],
)
def test_the_cases_r12_names_outright(proposal: ProposalFacts, expected: list[ApprovalReason]) -> None:
    reasons = approval.approval_reasons(proposal, THRESHOLD)
    assert sorted(reasons) == sorted(expected)
    assert approval.requires_approval(proposal, THRESHOLD) is bool(expected)


@pytest.mark.parametrize(
    ("threshold", "amount", "needs_approval"),
    [
        pytest.param(0, 1, True, id="R12-zero-threshold-any-money-needs-approval"),
        pytest.param(0, 0, False, id="R12-zero-threshold-zero-amount"),
        pytest.param(100, 100, False, id="R12-at-a-configured-threshold"),
        pytest.param(100, 101, True, id="R12-above-a-configured-threshold"),
    ],
)
def test_the_threshold_is_a_setting_not_a_constant_r12(
    threshold: int, amount: int, needs_approval: bool
) -> None:
    proposal = facts(Outcome.COMPENSATION, amount)
    assert approval.requires_approval(proposal, threshold) is needs_approval


def test_reasons_are_plain_strings_that_can_be_stored() -> None:
    reasons = approval.approval_reasons(facts(Outcome.STAFF_ACTION, serious=True, tier=3), THRESHOLD)
    assert ",".join(reasons) == "serious,concerns_staff,manager_tier"


# --- four eyes (R12) and recusal (R10) ----------------------------------------------------------

PROPOSER = 10
MANAGER = 20
OTHER_MANAGER = 21
SUBJECT = 30  # the staff member the complaint is about


def test_a_manager_other_than_the_proposer_may_approve_r12() -> None:
    approval.check_four_eyes(
        approver_id=MANAGER, approver_role=Role.MANAGER, proposer_id=PROPOSER, concerns_user_id=None
    )
    approval.check_four_eyes(
        approver_id=MANAGER, approver_role="manager", proposer_id=PROPOSER, concerns_user_id=SUBJECT
    )


def test_manager_cannot_approve_own_proposal_r12() -> None:
    with pytest.raises(NotPermitted, match="proposer"):
        approval.check_four_eyes(
            approver_id=MANAGER, approver_role=Role.MANAGER, proposer_id=MANAGER, concerns_user_id=None
        )


@pytest.mark.parametrize("role", [Role.RESPONDER, Role.LEAD, Role.ADMIN, "", "Manager"])
def test_only_a_manager_may_approve_r12(role: str) -> None:
    with pytest.raises(NotPermitted, match="manager"):
        approval.check_four_eyes(
            approver_id=MANAGER, approver_role=role, proposer_id=PROPOSER, concerns_user_id=None
        )


def test_the_manager_the_complaint_is_about_cannot_approve_its_resolution_r10() -> None:
    with pytest.raises(NotPermitted, match="complained about"):
        approval.check_four_eyes(
            approver_id=SUBJECT, approver_role=Role.MANAGER, proposer_id=PROPOSER, concerns_user_id=SUBJECT
        )


def test_the_manager_complained_about_cannot_approve_even_their_own_proposal_r10_r12() -> None:
    with pytest.raises(NotPermitted):
        approval.check_four_eyes(
            approver_id=SUBJECT, approver_role=Role.MANAGER, proposer_id=SUBJECT, concerns_user_id=SUBJECT
        )


def test_another_manager_may_approve_a_case_about_a_colleague_r10() -> None:
    approval.check_four_eyes(
        approver_id=OTHER_MANAGER, approver_role=Role.MANAGER, proposer_id=PROPOSER, concerns_user_id=SUBJECT
    )


def test_four_eyes_takes_keyword_arguments_only() -> None:
    with pytest.raises(TypeError):
        approval.check_four_eyes(MANAGER, Role.MANAGER, PROPOSER, None)  # type: ignore[misc]

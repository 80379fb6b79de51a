"""The escalation ladder (R9) and the way back down it, held to tables written out here by hand.

R9: first responder → department lead → manager. R16: a dissatisfied customer sends the case one
step up. Sending a case back down is for the people handling it at that tier.
"""

from __future__ import annotations

import itertools

import pytest

from portal.domain import ladder
from portal.domain.errors import IllegalTransition
from portal.domain.ladder import Tier
from portal.domain.permissions import Role

# --- up the ladder ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        pytest.param(1, Tier.LEAD, id="R9-responder-to-lead"),
        pytest.param(2, Tier.MANAGER, id="R9-lead-to-manager"),
    ],
)
def test_next_tier_is_one_step_up_the_ladder_r9(tier: int, expected: Tier) -> None:
    assert ladder.next_tier(tier) == expected
    assert isinstance(ladder.next_tier(tier), Tier)


def test_a_full_climb_goes_responder_lead_manager_and_stops_r9() -> None:
    climb = [Tier.RESPONDER]
    while True:
        try:
            climb.append(ladder.next_tier(climb[-1]))
        except IllegalTransition:
            break
    assert climb == [Tier.RESPONDER, Tier.LEAD, Tier.MANAGER]


def test_a_manual_escalation_above_the_manager_tier_is_refused_r9() -> None:
    with pytest.raises(IllegalTransition):
        ladder.next_tier(Tier.MANAGER)


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        pytest.param(1, Tier.LEAD, id="R9-responder-to-lead"),
        pytest.param(2, Tier.MANAGER, id="R9-lead-to-manager"),
        pytest.param(3, Tier.MANAGER, id="R16-manager-stays-manager"),
    ],
)
def test_automatic_escalation_is_capped_at_the_manager_tier_r9_r16(tier: int, expected: Tier) -> None:
    assert ladder.next_tier_capped(tier) == expected


def test_repeated_automatic_escalations_never_leave_the_ladder_r16() -> None:
    tier = Tier.RESPONDER
    for _ in range(5):
        tier = ladder.next_tier_capped(tier)
    assert tier == Tier.MANAGER


# --- down the ladder ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        pytest.param(3, Tier.LEAD, id="manager-to-lead"),
        pytest.param(2, Tier.RESPONDER, id="lead-to-responder"),
    ],
)
def test_previous_tier_is_one_step_down_the_ladder(tier: int, expected: Tier) -> None:
    assert ladder.previous_tier(tier) == expected


def test_a_case_with_the_first_responder_cannot_go_further_down() -> None:
    with pytest.raises(IllegalTransition):
        ladder.previous_tier(Tier.RESPONDER)


# --- who handles each tier ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "role"),
    [
        pytest.param(1, Role.RESPONDER, id="R9-tier-1-responder"),
        pytest.param(2, Role.LEAD, id="R9-tier-2-lead"),
        pytest.param(3, Role.MANAGER, id="R9-tier-3-manager"),
    ],
)
def test_each_tier_is_handled_by_its_rung_of_the_ladder_r9(tier: int, role: Role) -> None:
    assert ladder.handler_role_for(tier) == role


@pytest.mark.parametrize("tier", [0, 4])
def test_a_tier_off_the_ladder_has_no_handler(tier: int) -> None:
    with pytest.raises(ValueError):
        ladder.handler_role_for(tier)


# --- who may send a case back down --------------------------------------------------------------

# (role, tier) → may send back. A lead sends a lead-tier case back to the responder; a manager sends
# back a case at the lead or manager tier; a responder has nothing below them and an admin does
# not handle complaints (R20).
SEND_BACK: dict[tuple[Role, int], bool] = {
    (Role.RESPONDER, 1): False,
    (Role.RESPONDER, 2): False,
    (Role.RESPONDER, 3): False,
    (Role.LEAD, 1): False,
    (Role.LEAD, 2): True,
    (Role.LEAD, 3): False,
    (Role.MANAGER, 1): False,
    (Role.MANAGER, 2): True,
    (Role.MANAGER, 3): True,
    (Role.ADMIN, 1): False,
    (Role.ADMIN, 2): False,
    (Role.ADMIN, 3): False,
}


def test_the_send_back_table_covers_every_role_and_tier() -> None:
    assert set(SEND_BACK) == set(itertools.product(Role, [t.value for t in Tier]))


@pytest.mark.parametrize(
    ("role", "tier", "allowed"),
    [
        pytest.param(role, tier, allowed, id=f"{role}-tier-{tier}")
        for (role, tier), allowed in SEND_BACK.items()
    ],
)
def test_who_may_send_a_case_back_down_the_ladder_r9(role: Role, tier: int, allowed: bool) -> None:
    assert ladder.can_send_back(role, tier) is allowed
    # Roles reach the domain as plain strings from the database too.
    assert ladder.can_send_back(str(role.value), tier) is allowed


@pytest.mark.parametrize("role", ["", "Manager", "LEAD", "staff"])
def test_an_unknown_role_may_never_send_back(role: str) -> None:
    assert not any(ladder.can_send_back(role, tier) for tier in Tier)

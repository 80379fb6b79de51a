"""What a transfer does to the tier (R6, R9), as a table written out by hand.

The tier follows the work: at the lead tier the receiving department's lead takes the case; a
department without a lead has no lead tier, so the case goes up to the managers. The owner never
changes (R6), so the responder tier stays; so does the manager tier.
"""

from __future__ import annotations

import pytest

from portal.domain import ladder
from portal.domain.ladder import Tier


@pytest.mark.parametrize(
    ("tier", "has_lead", "expected"),
    [
        pytest.param(Tier.RESPONDER, True, Tier.RESPONDER, id="R6-responder-tier-stays-with-the-owner"),
        pytest.param(Tier.RESPONDER, False, Tier.RESPONDER, id="R6-responder-tier-stays-without-a-lead"),
        pytest.param(Tier.LEAD, True, Tier.LEAD, id="R9-the-receiving-lead-takes-the-lead-tier"),
        pytest.param(Tier.LEAD, False, Tier.MANAGER, id="R9-no-lead-there-so-the-managers-take-it"),
        pytest.param(Tier.MANAGER, True, Tier.MANAGER, id="R9-manager-tier-stays"),
        pytest.param(Tier.MANAGER, False, Tier.MANAGER, id="R9-manager-tier-stays-without-a-lead"),
    ],
)
def test_the_tier_follows_the_work_to_the_receiving_department_r6_r9(
    tier: Tier, has_lead: bool, expected: Tier
) -> None:
    moved = ladder.tier_after_transfer(tier, receiving_department_has_lead=has_lead)
    assert moved == expected
    assert isinstance(moved, Tier)

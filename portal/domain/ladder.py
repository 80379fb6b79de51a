"""The escalation ladder (R9): first responder → department lead → manager.

The owner stays the owner whatever the tier (R6); the tier says who is now handling the case.
Pure module: no Flask, no SQLAlchemy.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

from portal.domain.errors import IllegalTransition
from portal.domain.permissions import Role


class Tier(IntEnum):
    RESPONDER = 1
    LEAD = 2
    MANAGER = 3


class EscalationCause(StrEnum):
    MANUAL = "manual"
    ACKNOWLEDGEMENT_BREACHED = "acknowledgement_breached"  # R3
    RESOLUTION_BREACHED = "resolution_breached"  # R7
    PROMISE_MISSED = "promise_missed"  # R8
    SERIOUS = "serious"  # R9: serious matters are the manager's
    CUSTOMER_DISSATISFIED = "customer_dissatisfied"  # R16
    SENT_BACK = "sent_back"
    NO_LEAD = "no_lead"  # R9: transferred at the lead tier to a department without a lead


def next_tier(tier: int) -> Tier:
    """Return the tier above; raise if the case is already with the managers."""
    if tier >= Tier.MANAGER:
        raise IllegalTransition("already at the manager tier")
    return Tier(tier + 1)


def next_tier_capped(tier: int) -> Tier:
    """Automatic escalations stop at the top rung rather than fail."""
    return Tier(min(tier + 1, Tier.MANAGER))


def tier_after_transfer(tier: int, *, receiving_department_has_lead: bool) -> Tier:
    """R6, R9: the tier follows the work when it moves to another department.

    The owner stays the owner (R6); the tier keeps its rung, now in the receiving department: a
    case at the lead tier is the receiving department's lead's. A department with no lead to take
    it has no lead tier, so the case goes one rung up, to the managers. The responder and manager
    tiers do not depend on the department.
    """
    if tier == Tier.LEAD and not receiving_department_has_lead:
        return Tier.MANAGER
    return Tier(tier)


def previous_tier(tier: int) -> Tier:
    if tier <= Tier.RESPONDER:
        raise IllegalTransition("already at the first tier")
    return Tier(tier - 1)


def handler_role_for(tier: int) -> Role:
    return {Tier.RESPONDER: Role.RESPONDER, Tier.LEAD: Role.LEAD, Tier.MANAGER: Role.MANAGER}[Tier(tier)]


def can_send_back(actor_role: str, tier: int) -> bool:
    """A lead sends a lead-tier case back to the responder; a manager a manager-tier case."""
    return (actor_role == Role.LEAD and tier == Tier.LEAD) or (
        actor_role == Role.MANAGER and tier >= Tier.LEAD
    )

"""When a resolution needs a manager's signature, and who may give it (R11, R12, R10).

Pure module: no Flask, no SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from portal.domain.errors import NotPermitted
from portal.domain.ladder import Tier
from portal.domain.permissions import Role


class Outcome(StrEnum):
    EXPLANATION = "explanation"
    REPAIR_OR_REPLACEMENT = "repair_or_replacement"
    COMPENSATION = "compensation"  # refund or compensation, with an amount
    STAFF_ACTION = "staff_action"  # action concerning a staff member
    OTHER = "other"


class ApprovalReason(StrEnum):
    COMPENSATION_ABOVE_THRESHOLD = "compensation_above_threshold"
    SERIOUS = "serious"
    CONCERNS_STAFF = "concerns_staff"
    MANAGER_TIER = "manager_tier"


@dataclass(frozen=True)
class ProposalFacts:
    outcome: str
    amount_minor: int | None
    serious: bool
    concerns_staff: bool
    tier: int


def approval_reasons(facts: ProposalFacts, threshold_minor: int) -> list[ApprovalReason]:
    """Return why this resolution needs a manager (R12); an empty list means it does not."""
    reasons: list[ApprovalReason] = []
    if facts.outcome == Outcome.COMPENSATION and (facts.amount_minor or 0) > threshold_minor:
        reasons.append(ApprovalReason.COMPENSATION_ABOVE_THRESHOLD)
    if facts.serious:
        reasons.append(ApprovalReason.SERIOUS)
    if facts.concerns_staff or facts.outcome == Outcome.STAFF_ACTION:
        reasons.append(ApprovalReason.CONCERNS_STAFF)
    if facts.tier >= Tier.MANAGER:
        reasons.append(ApprovalReason.MANAGER_TIER)
    return reasons


def requires_approval(facts: ProposalFacts, threshold_minor: int) -> bool:
    return bool(approval_reasons(facts, threshold_minor))


def check_four_eyes(
    *, approver_id: int, approver_role: str, proposer_id: int, concerns_user_id: int | None
) -> None:
    """Raise NotPermitted unless a manager other than the proposer, not complained about, decides."""
    if approver_role != Role.MANAGER:
        raise NotPermitted("only a manager may decide on this resolution")
    if approver_id == proposer_id:
        raise NotPermitted("the approver must not be the proposer")  # R12
    if concerns_user_id is not None and approver_id == concerns_user_id:
        raise NotPermitted("the person complained about may not approve")  # R10

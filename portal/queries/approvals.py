"""The approvals inbox (R12): proposals waiting for a manager's signature, and the one being decided.

Both go through the visibility rule on the proposal's ticket, so a manager never sees, approves or
rejects a proposal about themselves (R10); to them it does not exist.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager, joinedload

from portal.domain.permissions import ActorLike
from portal.models import ResolutionProposal
from portal.queries.visibility import visibility_clause

LIMIT = 200


def pending(session: Session, actor: ActorLike) -> list[ResolutionProposal]:
    """Pending proposals this person may see, oldest first (the longest-waiting customer first)."""
    return list(
        session.scalars(
            select(ResolutionProposal)
            .join(ResolutionProposal.ticket)
            .where(ResolutionProposal.status == "pending")
            .where(visibility_clause(actor))  # R10: never a case about themselves
            .options(joinedload(ResolutionProposal.ticket), joinedload(ResolutionProposal.proposed_by))
            .order_by(ResolutionProposal.proposed_at)
            .limit(LIMIT)
        )
    )


def visible_proposal(session: Session, actor: ActorLike, proposal_id: int) -> ResolutionProposal | None:
    """The proposal, with its ticket, if this person may see that ticket; else None (say 404)."""
    return session.scalars(
        select(ResolutionProposal)
        .join(ResolutionProposal.ticket)
        .where(ResolutionProposal.id == proposal_id, visibility_clause(actor))
        .options(contains_eager(ResolutionProposal.ticket))
    ).first()

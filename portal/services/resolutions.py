"""Resolutions (R4, R11, R12, R15, R17): resolve at once, or propose and wait for a manager.

A resolution that commits the organisation — compensation above the threshold, anything serious,
anything concerning staff, anything at the manager tier — waits for a manager who is not the
proposer (four-eyes). The customer sees nothing of a proposal until it is approved (R11).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.domain import approval
from portal.domain.approval import Outcome, ProposalFacts
from portal.domain.errors import Conflict
from portal.domain.permissions import ActorLike
from portal.domain.text import normalise_text
from portal.domain.workflow import Action, Status
from portal.models import Callback, ResolutionProposal, RootCause, Ticket
from portal.services import outbox
from portal.services.events import authorise, check_version, record_event
from portal.services.settings import Rules
from portal.services.tickets import keep_promises


@dataclass(frozen=True)
class ProposalInput:
    summary: str  # the handler's written opinion (R12), internal
    customer_reply: str  # what the customer reads once it is decided
    outcome: str = Outcome.EXPLANATION.value
    amount_minor: int | None = None
    root_cause_id: int | None = None  # R21


def facts_for(ticket: Ticket, proposal: ProposalInput) -> ProposalFacts:
    return ProposalFacts(
        outcome=proposal.outcome,
        amount_minor=proposal.amount_minor,
        serious=ticket.serious,
        concerns_staff=ticket.concerns_user_id is not None,
        tier=ticket.tier,
    )


def _validate(proposal: ProposalInput) -> None:
    if proposal.outcome not in {o.value for o in Outcome}:
        raise ValueError("unknown outcome")
    if proposal.outcome == Outcome.COMPENSATION and not proposal.amount_minor:
        raise ValueError("a refund or compensation needs an amount")
    if proposal.amount_minor is not None and proposal.amount_minor < 0:
        raise ValueError("the amount cannot be negative")


def _check_root_cause(session: Session, root_cause_id: int | None) -> None:
    if root_cause_id is not None:
        cause = session.get(RootCause, root_cause_id)
        if cause is None or not cause.active:
            raise ValueError("unknown root cause")


def resolve_or_propose(
    session: Session,
    actor: ActorLike,
    ticket: Ticket,
    proposal: ProposalInput,
    *,
    now: datetime,
    rules: Rules,
    expected_version: int | None = None,
) -> ResolutionProposal:
    """Resolve now when no approval is needed (R4); otherwise queue it for a manager (R12)."""
    _validate(proposal)
    _check_root_cause(session, proposal.root_cause_id)
    check_version(ticket, expected_version)
    reasons = approval.approval_reasons(facts_for(ticket, proposal), rules.approval_threshold_minor)
    action = Action.PROPOSE if reasons else Action.RESOLVE
    new_status = authorise(actor, action, ticket)
    if ticket.owner_id is None:
        ticket.owner_id = actor.id  # R4: whoever resolves an unowned case owns it
    if ticket.acknowledged_at is None:
        ticket.acknowledged_at = now
    row = ResolutionProposal(
        ticket_id=ticket.id,
        proposed_by_id=actor.id,
        proposed_at=now,
        summary=normalise_text(proposal.summary) or "",
        outcome=proposal.outcome,
        amount_minor=proposal.amount_minor,
        root_cause_id=proposal.root_cause_id,
        customer_reply=normalise_text(proposal.customer_reply) or "",
        approval_reasons=",".join(reasons) or None,
        status="pending" if reasons else "not_required",
    )
    session.add(row)
    ticket.status = new_status.value
    ticket.updated_at = now
    if reasons:
        record_event(session, ticket, actor, now, "proposed", body=row.summary, new=",".join(reasons))
        outbox.notify_staff(
            session, outbox.managers(session), "approval_waiting", ticket, now=now, exclude=[actor.id]
        )
    else:
        _apply(session, ticket, row, actor, now, rules)
    session.commit()
    return row


def _apply(
    session: Session,
    ticket: Ticket,
    row: ResolutionProposal,
    actor: ActorLike,
    now: datetime,
    rules: Rules,
) -> None:
    """The decision takes effect: the customer reads the outcome (R15) and a callback is due (R17)."""
    ticket.resolution_summary = row.customer_reply
    ticket.root_cause_id = row.root_cause_id
    ticket.resolved_at = now
    ticket.paused_at = None
    ticket.pause_reason = None
    event = record_event(session, ticket, actor, now, "resolved", public=True, body=row.customer_reply)
    outbox.notify_customer(session, ticket, "resolved", now=now, ticket_event=event)  # R15
    keep_promises(session, ticket, now)
    if ticket.owner_id is not None:
        session.add(
            Callback(
                ticket_id=ticket.id,
                owner_id=ticket.owner_id,
                created_at=now,
                due_at=now + timedelta(hours=rules.callback_within_hours),
            )
        )


def _decide(
    session: Session, actor: ActorLike, row: ResolutionProposal, action: Action, now: datetime
) -> Ticket:
    ticket = row.ticket
    authorise(actor, action, ticket)
    approval.check_four_eyes(
        approver_id=actor.id,
        approver_role=actor.role,
        proposer_id=row.proposed_by_id,
        concerns_user_id=ticket.concerns_user_id,
    )
    # Check and act as one step: of two managers deciding at once, exactly one wins (K3, K4).
    result = session.execute(
        update(ResolutionProposal)
        .where(ResolutionProposal.id == row.id, ResolutionProposal.status == "pending")
        .values(
            status="approved" if action == Action.APPROVE else "rejected",
            decided_by_id=actor.id,
            decided_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise Conflict("this proposal has already been decided")
    return ticket


def approve(
    session: Session, actor: ActorLike, row: ResolutionProposal, *, now: datetime, rules: Rules
) -> None:
    """R12: a manager other than the proposer signs the resolution; it takes effect now."""
    ticket = _decide(session, actor, row, Action.APPROVE, now)
    ticket.status = Status.RESOLVED.value
    ticket.updated_at = now
    record_event(session, ticket, actor, now, "approved", body=row.summary)
    _apply(session, ticket, row, actor, now, rules)
    session.commit()
    session.refresh(row)


def reject(
    session: Session, actor: ActorLike, row: ResolutionProposal, reason: str, *, now: datetime
) -> None:
    """The manager sends the proposal back to the owner with a reason; the customer sees nothing."""
    if not reason.strip():
        raise ValueError("a reason is required")
    ticket = _decide(session, actor, row, Action.REJECT, now)
    session.execute(
        update(ResolutionProposal)
        .where(ResolutionProposal.id == row.id)
        .values(decision_reason=normalise_text(reason))
        .execution_options(synchronize_session=False)
    )
    ticket.status = Status.IN_PROGRESS.value
    ticket.updated_at = now
    record_event(session, ticket, actor, now, "rejected", body=normalise_text(reason))
    outbox.notify_staff(session, [row.proposed_by], "proposal_rejected", ticket, now=now)
    session.commit()
    session.refresh(row)


def pending_proposal(session: Session, ticket: Ticket) -> ResolutionProposal | None:
    return session.scalars(
        select(ResolutionProposal).where(
            ResolutionProposal.ticket_id == ticket.id, ResolutionProposal.status == "pending"
        )
    ).first()

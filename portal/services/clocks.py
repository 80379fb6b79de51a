"""Service-clock use-cases (R7, R23): extend once, pause while waiting for the customer, tiers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from portal.domain import sla
from portal.domain.permissions import ActorLike
from portal.domain.text import normalise_text
from portal.domain.workflow import Action
from portal.models import Ticket
from portal.services.events import authorise, check_version, record_event
from portal.services.settings import Rules
from portal.services.tickets import resume_clock

CUSTOMER_TIERS = ("regular", "vip")


def extend(
    session: Session,
    actor: ActorLike,
    ticket: Ticket,
    working_days: int,
    reason: str,
    *,
    now: datetime,
    rules: Rules,
    expected_version: int | None = None,
) -> None:
    """R7: a special case gets at most 7 working days, once, with a reason, approved above the owner."""
    authorise(actor, Action.EXTEND, ticket)
    check_version(ticket, expected_version)
    if ticket.extended_at is not None:
        raise ValueError("the deadline has already been extended once")
    if not reason.strip():
        raise ValueError("a reason is required")
    policy = rules.policy_for(ticket.category_id, ticket.customer_tier)
    old_due = ticket.resolve_due_at
    ticket.resolve_due_at = sla.extended_due(ticket.received_at, working_days, policy, rules.calendar)
    ticket.extended_at = now
    ticket.extended_by_id = actor.id
    ticket.extension_reason = normalise_text(reason)
    # R7, R9: the extended deadline is a new one, not yet judged — when it passes, even if it had
    # passed before the extension was granted, the sweep escalates again (services/sla_sweep.py).
    ticket.resolve_breached_at = None
    if ticket.acknowledged_at is not None:
        ticket.due_at = ticket.resolve_due_at
    ticket.updated_at = now
    record_event(
        session,
        ticket,
        actor,
        now,
        "deadline_extended",
        body=ticket.extension_reason,
        old=old_due.isoformat(),
        new=ticket.resolve_due_at.isoformat(),
    )
    session.commit()


def pause(session: Session, actor: ActorLike, ticket: Ticket, reason: str, *, now: datetime) -> None:
    """The resolution clock stops only while we wait for the customer, and says why."""
    authorise(actor, Action.PAUSE, ticket)
    if ticket.paused_at is not None:
        raise ValueError("the clock is already paused")
    if not reason.strip():
        raise ValueError("a reason is required")
    ticket.paused_at = now
    ticket.pause_reason = normalise_text(reason)
    ticket.updated_at = now
    record_event(session, ticket, actor, now, "clock_paused", public=True, body=ticket.pause_reason)
    session.commit()


def resume(session: Session, actor: ActorLike, ticket: Ticket, *, now: datetime, rules: Rules) -> None:
    """Restart the clock with the working days it had left (the customer writing also does)."""
    authorise(actor, Action.RESUME, ticket)
    if ticket.paused_at is None:
        raise ValueError("the clock is not paused")
    resume_clock(session, ticket, actor, now, rules)
    session.commit()


def set_customer_tier(
    session: Session, actor: ActorLike, ticket: Ticket, customer_tier: str, *, now: datetime, rules: Rules
) -> None:
    """R23: a VIP customer may get faster targets; the clocks are recomputed from receipt."""
    authorise(actor, Action.REPRIORITISE, ticket)
    if customer_tier not in CUSTOMER_TIERS:
        raise ValueError("unknown customer tier")
    if customer_tier == ticket.customer_tier:
        return
    old = ticket.customer_tier
    ticket.customer_tier = customer_tier
    policy = rules.policy_for(ticket.category_id, customer_tier)
    ticket.ack_due_at = sla.acknowledge_due(ticket.received_at, policy)
    if ticket.extended_at is None:
        ticket.resolve_due_at = sla.resolve_due(ticket.received_at, policy, rules.calendar)
    ticket.due_at = ticket.ack_due_at if ticket.acknowledged_at is None else ticket.resolve_due_at
    ticket.updated_at = now
    record_event(session, ticket, actor, now, "customer_tier_changed", old=old, new=customer_tier)
    session.commit()

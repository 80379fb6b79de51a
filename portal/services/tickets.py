"""Staff handling a ticket: claim, acknowledge, reply and promise, notes, category, priority,
transfer, reopen, close, and the resolution clock they restart or resume.

Every function checks `permissions.can()` and the transition table itself (through
`events.authorise`), even though views check visibility first: the rule is enforced where the
change happens (ASVS 1.4.1).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal.domain import ladder, permissions, sla
from portal.domain.errors import Conflict
from portal.domain.ladder import EscalationCause, Tier
from portal.domain.permissions import ActorLike, Role
from portal.domain.text import normalise_text
from portal.domain.workflow import Action
from portal.models import Category, Department, Promise, Ticket
from portal.services import ladder as ladder_service
from portal.services import outbox
from portal.services.events import authorise, check_version, record_event
from portal.services.settings import Rules

PRIORITIES = ("low", "normal", "high", "urgent")


def _acknowledge_if_new(ticket: Ticket, now: datetime) -> None:
    """R3 met: the acknowledgement clock stops and the resolution clock (R7) becomes the due."""
    if ticket.acknowledged_at is None:
        ticket.acknowledged_at = now
        ticket.due_at = ticket.resolve_due_at


def claim(session: Session, actor: ActorLike, ticket: Ticket, *, now: datetime, rules: Rules) -> None:
    """R6: the first to claim owns the case; a second claim — stale page or race — is a Conflict."""
    if ticket.owner_id is not None and permissions.can_view(actor, ticket):
        raise Conflict("someone else claimed this ticket first")
    new_status = authorise(actor, Action.CLAIM, ticket)
    was_new = ticket.acknowledged_at is None
    values: dict[str, object] = {
        "owner_id": actor.id,
        "status": new_status.value,
        "updated_at": now,
        "version": Ticket.version + 1,
    }
    if was_new:
        values["acknowledged_at"] = now
        values["due_at"] = ticket.resolve_due_at
    result = session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.owner_id.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise Conflict("someone else claimed this ticket first")
    record_event(session, ticket, actor, now, "claimed", public=True, new=str(actor.id))
    session.commit()
    session.refresh(ticket)


def acknowledge(session: Session, actor: ActorLike, ticket: Ticket, *, now: datetime, rules: Rules) -> None:
    ticket.status = authorise(actor, Action.ACKNOWLEDGE, ticket).value
    _acknowledge_if_new(ticket, now)
    ticket.updated_at = now
    record_event(session, ticket, actor, now, "acknowledged", public=True)
    session.commit()


def reply(
    session: Session,
    actor: ActorLike,
    ticket: Ticket,
    body: str,
    *,
    now: datetime,
    rules: Rules,
    promise_due: datetime | None = None,
) -> None:
    """A public reply the customer reads on the tracking page (R13); the first one acknowledges.

    Any public update keeps the promises that are still open (R8); a new promise may be given.
    """
    ticket.status = authorise(actor, Action.REPLY, ticket).value
    if promise_due is not None:
        authorise(actor, Action.PROMISE, ticket)
        if promise_due <= now:
            raise ValueError("a promised update must be in the future")
    _acknowledge_if_new(ticket, now)
    ticket.updated_at = now
    reply_event = record_event(session, ticket, actor, now, "reply", public=True, body=normalise_text(body))
    outbox.notify_customer(session, ticket, "reply", now=now, ticket_event=reply_event)  # R13
    keep_promises(session, ticket, now)
    if promise_due is not None:
        session.add(Promise(ticket_id=ticket.id, made_by_id=actor.id, made_at=now, due_at=promise_due))
        record_event(session, ticket, actor, now, "promised", public=True, new=promise_due.isoformat())
        session.flush()
        refresh_promise_due(session, ticket)
    session.commit()


def keep_promises(session: Session, ticket: Ticket, now: datetime) -> None:
    """R8: a public update given in time keeps every open promise on the ticket."""
    session.execute(
        update(Promise)
        .where(
            Promise.ticket_id == ticket.id,
            Promise.kept_at.is_(None),
            Promise.missed_at.is_(None),
            Promise.due_at >= now,
        )
        .values(kept_at=now)
        .execution_options(synchronize_session=False)
    )
    refresh_promise_due(session, ticket)


def refresh_promise_due(session: Session, ticket: Ticket) -> None:
    ticket.promise_due_at = session.scalar(
        select(func.min(Promise.due_at)).where(
            Promise.ticket_id == ticket.id, Promise.kept_at.is_(None), Promise.missed_at.is_(None)
        )
    )


def add_note(session: Session, actor: ActorLike, ticket: Ticket, body: str, *, now: datetime) -> None:
    """An internal note: staff only, never on the customer's page."""
    authorise(actor, Action.NOTE, ticket)
    record_event(session, ticket, actor, now, "note", body=normalise_text(body))
    session.commit()


def recategorise(
    session: Session,
    actor: ActorLike,
    ticket: Ticket,
    category_id: int,
    *,
    now: datetime,
    expected_version: int | None = None,
) -> None:
    authorise(actor, Action.RECATEGORISE, ticket)
    check_version(ticket, expected_version)
    category = session.get(Category, category_id)
    if category is None or not category.active:
        raise ValueError("unknown category")
    old = ticket.category.name if ticket.category else None
    ticket.category_id = category.id
    ticket.updated_at = now
    record_event(session, ticket, actor, now, "recategorised", old=old, new=category.name)
    session.commit()


def reprioritise(
    session: Session,
    actor: ActorLike,
    ticket: Ticket,
    priority: str,
    *,
    now: datetime,
    expected_version: int | None = None,
) -> None:
    authorise(actor, Action.REPRIORITISE, ticket)
    check_version(ticket, expected_version)
    if priority not in PRIORITIES:
        raise ValueError("unknown priority")
    old = ticket.priority
    ticket.priority = priority
    ticket.updated_at = now
    record_event(session, ticket, actor, now, "reprioritised", old=old, new=priority)
    session.commit()


def transfer(
    session: Session,
    actor: ActorLike,
    ticket: Ticket,
    department_id: int,
    note: str,
    *,
    now: datetime,
    expected_version: int | None = None,
) -> None:
    """Hand the work to another department; R6: ownership does not move with the work.

    R9: the tier follows the work (`ladder.tier_after_transfer`). At the lead tier the receiving
    department's lead now handles the case and is told it is theirs ("escalated"); a department
    without a lead (or whose only lead the complaint is about, R10) sends it up to the managers,
    a move on the ladder recorded and told like any other. The department's responders hear of
    the transfer; the responder and manager tiers stay as they are.
    """
    authorise(actor, Action.TRANSFER, ticket)
    check_version(ticket, expected_version)
    department = session.get(Department, department_id)
    if department is None:
        raise ValueError("unknown department")
    if department.id == ticket.department_id:
        raise ValueError("the ticket is already with that department")
    old = ticket.department.name
    ticket.department_id = department.id
    ticket.updated_at = now
    record_event(
        session,
        ticket,
        actor,
        now,
        "transferred",
        body=normalise_text(note),
        old=old,
        new=department.name,
    )
    receiving_leads = ladder_service.handlers_for(session, ticket, Tier.LEAD)  # R10 left out
    to_tier = ladder.tier_after_transfer(ticket.tier, receiving_department_has_lead=bool(receiving_leads))
    told_of_transfer = [Role.RESPONDER]
    if to_tier != ticket.tier:
        ladder_service.move_to_tier(
            session, ticket, to_tier, EscalationCause.NO_LEAD, now=now, actor=actor, reason=None
        )
    elif ticket.tier == Tier.LEAD:
        outbox.notify_staff(session, receiving_leads, "escalated", ticket, now=now, exclude=[actor.id])
    else:
        told_of_transfer.append(Role.LEAD)
    outbox.notify_staff(
        session,
        outbox.department_staff(session, department.id, tuple(told_of_transfer)),
        "transferred",
        ticket,
        now=now,
    )
    session.commit()


def reopen(
    session: Session,
    actor: ActorLike,
    ticket: Ticket,
    reason: str,
    *,
    now: datetime,
    rules: Rules,
    expected_version: int | None = None,
) -> None:
    """R16: not resolved for the customer means not done; the resolution clock restarts."""
    new_status = authorise(actor, Action.REOPEN, ticket)
    check_version(ticket, expected_version)
    restart_resolution_clock(ticket, now, rules)
    ticket.status = new_status.value
    ticket.updated_at = now
    event = record_event(session, ticket, actor, now, "reopened", public=True, body=normalise_text(reason))
    outbox.notify_customer(session, ticket, "reopened", now=now, ticket_event=event)
    session.commit()


def resume_clock(
    session: Session, ticket: Ticket, actor: ActorLike | None, now: datetime, rules: Rules
) -> None:
    """A paused clock keeps the working days it had left; the caller commits."""
    if ticket.paused_at is None:
        return
    ticket.resolve_due_at = sla.resumed_due(ticket.paused_at, ticket.resolve_due_at, now, rules.calendar)
    if ticket.acknowledged_at is not None:
        ticket.due_at = ticket.resolve_due_at
    ticket.paused_at = None
    ticket.pause_reason = None
    ticket.updated_at = now
    record_event(session, ticket, actor, now, "clock_resumed", system=actor is None)


def restart_resolution_clock(ticket: Ticket, now: datetime, rules: Rules) -> None:
    """R16: a reopened case gets a fresh resolution clock from the moment it reopens."""
    policy = rules.policy_for(ticket.category_id, ticket.customer_tier)
    ticket.reopen_count = (ticket.reopen_count or 0) + 1  # R16, counted for the reopen rate (R21)
    ticket.resolved_at = None
    ticket.resolve_breached_at = None
    ticket.extended_at = None
    ticket.resolve_due_at = sla.resolve_due(now, policy, rules.calendar)
    ticket.due_at = ticket.resolve_due_at


def close(
    session: Session,
    actor: ActorLike,
    ticket: Ticket,
    *,
    now: datetime,
    expected_version: int | None = None,
) -> None:
    new_status = authorise(actor, Action.CLOSE, ticket)
    check_version(ticket, expected_version)
    ticket.status = new_status.value
    ticket.closed_at = now
    ticket.updated_at = now
    record_event(session, ticket, actor, now, "closed", public=True)
    session.commit()

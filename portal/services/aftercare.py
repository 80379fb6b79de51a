"""After the decision (R15–R17): the customer's answer to the outcome, and the owner's callback."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from portal.domain import ladder, workflow
from portal.domain.errors import Conflict
from portal.domain.ladder import EscalationCause
from portal.domain.permissions import ActorLike
from portal.domain.text import normalise_text
from portal.domain.workflow import Action, Status
from portal.models import Callback, Ticket
from portal.services import outbox
from portal.services.events import authorise, record_event
from portal.services.ladder import move_to_tier
from portal.services.settings import Rules
from portal.services.tickets import restart_resolution_clock


def can_answer(ticket: Ticket) -> bool:
    """The outcome form is open once per resolution, while the case stays resolved (I9)."""
    return ticket.status == Status.RESOLVED and (
        ticket.customer_answered_at is None
        or (ticket.resolved_at is not None and ticket.customer_answered_at < ticket.resolved_at)
    )


def customer_answer(
    session: Session,
    ticket: Ticket,
    *,
    satisfied: bool,
    satisfaction: int | None,
    comment: str | None,
    now: datetime,
    rules: Rules,
) -> None:
    """R15: the customer says whether it is resolved for them; R16: "no" reopens it one tier up."""
    if satisfaction is not None and not 1 <= satisfaction <= 5:
        raise ValueError("satisfaction is 1 to 5")
    action = Action.CUSTOMER_CONFIRM if satisfied else Action.CUSTOMER_REOPEN
    new_status = workflow.next_status(Status(ticket.status), action)
    if not can_answer(ticket):
        raise Conflict("this outcome has already been answered")
    # Two quick answers: only the first moves the case (H7).
    claimed = session.execute(
        update(Ticket)
        .where(
            Ticket.id == ticket.id, Ticket.status == Status.RESOLVED.value, Ticket.version == ticket.version
        )
        .values(customer_answered_at=now, version=Ticket.version + 1)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise Conflict("this outcome has already been answered")
    session.refresh(ticket)
    ticket.customer_satisfied = satisfied
    ticket.satisfaction = satisfaction
    ticket.customer_feedback = normalise_text(comment) or None
    ticket.status = new_status.value
    ticket.updated_at = now
    body = ticket.customer_feedback
    if satisfied:
        ticket.closed_at = now
        record_event(session, ticket, None, now, "customer_confirmed", public=True, body=body)
    else:
        event = record_event(session, ticket, None, now, "customer_reopened", public=True, body=body)
        outbox.notify_customer(session, ticket, "reopened", now=now, ticket_event=event)
        restart_resolution_clock(ticket, now, rules)
        move_to_tier(
            session,
            ticket,
            ladder.next_tier_capped(ticket.tier),
            EscalationCause.CUSTOMER_DISSATISFIED,
            now=now,
            actor=None,
            reason=body,
        )
    session.commit()


def record_callback(
    session: Session,
    actor: ActorLike,
    callback: Callback,
    *,
    reached: bool,
    satisfied: bool | None,
    notes: str,
    now: datetime,
) -> None:
    """R17: the owner records the follow-up call's outcome."""
    authorise(actor, Action.RECORD_CALLBACK, callback.ticket)
    if callback.completed_at is not None:
        raise Conflict("this callback is already recorded")
    callback.completed_at = now
    callback.reached = reached
    callback.satisfied = satisfied if reached else None
    callback.notes = normalise_text(notes) or None
    record_event(
        session,
        callback.ticket,
        actor,
        now,
        "callback_recorded",
        body=callback.notes,
        new="reached" if reached else "not reached",
    )
    session.commit()


def reschedule_callback(
    session: Session, actor: ActorLike, callback: Callback, due_at: datetime, *, now: datetime
) -> None:
    """A callback can be scheduled for a time that suits the customer (R17)."""
    authorise(actor, Action.RECORD_CALLBACK, callback.ticket)
    if callback.completed_at is not None:
        raise Conflict("this callback is already recorded")
    if due_at <= now:
        raise ValueError("choose a time in the future")
    old = callback.due_at
    callback.due_at = due_at
    record_event(
        session,
        callback.ticket,
        actor,
        now,
        "callback_rescheduled",
        old=old.isoformat(),
        new=due_at.isoformat(),
    )
    session.commit()

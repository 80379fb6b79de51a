"""Escalation use-cases (R6, R9, R10): up and down the ladder, serious matters, recusal,
non-cooperation. The owner stays the owner throughout (R6)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.domain import ladder
from portal.domain.errors import IllegalTransition, NotPermitted
from portal.domain.ladder import EscalationCause, Tier
from portal.domain.permissions import ActorLike, Role
from portal.domain.text import normalise_text
from portal.domain.workflow import Action
from portal.models import CooperationReport, Department, Escalation, Ticket, User
from portal.services import outbox, recusal
from portal.services.events import authorise, check_version, record_event


def handlers_for(session: Session, ticket: Ticket, tier: int) -> list[User]:
    """Who handles the ticket at this tier: the department's leads, or the managers (R9).

    The person the complaint is about is never told of it (R10).
    """
    role = ladder.handler_role_for(tier)
    query = select(User).where(User.active.is_(True), User.role == role.value)
    if role == Role.LEAD:
        query = query.where(User.department_id == ticket.department_id)
    elif role == Role.RESPONDER:
        if ticket.owner_id is None:
            return []
        query = query.where(User.id == ticket.owner_id)
    if ticket.concerns_user_id is not None:
        query = query.where(User.id != ticket.concerns_user_id)
    return list(session.scalars(query.order_by(User.name)))


def move_to_tier(
    session: Session,
    ticket: Ticket,
    to_tier: int,
    cause: EscalationCause,
    *,
    now: datetime,
    actor: ActorLike | None,
    reason: str | None,
) -> Escalation:
    """Record one move on the ladder and who is now handling it; the caller commits."""
    told = handlers_for(session, ticket, to_tier)
    escalation = Escalation(
        ticket_id=ticket.id,
        at=now,
        from_tier=ticket.tier,
        to_tier=to_tier,
        cause=cause.value,
        reason=normalise_text(reason),
        actor_id=actor.id if actor else None,
        notified=", ".join(user.name for user in told) or None,
    )
    session.add(escalation)
    kind = "sent_back" if to_tier < ticket.tier else "escalated"
    record_event(
        session,
        ticket,
        actor,
        now,
        kind,
        body=escalation.reason,
        old=str(ticket.tier),
        new=str(to_tier),
        system=actor is None,
    )
    ticket.tier = to_tier
    ticket.updated_at = now
    outbox.notify_staff(
        session,
        told,
        "escalated" if kind == "escalated" else "sent_back",
        ticket,
        now=now,
        exclude=[actor.id if actor else None],
    )
    return escalation


def escalate(
    session: Session,
    actor: ActorLike,
    ticket: Ticket,
    reason: str,
    *,
    now: datetime,
    expected_version: int | None = None,
) -> None:
    """R9: staff report a large problem up the ladder, with a reason."""
    authorise(actor, Action.ESCALATE, ticket)
    check_version(ticket, expected_version)
    move_to_tier(
        session,
        ticket,
        ladder.next_tier(ticket.tier),
        EscalationCause.MANUAL,
        now=now,
        actor=actor,
        reason=reason,
    )
    session.commit()


def send_back(
    session: Session,
    actor: ActorLike,
    ticket: Ticket,
    note: str,
    *,
    now: datetime,
    expected_version: int | None = None,
) -> None:
    """A lead (or manager) returns the case one rung down, with a note for the handler."""
    authorise(actor, Action.SEND_BACK, ticket)
    check_version(ticket, expected_version)
    if not ladder.can_send_back(actor.role, ticket.tier):
        raise NotPermitted("only the tier now handling the case can send it back")
    if ticket.serious and ticket.tier == Tier.MANAGER:
        raise IllegalTransition("a serious complaint stays with the managers (R9)")
    move_to_tier(
        session,
        ticket,
        ladder.previous_tier(ticket.tier),
        EscalationCause.SENT_BACK,
        now=now,
        actor=actor,
        reason=note,
    )
    session.commit()


def mark_serious(session: Session, actor: ActorLike, ticket: Ticket, reason: str, *, now: datetime) -> None:
    """R9: a serious complaint goes straight to the managers' attention."""
    authorise(actor, Action.MARK_SERIOUS, ticket)
    if ticket.serious:
        raise ValueError("already marked serious")
    ticket.serious = True
    record_event(session, ticket, actor, now, "marked_serious", body=normalise_text(reason))
    if ticket.tier < Tier.MANAGER:
        move_to_tier(
            session, ticket, Tier.MANAGER, EscalationCause.SERIOUS, now=now, actor=actor, reason=reason
        )
    session.commit()


def report_noncooperation(
    session: Session, actor: ActorLike, ticket: Ticket, department_id: int, note: str, *, now: datetime
) -> None:
    """R6: the owner may report a department that does not cooperate; managers see it."""
    authorise(actor, Action.REPORT_NONCOOPERATION, ticket)
    department = session.get(Department, department_id)
    if department is None:
        raise ValueError("unknown department")
    session.add(
        CooperationReport(
            ticket_id=ticket.id,
            department_id=department.id,
            reported_by_id=actor.id,
            at=now,
            note=normalise_text(note) or "",
        )
    )
    record_event(
        session, ticket, actor, now, "noncooperation_reported", body=normalise_text(note), new=department.name
    )
    session.commit()


def link_staff(
    session: Session, actor: ActorLike, ticket: Ticket, user_id: int | None, *, now: datetime
) -> None:
    """R10: name the staff member the complaint is about; from now on they see nothing of it.

    The work they held on it — ownership, open callbacks and promises, a spot-check re-check, a
    pending approval — moves on in the same transaction (`recusal.hand_over_work`: R10 outranks
    R6), and whatever was queued to tell them of it is withdrawn.
    """
    authorise(actor, Action.LINK_STAFF, ticket)
    if user_id is not None and user_id == actor.id:
        raise ValueError("you cannot name yourself; ask your lead")
    user = session.get(User, user_id) if user_id is not None else None
    if user_id is not None and user is None:
        raise ValueError("unknown staff member")
    old = ticket.concerns_user.name if ticket.concerns_user else None
    ticket.concerns_user_id = user.id if user else None
    record_event(session, ticket, actor, now, "staff_linked", old=old, new=user.name if user else None)
    if user is not None:
        recusal.hand_over_work(session, actor, ticket, user, now=now)
    ticket.updated_at = now
    session.commit()

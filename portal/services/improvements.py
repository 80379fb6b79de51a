"""Improvement actions (R21): what is changed because of a pattern, and whether it worked.

An action belongs to a department; managers steer every action, a lead those of their own
department (`permissions.can_manage_improvements`). It answers complaints — linked by reference,
and only ones the person linking may see — and once done gets a review of its effect, with the
intake of its category or cause before and after to judge it by.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session, joinedload

from portal.domain import permissions
from portal.domain.errors import Conflict, NotPermitted
from portal.domain.permissions import ActorLike, is_staff
from portal.domain.text import normalise_text
from portal.models import (
    Category,
    Department,
    ImprovementAction,
    RootCause,
    Ticket,
    User,
    improvement_action_ticket,
    utcnow,
)
from portal.queries import visibility

EFFECT_WINDOW_DAYS = 30


class ActionStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    DROPPED = "dropped"


@dataclass(frozen=True)
class ActionInput:
    title: str
    description: str
    department_id: int
    owner_id: int
    due_on: date
    status: str = ActionStatus.PLANNED.value
    root_cause_id: int | None = None
    category_id: int | None = None


@dataclass(frozen=True)
class Effect:
    """Complaints of the action's category or cause in the 30 days before it and after it was done.

    R21: the effect is measured over the whole 30 days after the action was done, so `after` stays
    None — not measured, never a 0 — until they have passed; `readable_from` says when that is.
    """

    before: int
    after: int | None  # None until the action is done and its 30 days after have passed
    # When the 30 days after end; None until it is done. Not compared: effects are equal by counts.
    readable_from: datetime | None = field(default=None, compare=False)

    @property
    def measured(self) -> bool:
        return self.after is not None


def _authorise(actor: ActorLike, department_id: int) -> None:
    if not permissions.can_manage_improvements(actor, department_id):
        raise NotPermitted("improvement actions of this department are not yours to steer")


def _check(session: Session, data: ActionInput) -> None:
    if data.status not in {s.value for s in ActionStatus}:
        raise ValueError("unknown status")
    if not normalise_text(data.title):
        raise ValueError("a title is required")
    if session.get(Department, data.department_id) is None:
        raise ValueError("unknown department")
    owner = session.get(User, data.owner_id)
    if owner is None or not owner.active or not is_staff(owner):
        raise ValueError("the owner must be an active member of staff")
    if data.root_cause_id is not None and session.get(RootCause, data.root_cause_id) is None:
        raise ValueError("unknown root cause")
    if data.category_id is not None and session.get(Category, data.category_id) is None:
        raise ValueError("unknown category")


def save(
    session: Session, actor: ActorLike, action: ImprovementAction | None, data: ActionInput, *, now: datetime
) -> ImprovementAction:
    """Create or update an action; moving it to another department needs the right to both."""
    if action is not None:
        _authorise(actor, action.department_id)
    _authorise(actor, data.department_id)
    _check(session, data)
    if action is None:
        action = ImprovementAction(created_by_id=actor.id, created_at=now)
        session.add(action)
    action.title = normalise_text(data.title) or ""
    action.description = normalise_text(data.description) or None
    action.department_id = data.department_id
    action.owner_id = data.owner_id
    action.due_on = data.due_on
    action.root_cause_id = data.root_cause_id
    action.category_id = data.category_id
    if data.status == ActionStatus.DONE and action.completed_at is None:
        action.completed_at = now
    elif data.status != ActionStatus.DONE:
        action.completed_at = None
    action.status = data.status
    session.commit()
    return action


def link_ticket(session: Session, actor: ActorLike, action: ImprovementAction, reference: str) -> Ticket:
    """Record that the action answers a complaint; the reference must be one the actor may see."""
    _authorise(actor, action.department_id)
    ticket = session.scalars(
        select(Ticket).where(
            visibility.visibility_clause(actor), Ticket.reference == reference.strip().upper()
        )
    ).first()
    if ticket is None:
        raise LookupError("no complaint with that reference that you may see")
    already = session.execute(
        select(func.count())
        .select_from(improvement_action_ticket)
        .where(
            improvement_action_ticket.c.action_id == action.id,
            improvement_action_ticket.c.ticket_id == ticket.id,
        )
    ).scalar()
    if already:
        raise Conflict("this complaint is linked already")
    session.execute(insert(improvement_action_ticket).values(action_id=action.id, ticket_id=ticket.id))
    session.commit()
    return ticket


def unlink_ticket(session: Session, actor: ActorLike, action: ImprovementAction, ticket_id: int) -> None:
    _authorise(actor, action.department_id)
    session.execute(
        delete(improvement_action_ticket).where(
            improvement_action_ticket.c.action_id == action.id,
            improvement_action_ticket.c.ticket_id == ticket_id,
        )
    )
    session.commit()


def review_effect(
    session: Session,
    actor: ActorLike,
    action: ImprovementAction,
    *,
    effective: bool,
    review: str,
    now: datetime,
) -> None:
    """R21: a done action's effect is evaluated and the evaluation is kept."""
    _authorise(actor, action.department_id)
    if action.status != ActionStatus.DONE:
        raise Conflict("only a done action can be reviewed")
    text = normalise_text(review)
    if not text:
        raise ValueError("the review is required")
    action.effect_review = text
    action.effective = effective
    action.reviewed_at = now
    action.reviewed_by_id = actor.id
    session.commit()


def linked_tickets(session: Session, actor: ActorLike, action: ImprovementAction) -> list[Ticket]:
    """The linked complaints this person may see (R10, R20)."""
    return list(
        session.scalars(
            select(Ticket)
            .where(visibility.visibility_clause(actor))
            .join(improvement_action_ticket, improvement_action_ticket.c.ticket_id == Ticket.id)
            .where(improvement_action_ticket.c.action_id == action.id)
            .order_by(Ticket.received_at)
        )
    )


def effect(session: Session, action: ImprovementAction, *, now: datetime | None = None) -> Effect | None:
    """Complaints received about the action's category (or with its cause) around it, by count.

    The count after is given only once the whole window after completion has passed (R21): a
    window still running would show a partial count as if it were the effect. `now` defaults to
    the wall clock.
    """
    if action.category_id is not None:
        matches = Ticket.category_id == action.category_id
    elif action.root_cause_id is not None:
        matches = Ticket.root_cause_id == action.root_cause_id
    else:
        return None
    window = timedelta(days=EFFECT_WINDOW_DAYS)

    def count(start: datetime, end: datetime) -> int:
        return (
            session.scalar(
                select(func.count(Ticket.id)).where(
                    matches,
                    Ticket.department_id == action.department_id,
                    Ticket.received_at >= start,
                    Ticket.received_at < end,
                )
            )
            or 0
        )

    before = count(action.created_at - window, action.created_at)
    if action.completed_at is None:
        return Effect(before=before, after=None)
    readable_from = action.completed_at + window
    if (now if now is not None else utcnow()) < readable_from:
        return Effect(before=before, after=None, readable_from=readable_from)
    return Effect(before=before, after=count(action.completed_at, readable_from), readable_from=readable_from)


def visible_actions(session: Session, actor: ActorLike, *, limit: int = 200) -> list[ImprovementAction]:
    """Managers see every action; a lead their own department's."""
    query = (
        select(ImprovementAction)
        .options(joinedload(ImprovementAction.department), joinedload(ImprovementAction.owner))
        .order_by(ImprovementAction.status == ActionStatus.DONE.value, ImprovementAction.due_on)
    )
    if actor.role != permissions.Role.MANAGER:
        query = query.where(ImprovementAction.department_id == actor.department_id)
    return list(session.scalars(query.limit(limit)))


def counts_by_status(session: Session, department_id: int | None) -> dict[str, int]:
    query = select(ImprovementAction.status, func.count()).group_by(ImprovementAction.status)
    if department_id is not None:
        query = query.where(ImprovementAction.department_id == department_id)
    found = dict(session.execute(query).all())
    return {s.value: found.get(s.value, 0) for s in ActionStatus}

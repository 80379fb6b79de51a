"""THE visibility rule in SQL: which tickets an actor may see (R10, R20).

The SQL twin of `permissions.can_view()`; both are tested against the same personas.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, and_, false, or_, select, true
from sqlalchemy.orm import Session

from portal.domain.permissions import ActorLike, Role, is_staff
from portal.models import Ticket


def visibility_clause(actor: ActorLike) -> ColumnElement[bool]:
    if not is_staff(actor):
        return false()
    not_about_me = or_(Ticket.concerns_user_id.is_(None), Ticket.concerns_user_id != actor.id)
    if actor.role == Role.MANAGER:
        return and_(true(), not_about_me)
    return and_(
        or_(Ticket.department_id == actor.department_id, Ticket.owner_id == actor.id),
        not_about_me,
    )


def visible_tickets(actor: ActorLike) -> Select[tuple[Ticket]]:
    return select(Ticket).where(visibility_clause(actor))


def visible_ticket(session: Session, actor: ActorLike, ticket_id: int) -> Ticket | None:
    return session.scalars(visible_tickets(actor).where(Ticket.id == ticket_id)).first()

"""The staff notification inbox (R13): one person's in-app notices, on tickets they may still see."""

from __future__ import annotations

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, joinedload

from portal.domain.permissions import ActorLike
from portal.models import Notification
from portal.queries.visibility import visibility_clause

DROPPED = "dropped"  # services.outbox.DROPPED (a query may not import a service)


def _mine(recipient: ActorLike) -> Select[tuple[Notification]]:
    """R10: never a notice about a complaint that concerns the recipient, even one written before.

    Both the visibility rule (what they may see now) and the withdrawal (a notice dropped when
    they were named stays gone, even if the naming is undone) apply to the list and the count.
    """
    return (
        select(Notification)
        .outerjoin(Notification.ticket)
        .where(Notification.recipient_user_id == recipient.id, Notification.channel == "in_app")
        .where(Notification.status != DROPPED)
        .where(or_(Notification.ticket_id.is_(None), visibility_clause(recipient)))
    )


def unread_count(session: Session, recipient: ActorLike) -> int:
    query = (
        _mine(recipient).where(Notification.read_at.is_(None)).with_only_columns(func.count(Notification.id))
    )
    return int(session.scalar(query) or 0)


def latest(session: Session, recipient: ActorLike, limit: int = 100) -> list[Notification]:
    """The newest notices first, with their tickets (the list names each ticket)."""
    query = _mine(recipient).options(joinedload(Notification.ticket)).order_by(Notification.id.desc())
    return list(session.scalars(query.limit(limit)))


def ticket_of(session: Session, recipient: ActorLike, notification_id: int) -> int | None:
    """The ticket a listed notice of the recipient's is about; None for anyone else's, and for one
    withdrawn or about a case they may not see (no hint of it, G1, R10)."""
    query = _mine(recipient).where(Notification.id == notification_id)
    return session.scalar(query.with_only_columns(Notification.ticket_id))

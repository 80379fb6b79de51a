"""The staff notification inbox (R13): one person's in-app notices, on tickets they may still see."""

from __future__ import annotations

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, joinedload

from portal.domain.permissions import ActorLike
from portal.models import Notification
from portal.queries.visibility import visibility_clause


def _mine(recipient: ActorLike) -> Select[tuple[Notification]]:
    """R10: never a notice about a complaint that concerns the recipient, even one written before."""
    return (
        select(Notification)
        .outerjoin(Notification.ticket)
        .where(Notification.recipient_user_id == recipient.id, Notification.channel == "in_app")
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
    """The ticket a notice of the recipient's is about; None for anyone else's (no hint of it, G1)."""
    notice = session.get(Notification, notification_id)
    if notice is None or notice.recipient_user_id != recipient.id:
        return None
    return notice.ticket_id

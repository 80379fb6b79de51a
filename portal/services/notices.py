"""Marking in-app notices read (R13): only the recipient's own, each request in one transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from portal.domain.permissions import ActorLike
from portal.models import Notification


def mark_read(session: Session, recipient: ActorLike, notification_id: int, *, now: datetime) -> None:
    """Someone else's notice is left as it is, silently: its id must not tell whether it exists (G1)."""
    session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.recipient_user_id == recipient.id)
        .values(read_at=now)
    )
    session.commit()


def mark_all_read(session: Session, recipient: ActorLike, *, now: datetime) -> None:
    session.execute(
        update(Notification)
        .where(Notification.recipient_user_id == recipient.id, Notification.read_at.is_(None))
        .values(read_at=now)
    )
    session.commit()

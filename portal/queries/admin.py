"""What the administration screens read: accounts, categories, root causes, service targets,
closure days and the outbox. No complaint contents are read here (R20: administrators configure,
they do not read complaints); the outbox shows addresses and subjects only.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from portal.models import Category, ClosureDay, Notification, RootCause, ServiceTarget, User

Row = TypeVar("Row")

# The outbox tabs; any other value shows every message.
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "dead")
OUTBOX_LIMIT = 200


def row_by_id(session: Session, model: type[Row], row_id: int | None) -> Row | None:
    """One configuration row by its id (None for a new one or an unknown id: the screen says 404)."""
    return session.get(model, row_id) if row_id is not None else None


def users(session: Session) -> list[User]:
    """Active accounts first, each with its department (one query, not one per row)."""
    return list(
        session.scalars(
            select(User).options(joinedload(User.department)).order_by(User.active.desc(), User.name)
        )
    )


def categories(session: Session) -> list[Category]:
    return list(
        session.scalars(select(Category).options(joinedload(Category.department)).order_by(Category.name))
    )


def root_causes(session: Session) -> list[RootCause]:
    """R21: retired causes stay listed (after the offered ones), so they can be offered again."""
    return list(session.scalars(select(RootCause).order_by(RootCause.active.desc(), RootCause.name)))


def service_targets(session: Session) -> list[ServiceTarget]:
    return list(
        session.scalars(
            select(ServiceTarget).options(joinedload(ServiceTarget.category)).order_by(ServiceTarget.id)
        )
    )


def closure_days(session: Session) -> list[ClosureDay]:
    return list(session.scalars(select(ClosureDay).order_by(ClosureDay.day.desc())))


def outbox(session: Session, status: str | None) -> list[Notification]:
    """The newest messages sent outside the portal (R13), optionally of one status."""
    query = select(Notification).where(Notification.channel != "in_app")
    if status in OUTBOX_STATUSES:
        query = query.where(Notification.status == status)
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(OUTBOX_LIMIT)))


def outbox_problems(session: Session) -> int:
    """How many messages are failing or were given up, whatever tab is shown."""
    return (
        session.scalar(select(func.count(Notification.id)).where(Notification.status.in_(("failed", "dead"))))
        or 0
    )

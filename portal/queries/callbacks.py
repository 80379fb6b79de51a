"""The callbacks screen (R17): a staff member's open follow-up calls, and one callback by its id."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.domain.permissions import ActorLike
from portal.models import Callback
from portal.queries.visibility import visibility_clause


def open_callbacks(session: Session, owner: ActorLike, limit: int = 200) -> list[Callback]:
    """The owner's open callbacks, soonest first, on tickets they may still see (R10, R20)."""
    query = (
        select(Callback)
        .join(Callback.ticket)
        .where(Callback.owner_id == owner.id, Callback.completed_at.is_(None))
        .where(visibility_clause(owner))
        .order_by(Callback.due_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def callback(session: Session, callback_id: int) -> Callback | None:
    """One callback by id; the caller still checks its ticket's visibility and who may act on it."""
    return session.get(Callback, callback_id)

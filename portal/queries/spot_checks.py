"""What the spot-check screens read (R18): the quarters drawn, one's own re-checks, a check and a case.

The cases go through the visibility rule (R10): a manager never sees a re-check of a case about
themselves, in their own draw or another manager's. The check's visible cases, the reviewer pool
and the repeat draw are read by `services.spot_checks`, which the draw itself uses too.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, contains_eager, joinedload

from portal.domain.permissions import ActorLike, Role
from portal.models import SpotCheck, SpotCheckItem
from portal.queries.visibility import visibility_clause

CHECKS_SHOWN = 40
RECHECKS_SHOWN = 200


def drawn_checks(session: Session, actor: ActorLike) -> list[SpotCheck]:
    """The quarters drawn so far, newest first; the head of service's list, so a lead's is empty."""
    if actor.role != Role.MANAGER:
        return []
    return list(
        session.scalars(
            select(SpotCheck)
            .options(joinedload(SpotCheck.drawn_by))
            .order_by(SpotCheck.quarter.desc())
            .limit(CHECKS_SHOWN)
        )
    )


def assigned_rechecks(session: Session, actor: ActorLike) -> list[SpotCheckItem]:
    """The re-checks assigned to this person, the open ones first."""
    return list(
        session.scalars(
            select(SpotCheckItem)
            .join(SpotCheckItem.ticket)
            .where(SpotCheckItem.reviewer_id == actor.id, visibility_clause(actor))
            .options(joinedload(SpotCheckItem.ticket), joinedload(SpotCheckItem.spot_check))
            .order_by(SpotCheckItem.reviewed_at.is_not(None), SpotCheckItem.id)
            .limit(RECHECKS_SHOWN)
        )
    )


def spot_check(session: Session, spot_check_id: int) -> SpotCheck | None:
    """The check itself; which of its cases a person may see is `services.spot_checks.visible_items`."""
    return session.get(SpotCheck, spot_check_id)


def visible_item(session: Session, actor: ActorLike, item_id: int) -> SpotCheckItem | None:
    """One sampled case, with its ticket, if this person may see that ticket (R10); else None."""
    return session.scalars(
        select(SpotCheckItem)
        .join(SpotCheckItem.ticket)
        .where(SpotCheckItem.id == item_id, visibility_clause(actor))
        .options(contains_eager(SpotCheckItem.ticket))
    ).first()


def item_count(session: Session, spot_check_id: int) -> int:
    """How many cases the check sampled (all of them, whoever asks: the draw's own figure)."""
    return (
        session.scalar(
            select(func.count(SpotCheckItem.id)).where(SpotCheckItem.spot_check_id == spot_check_id)
        )
        or 0
    )

"""What the improvement-action screens read (R21) besides `services.improvements`' lists and effect:
the action being steered, and who may own one.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.domain import permissions
from portal.domain.permissions import STAFF_ROLES, ActorLike
from portal.models import ImprovementAction, User


def steerable_action(session: Session, actor: ActorLike, action_id: int) -> ImprovementAction | None:
    """The action if this person steers it (a manager every one, a lead their department's), else None."""
    action = session.get(ImprovementAction, action_id)
    if action is None or not permissions.can_manage_improvements(actor, action.department_id):
        return None
    return action


def possible_owners(session: Session) -> list[User]:
    """Active members of staff, by name: anyone who can carry an action out."""
    return list(
        session.scalars(
            select(User)
            .where(User.active.is_(True), User.role.in_([r.value for r in STAFF_ROLES]))
            .order_by(User.name)
        )
    )

"""What sign-in reads: the staff account an email names, matched without regard to case, and what
is left of an account's recovery codes."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import RecoveryCode, User


def account_by_email(session: Session, email: str) -> User | None:
    """The account whose email is `email` (already stripped and lower-cased), active or not."""
    return session.scalars(select(User).where(func.lower(User.email) == email)).first()


def recovery_codes_left(session: Session, user_id: int) -> int:
    """How many of the account's recovery codes have not been used."""
    return int(
        session.scalar(
            select(func.count(RecoveryCode.id)).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )

"""What sign-in reads: the staff account an email names, matched without regard to case."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import User


def account_by_email(session: Session, email: str) -> User | None:
    """The account whose email is `email` (already stripped and lower-cased), active or not."""
    return session.scalars(select(User).where(func.lower(User.email) == email)).first()

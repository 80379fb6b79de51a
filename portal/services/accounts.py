"""A staff member's own account: signing out everywhere and changing the password (ASVS 3.3).

Flask sessions live in the signed cookie, so a copied cookie would outlive a plain logout; every
session names the account's `session_version`, and bumping it ends every copy at once (D7, D8).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.domain.errors import DomainError
from portal.models import User


class WrongPassword(DomainError):
    """The current password given does not match the account's."""


def sign_out_everywhere(session: Session, user: User) -> None:
    """End every session of this account, on this device and any other (D7, ASVS 3.3.1).

    It also signs the user out on their other devices, which is the safer trade for a staff tool.
    """
    user.session_version = (user.session_version or 0) + 1
    session.commit()


def change_password(session: Session, user: User, current_password: str, new_password: str) -> User:
    """Set a new password once the current one is proven; every other session ends (D8)."""
    if not user.check_password(current_password):
        raise WrongPassword("current password does not match")
    user.set_password(new_password)  # bumps the session version
    session.commit()
    return user

"""The short lists forms offer: active categories and root causes, departments, staff."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Category, Department, RootCause, User


def active_categories(session: Session) -> list[Category]:
    return list(session.scalars(select(Category).where(Category.active.is_(True)).order_by(Category.name)))


def active_root_causes(session: Session) -> list[RootCause]:
    return list(session.scalars(select(RootCause).where(RootCause.active.is_(True)).order_by(RootCause.name)))


def departments(session: Session) -> list[Department]:
    return list(session.scalars(select(Department).order_by(Department.name)))


def staff_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))

"""Administration use-cases: staff accounts, departments, categories and their routing (R5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal.domain.errors import DomainError
from portal.domain.permissions import Role
from portal.models import Category, ClosureDay, Department, RootCause, ServiceTarget, User


class DuplicateName(DomainError):
    """Another record already uses this name or email."""


class SelfLockout(DomainError):
    """An administrator may not remove their own administration rights."""


@dataclass(frozen=True)
class UserChanges:
    name: str
    email: str
    role: str
    department_id: int
    active: bool
    password: str | None


def save_user(session: Session, actor: User, user: User | None, changes: UserChanges) -> User:
    """Create or update a staff account; any change of role, department or activity ends its sessions."""
    email = changes.email.lower()
    clash = session.scalars(select(User).where(func.lower(User.email) == email)).first()
    if clash is not None and (user is None or clash.id != user.id):
        raise DuplicateName("email")
    if changes.role not in {r.value for r in Role}:
        raise ValueError("unknown role")
    if session.get(Department, changes.department_id) is None:
        raise ValueError("unknown department")
    if user is not None and user.id == actor.id and (changes.role != Role.ADMIN or not changes.active):
        raise SelfLockout("cannot demote or deactivate yourself")
    if user is None:
        if not changes.password:
            raise ValueError("password required")
        user = User(password_hash="", session_version=0)
        session.add(user)
    privileges_changed = user.id is not None and (user.role, user.department_id, user.active) != (
        changes.role,
        changes.department_id,
        changes.active,
    )
    user.name = changes.name
    user.email = email
    user.role = changes.role
    user.department_id = changes.department_id
    user.active = changes.active
    if changes.password:
        user.set_password(changes.password)
    elif privileges_changed:
        user.session_version = (user.session_version or 0) + 1  # D8: takes effect on the next request
    session.commit()
    return user


def save_department(
    session: Session, department: Department | None, name: str, handles_feedback: bool
) -> Department:
    clash = session.scalars(select(Department).where(Department.name == name)).first()
    if clash is not None and (department is None or clash.id != department.id):
        raise DuplicateName("name")
    if department is None:
        department = Department()
        session.add(department)
    department.name = name
    if handles_feedback:
        # One desk receives feedback: choosing this one releases the others.
        session.execute(update(Department).values(handles_feedback=False))
    department.handles_feedback = handles_feedback
    session.commit()
    return department


def save_category(
    session: Session, category: Category | None, name: str, department_id: int, active: bool
) -> Category:
    clash = session.scalars(select(Category).where(Category.name == name)).first()
    if clash is not None and (category is None or clash.id != category.id):
        raise DuplicateName("name")
    if session.get(Department, department_id) is None:
        raise ValueError("unknown department")
    if category is None:
        category = Category()
        session.add(category)
    category.name = name
    category.department_id = department_id
    category.active = active
    session.commit()
    return category


def save_root_cause(session: Session, cause: RootCause | None, name: str, active: bool) -> RootCause:
    """R21: a cause is retired, never deleted, so past resolutions keep their cause in reports."""
    clash = session.scalars(select(RootCause).where(RootCause.name == name)).first()
    if clash is not None and (cause is None or clash.id != cause.id):
        raise DuplicateName("name")
    if cause is None:
        cause = RootCause()
        session.add(cause)
    cause.name = name
    cause.active = active
    session.commit()
    return cause


def save_service_target(
    session: Session,
    target: ServiceTarget | None,
    *,
    category_id: int | None,
    customer_tier: str,
    acknowledge_hours: int,
    resolve_working_days: int,
    max_working_days: int,
) -> ServiceTarget:
    """R3/R7/R23: targets for a category and customer tier; an extension never exceeds the maximum."""
    if not 1 <= resolve_working_days <= max_working_days:
        raise ValueError("the resolution target must be between 1 and the maximum")
    if acknowledge_hours < 1:
        raise ValueError("acknowledge within at least one hour")
    clash = session.scalars(
        select(ServiceTarget).where(
            ServiceTarget.category_id.is_(None)
            if category_id is None
            else ServiceTarget.category_id == category_id,
            ServiceTarget.customer_tier == customer_tier,
        )
    ).first()
    if clash is not None and (target is None or clash.id != target.id):
        raise DuplicateName("target")
    if target is None:
        target = ServiceTarget()
        session.add(target)
    target.category_id = category_id
    target.customer_tier = customer_tier
    target.acknowledge_hours = acknowledge_hours
    target.resolve_working_days = resolve_working_days
    target.max_working_days = max_working_days
    session.commit()
    return target


def delete_service_target(session: Session, target: ServiceTarget) -> None:
    session.delete(target)
    session.commit()


def add_closure_day(session: Session, day: date, reason: str) -> ClosureDay:
    if session.scalars(select(ClosureDay).where(ClosureDay.day == day)).first() is not None:
        raise DuplicateName("day")
    closure = ClosureDay(day=day, reason=reason)
    session.add(closure)
    session.commit()
    return closure


def delete_closure_day(session: Session, closure: ClosureDay) -> None:
    session.delete(closure)
    session.commit()

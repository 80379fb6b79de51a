"""A new installation's starting point: departments and categories that follow the routing rule
(R5), a few root causes (R21), and staff accounts created from the command line.

`flask setup` and `flask create-user` call these; the demo builds on the same organisation.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.domain.permissions import Role
from portal.models import Category, Department, RootCause, User
from portal.services.admin import DuplicateName

# Department → whether it is the feedback desk (feedback has no category, R5).
STARTER_DEPARTMENTS = {
    "Customer Service": True,
    "Quality": False,
    "After-sales": False,
    "Management Office": False,
}
# R5: product quality → quality; after-sales, staff negligence or attitude → management office.
STARTER_CATEGORIES = {
    "Product quality": "Quality",
    "Delivery and installation": "After-sales",
    "Repairs and after-sales service": "After-sales",
    "Staff attitude or negligence": "Management Office",
    "Billing and charges": "Customer Service",
    "Something else": "Customer Service",
}
STARTER_ROOT_CAUSES = (
    "Manufacturing defect",
    "Courier delay",
    "Staff training gap",
    "Billing system error",
    "Customer misunderstanding",
)


class UnknownDepartment(LookupError):
    """No department has that name (a typo must not create a new department)."""


def has_departments(session: Session) -> bool:
    return session.scalar(select(func.count(Department.id))) != 0


def has_administrator(session: Session) -> bool:
    admins = select(func.count(User.id)).where(User.role == Role.ADMIN.value, User.active.is_(True))
    return session.scalar(admins) != 0


def create_starter_organisation(session: Session) -> dict[str, Department]:
    """Create the starter departments, categories and root causes; the caller commits."""
    departments = {
        name: Department(name=name, handles_feedback=desk) for name, desk in STARTER_DEPARTMENTS.items()
    }
    session.add_all(departments.values())
    session.flush()
    for name, department in STARTER_CATEGORIES.items():
        session.add(Category(name=name, department_id=departments[department].id))
    session.add_all(RootCause(name=cause) for cause in STARTER_ROOT_CAUSES)
    session.flush()
    return departments


def create_user(
    session: Session,
    *,
    name: str,
    email: str,
    role: str,
    department: str,
    password: str,
    new_department: bool = False,
) -> User:
    """Create a staff account; commits. A department must exist unless `new_department` says so."""
    address = email.strip().lower()
    if session.scalar(select(func.count(User.id)).where(func.lower(User.email) == address)):
        raise DuplicateName("email")
    if role not in {r.value for r in Role}:
        raise ValueError("unknown role")
    home = session.scalars(select(Department).where(Department.name == department)).first()
    if home is None:
        if not new_department:
            raise UnknownDepartment(department)
        home = Department(name=department)
        session.add(home)
        session.flush()
    user = User(email=address, name=name, role=role, department_id=home.id)
    user.set_password(password)
    session.add(user)
    session.commit()
    return user


def department_names(session: Session) -> list[str]:
    return list(session.scalars(select(Department.name).order_by(Department.name)))

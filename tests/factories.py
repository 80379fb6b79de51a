"""Build the test organisation and tickets through the real services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from portal.domain.calendar import WorkingCalendar
from portal.domain.permissions import Role
from portal.domain.sla import SlaPolicy
from portal.models import Category, Department, Ticket, User
from portal.services import filing, settings

PASSWORD = "correct-horse-battery"
T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # a Monday


@dataclass
class Org:
    departments: dict[str, Department] = field(default_factory=dict)
    categories: dict[str, Category] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)


PERSONAS = {
    "resp_a1": (Role.RESPONDER, "A"),
    "resp_a2": (Role.RESPONDER, "A"),
    "resp_b1": (Role.RESPONDER, "B"),
    "lead_a": (Role.LEAD, "A"),
    "lead_b": (Role.LEAD, "B"),
    "mgr_1": (Role.MANAGER, "B"),
    "mgr_2": (Role.MANAGER, "B"),
    "admin": (Role.ADMIN, "B"),
    "staff_s": (Role.RESPONDER, "A"),
}


@lru_cache(maxsize=1)
def _password_hash() -> str:
    """scrypt is slow on purpose; hash the shared test password once per run."""
    return generate_password_hash(PASSWORD)


def make_org(session: Session) -> Org:
    org = Org()
    org.departments["A"] = Department(name="Quality", handles_feedback=True)
    org.departments["B"] = Department(name="Management office")
    session.add_all(org.departments.values())
    session.flush()
    org.categories["A"] = Category(name="Product quality", department_id=org.departments["A"].id)
    org.categories["B"] = Category(name="Staff attitude", department_id=org.departments["B"].id)
    session.add_all(org.categories.values())
    for persona, (role, department) in PERSONAS.items():
        user = User(
            name=persona.replace("_", " ").title(),
            email=f"{persona}@example.com",
            role=role.value,
            department_id=org.departments[department].id,
        )
        user.password_hash = _password_hash()
        user.session_version = 1
        org.users[persona] = user
        session.add(user)
    session.commit()
    return org


def rules_for_tests(upload_dir: str) -> settings.Rules:
    return settings.Rules(
        policy=SlaPolicy(),
        calendar=WorkingCalendar(timezone="UTC"),
        upload_dir=upload_dir,
        link_secret="test-link-secret",
    )


def make_ticket(
    session: Session, org: Org, upload_dir: str, department: str = "A", **overrides: Any
) -> Ticket:
    now = overrides.pop("now", T0)
    fields: dict[str, Any] = {
        "customer_name": "Wang Fang",
        "customer_email": "wang@example.org",
        "subject": f"Broken kettle ({department})",
        "description": "It stopped working after a week.",
        "category_id": org.categories[department].id,
        "consent": True,
    }
    fields.update(overrides)
    filed = filing.file_ticket(
        session, filing.Intake(**fields), [], now=now, rules=rules_for_tests(upload_dir)
    )
    return filed.ticket

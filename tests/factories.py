"""Build the test organisation and tickets through the real services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from portal.domain.calendar import WorkingCalendar
from portal.domain.permissions import Role
from portal.domain.sla import SlaPolicy
from portal.extensions import db
from portal.models import Category, Department, Ticket, TicketEvent, User, utcnow
from portal.services import filing, settings, tickets
from portal.web.context import rules as app_rules

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


def file_via_service(
    org: Org,
    department: str = "A",
    *,
    session: Session | None = None,
    now: datetime | None = None,
    rules: settings.Rules | None = None,
    **fields: Any,
) -> filing.Filed:
    """File a complaint through the real intake service (no HTTP); `fields` override the Intake's.

    `session` defaults to `db.session`, `now` to the wall clock, and `rules` to the app's own
    (`portal.web.context.rules()`: its SECRET_KEY signs the tracking links).
    """
    intake: dict[str, Any] = {
        "customer_name": "Wang Fang",
        "customer_email": "wang@example.org",
        "subject": f"Broken kettle ({department})",
        "description": "It stopped working after a week.",
        "category_id": org.categories[department].id,
        "consent": True,
    }
    intake.update(fields)
    return filing.file_ticket(
        session if session is not None else db.session,
        filing.Intake(**intake),
        [],
        now=now if now is not None else utcnow(),
        rules=rules if rules is not None else app_rules(),
    )


def ticket_via_service(org: Org, department: str = "A", **options: Any) -> Ticket:
    """`file_via_service(...)`, for a test that needs only the ticket (same keywords)."""
    return file_via_service(org, department, **options).ticket


def claimed(
    org: Org,
    persona: str = "resp_a1",
    *,
    now: datetime | None = None,
    rules: settings.Rules | None = None,
    **fields: Any,
) -> Ticket:
    """A ticket filed through the service (`fields` as for `file_via_service`, department included)
    and claimed by `persona` at the same moment (`now`, default the wall clock)."""
    moment = now if now is not None else utcnow()
    ticket = file_via_service(org, now=moment, rules=rules, **fields).ticket
    tickets.claim(
        db.session, org.users[persona], ticket, now=moment, rules=rules if rules is not None else app_rules()
    )
    return ticket


def make_ticket(
    session: Session, org: Org, upload_dir: str, department: str = "A", **overrides: Any
) -> Ticket:
    """A ticket filed at `now` (default T0) with the test rules (`rules_for_tests`)."""
    now = overrides.pop("now", T0)
    return file_via_service(
        org, department, session=session, now=now, rules=rules_for_tests(upload_dir), **overrides
    ).ticket


def new_ticket(
    app: Flask,
    org: Org,
    department: str = "A",
    *,
    now: datetime | None = None,
    filed_ago: timedelta = timedelta(hours=1),
    owner: str | None = None,
    status: str | None = None,
    tier: int | None = None,
    serious: bool | None = None,
    concerns: str | None = None,
    **fields: Any,
) -> Ticket:
    """A ticket filed through the real intake with the test rules, then given the state the test needs.

    Filed at `now`, or `filed_ago` before the wall clock when `now` is not given. `owner` and
    `concerns` are personas; `fields` go to the intake (`make_ticket`). Committed.
    """
    ticket = make_ticket(
        db.session,
        org,
        app.config["UPLOAD_FOLDER"],
        department=department,
        now=now if now is not None else utcnow() - filed_ago,
        **fields,
    )
    if owner is not None:
        ticket.owner_id = org.users[owner].id
    if concerns is not None:
        ticket.concerns_user_id = org.users[concerns].id
    if status is not None:
        ticket.status = status
    if tier is not None:
        ticket.tier = tier
    if serious is not None:
        ticket.serious = serious
    db.session.commit()
    return ticket


def fresh(ticket_id: int) -> Ticket:
    """The ticket as the database has it now (nothing cached in the session)."""
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket_id)
    assert ticket is not None
    return ticket


def events(ticket_id: int, kind: str | None = None) -> list[TicketEvent]:
    """The ticket's events in the order they were recorded; only those of `kind` when given."""
    db.session.expire_all()
    query = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
    if kind is not None:
        query = query.where(TicketEvent.kind == kind)
    return list(db.session.scalars(query.order_by(TicketEvent.id)))


def run_twice_at_once(app: Any, work: Any) -> list[Any]:
    """Run `work()` in two threads that start together, each in its own app context (so its own
    session and connection), as two workers would; return both results, failing on any error."""
    import threading

    start = threading.Barrier(2)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with app.app_context():
                start.wait(timeout=10)
                results.append(work())
        except BaseException as error:  # reported below, never lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    return results

"""Every decision a member of staff takes leaves an audit row, in the same transaction (M1, R12).

`SCENARIOS` is the list of state-changing staff routes (blueprints auth, staff, manage, admin;
POST/PUT/PATCH/DELETE), one entry per (method, URL rule), like the access matrix's POLICY. A route
added without a scenario — or a scenario left behind for a route that is gone — fails
`test_every_state_changing_staff_route_has_a_scenario`, so no decision ships unaudited.

Each scenario sets up what its route needs through the real services, then one persona sends one
valid request as a browser would (CSRF token included). The test checks that the change happened
and that exactly the expected audit rows appeared: the route's endpoint (sign-in keeps its own
"login" row), outcome "ok", the signed-in user as actor, the request id and the object of the URL
as target. Requests refused or failing validation leave no "ok" row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.domain import reporting
from portal.extensions import db
from portal.models import (
    AuditLog,
    Callback,
    Category,
    ClosureDay,
    CooperationReport,
    Department,
    ImprovementAction,
    Notification,
    ResolutionProposal,
    RootCause,
    ServiceTarget,
    Setting,
    SpotCheck,
    SpotCheckItem,
    Ticket,
    TicketEvent,
    User,
    improvement_action_ticket,
    utcnow,
)
from portal.services import audit as audit_service
from portal.services import clocks, improvements, ladder, resolutions, spot_checks, tickets
from portal.services import two_factor as two_step
from portal.services.settings import Rules, load_rules
from tests.conftest import fresh_token
from tests.factories import PASSWORD, Org, make_ticket

AUDITED_BLUEPRINTS = ("auth", "staff", "manage", "admin")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"

# --- the harness -------------------------------------------------------------------------------


@dataclass
class Ctx:
    app: Flask
    org: Org

    def user(self, persona: str) -> User:
        return self.org.users[persona]

    @property
    def upload_dir(self) -> str:
        return str(self.app.config["UPLOAD_FOLDER"])

    def rules(self) -> Rules:
        return load_rules(db.session, self.app.config, utcnow())

    def local(self, moment: Any) -> str:
        """A moment as the organisation's clock shows it, in a datetime-local field's format."""
        return moment.astimezone(ZoneInfo(self.app.config["ORG_TIMEZONE"])).strftime(LOCAL_FORMAT)


@dataclass
class Step:
    """The one request a scenario is about, what it must change, and the target it must log."""

    url: str
    data: dict[str, str]
    check: Callable[[FlaskClient], None]
    target: str | None
    prefix: str | None = None  # a per-row form: its CSRF token is `<prefix>-csrf_token`


@dataclass(frozen=True)
class Scenario:
    persona: str | None  # who sends the request; None: nobody is signed in
    build: Callable[[Ctx], Step]
    action: str | None = None  # the audit action; default: the route's endpoint
    actor: str | None = None  # who the row names; default: `persona`


def post(client: FlaskClient, url: str, data: dict[str, str], prefix: str | None = None) -> Any:
    """POST like a browser: with the token the session's forms carry (any page shows it)."""
    token = fresh_token(client, "/complaints/new")
    payload = {"csrf_token": token, **data}
    if prefix:
        payload[f"{prefix}-csrf_token"] = token
    return client.post(url, data=payload)


def fresh(model: type[Any], ident: Any) -> Any:
    db.session.expire_all()
    row = db.session.get(model, ident)
    assert row is not None, (model.__name__, ident)
    return row


def last_audit_id() -> int:
    db.session.expire_all()
    return int(db.session.scalar(select(func.max(AuditLog.id))) or 0)


def audit_rows_after(mark: int) -> list[AuditLog]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditLog).where(AuditLog.id > mark).order_by(AuditLog.id)))


def events(ticket_id: int, kind: str) -> list[TicketEvent]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == kind)
        )
    )


# --- setting the scene through the real services ----------------------------------------------


def new_ticket(ctx: Ctx, department: str = "A", **fields: Any) -> Ticket:
    ticket = make_ticket(
        db.session,
        ctx.org,
        ctx.upload_dir,
        department=department,
        now=utcnow() - timedelta(hours=1),
        **fields,
    )
    db.session.commit()
    return ticket


def claimed(ctx: Ctx, owner: str = "resp_a1") -> Ticket:
    ticket = new_ticket(ctx)
    tickets.claim(db.session, ctx.user(owner), ticket, now=utcnow(), rules=ctx.rules())
    assert ticket.owner_id == ctx.user(owner).id
    return ticket


def resolved(ctx: Ctx, owner: str = "resp_a1") -> Ticket:
    ticket = claimed(ctx, owner)
    proposal = resolutions.ProposalInput(summary="Seal replaced.", customer_reply="We replaced the seal.")
    resolutions.resolve_or_propose(
        db.session, ctx.user(owner), ticket, proposal, now=utcnow(), rules=ctx.rules()
    )
    assert ticket.status == "resolved"
    return ticket


def pending_proposal(ctx: Ctx) -> ResolutionProposal:
    ticket = claimed(ctx)
    proposal = resolutions.ProposalInput(
        summary="Goodwill payment.",
        customer_reply="We will pay you 600.00.",
        outcome="compensation",
        amount_minor=60_000,
    )
    row = resolutions.resolve_or_propose(
        db.session, ctx.user("resp_a1"), ticket, proposal, now=utcnow(), rules=ctx.rules()
    )
    assert row.status == "pending"
    return row


def callback_of(ctx: Ctx) -> Callback:
    ticket = resolved(ctx)
    callback = db.session.scalars(select(Callback).where(Callback.ticket_id == ticket.id)).one()
    assert callback.owner_id == ctx.user("resp_a1").id
    return callback


def improvement(ctx: Ctx, status: str = "planned") -> ImprovementAction:
    return improvements.save(
        db.session,
        ctx.user("lead_a"),
        None,
        improvements.ActionInput(
            title="Retrain the installers",
            description="",
            department_id=ctx.org.departments["A"].id,
            owner_id=ctx.user("resp_a2").id,
            due_on=date.today() + timedelta(days=30),
            status=status,
            category_id=ctx.org.categories["A"].id,
        ),
        now=utcnow(),
    )


def action_form(ctx: Ctx, **overrides: str) -> dict[str, str]:
    data = {
        "title": "Check every kettle batch before it ships",
        "description": "Three complaints in a week about the same batch.",
        "department": str(ctx.org.departments["A"].id),
        "owner": str(ctx.user("resp_a1").id),
        "due_on": (date.today() + timedelta(days=20)).isoformat(),
        "status": "planned",
        "root_cause": "0",
        "category": str(ctx.org.categories["A"].id),
    }
    return data | overrides


def spot_check_item(ctx: Ctx) -> SpotCheckItem:
    """A department-A complaint resolved last year by resp_a1, drawn at 100%."""
    ticket = new_ticket(ctx)
    when = utcnow().replace(year=utcnow().year - 1, month=8, day=10)
    ticket.received_at, ticket.resolved_at = when - timedelta(hours=5), when
    ticket.status, ticket.owner_id = "closed", ctx.user("resp_a1").id
    db.session.commit()
    check = spot_checks.draw(
        db.session,
        ctx.user("mgr_1"),
        f"{when.year}-Q3",
        percent=100,
        seed="audited",
        timezone=ctx.app.config["ORG_TIMEZONE"],
        now=utcnow(),
    )
    return db.session.scalars(select(SpotCheckItem).where(SpotCheckItem.spot_check_id == check.id)).one()


def lead_a_notices(ctx: Ctx) -> list[Notification]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Notification).where(
                Notification.recipient_user_id == ctx.user("lead_a").id, Notification.channel == "in_app"
            )
        )
    )


# --- staff: the ticket actions -----------------------------------------------------------------

T = "/staff/tickets/<int:ticket_id>"


def ticket_step(ticket: Ticket, action: str, data: dict[str, str], check: Callable[[Ticket], None]) -> Step:
    return Step(
        f"/staff/tickets/{ticket.id}/{action}",
        data,
        lambda _client: check(fresh(Ticket, ticket.id)),
        f"ticket:{ticket.id}",
    )


def versioned(ticket: Ticket, **data: str) -> dict[str, str]:
    return {"version": str(fresh(Ticket, ticket.id).version), **data}


def claim(ctx: Ctx) -> Step:
    ticket = new_ticket(ctx)

    def check(after: Ticket) -> None:
        assert (after.owner_id, after.status) == (ctx.user("resp_a1").id, "in_progress")

    return ticket_step(ticket, "claim", {}, check)


def acknowledge(ctx: Ctx) -> Step:
    ticket = new_ticket(ctx)

    def check(after: Ticket) -> None:
        assert after.status == "acknowledged" and after.acknowledged_at is not None

    return ticket_step(ticket, "acknowledge", {}, check)


def reply(ctx: Ctx) -> Step:
    ticket = new_ticket(ctx)
    body = "A replacement kettle is on its way."

    def check(after: Ticket) -> None:
        assert [e.body for e in events(after.id, "reply")] == [body]

    return ticket_step(ticket, "reply", {"body": body}, check)


def note(ctx: Ctx) -> Step:
    ticket = new_ticket(ctx)
    body = "Supplier batch 42 looks faulty."

    def check(after: Ticket) -> None:
        assert [e.body for e in events(after.id, "note")] == [body]

    return ticket_step(ticket, "notes", {"body": body}, check)


def recategorise(ctx: Ctx) -> Step:
    ticket = new_ticket(ctx)
    category_b = ctx.org.categories["B"].id

    def check(after: Ticket) -> None:
        assert after.category_id == category_b

    return ticket_step(ticket, "category", versioned(ticket, category=str(category_b)), check)


def reprioritise(ctx: Ctx) -> Step:
    ticket = new_ticket(ctx)

    def check(after: Ticket) -> None:
        assert after.priority == "urgent"

    return ticket_step(ticket, "priority", versioned(ticket, priority="urgent"), check)


def transfer(ctx: Ctx) -> Step:
    ticket = claimed(ctx)
    department_b = ctx.org.departments["B"].id

    def check(after: Ticket) -> None:
        assert (after.department_id, after.owner_id) == (department_b, ctx.user("resp_a1").id)

    data = versioned(ticket, department=str(department_b), note="Please check the driver's route.")
    return ticket_step(ticket, "transfer", data, check)


def resolve(ctx: Ctx) -> Step:
    ticket = new_ticket(ctx)

    def check(after: Ticket) -> None:
        assert (after.status, after.owner_id) == ("resolved", ctx.user("resp_a1").id)

    data = versioned(ticket, summary="Explained how to descale it.", outcome="explanation", root_cause="0")
    return ticket_step(ticket, "resolve", data, check)


def reopen(ctx: Ctx) -> Step:
    ticket = resolved(ctx)

    def check(after: Ticket) -> None:
        assert after.status == "in_progress" and after.resolved_at is None

    return ticket_step(ticket, "reopen", versioned(ticket, reason="The customer says it still leaks."), check)


def close(ctx: Ctx) -> Step:
    ticket = resolved(ctx)

    def check(after: Ticket) -> None:
        assert after.status == "closed" and after.closed_at is not None

    return ticket_step(ticket, "close", versioned(ticket), check)


def escalate(ctx: Ctx) -> Step:
    ticket = claimed(ctx)

    def check(after: Ticket) -> None:
        assert after.tier == 2

    return ticket_step(ticket, "escalate", versioned(ticket, reason="Needs a supplier decision."), check)


def send_back(ctx: Ctx) -> Step:
    ticket = claimed(ctx)
    ladder.escalate(db.session, ctx.user("resp_a1"), ticket, "Needs the lead.", now=utcnow())
    assert ticket.tier == 2

    def check(after: Ticket) -> None:
        assert after.tier == 1

    return ticket_step(ticket, "send-back", versioned(ticket, note="Offer the standard replacement."), check)


def mark_serious(ctx: Ctx) -> Step:
    ticket = new_ticket(ctx)

    def check(after: Ticket) -> None:
        assert after.serious is True and after.tier == 3

    return ticket_step(ticket, "serious", {"reason": "The customer was scalded."}, check)


def report_noncooperation(ctx: Ctx) -> Step:
    ticket = claimed(ctx)
    department_b = ctx.org.departments["B"].id

    def check(after: Ticket) -> None:
        reports = db.session.scalars(select(CooperationReport).where(CooperationReport.ticket_id == after.id))
        assert [r.department_id for r in reports] == [department_b]

    data = {"department": str(department_b), "note": "No answer to three requests for the invoice."}
    return ticket_step(ticket, "noncooperation", data, check)


def link_staff(ctx: Ctx) -> Step:
    ticket = new_ticket(ctx)
    named = ctx.user("staff_s").id

    def check(after: Ticket) -> None:
        assert after.concerns_user_id == named

    return ticket_step(ticket, "concerns", {"user": str(named)}, check)


def extend(ctx: Ctx) -> Step:
    ticket = claimed(ctx)

    def check(after: Ticket) -> None:
        assert after.extended_at is not None and after.extended_by_id == ctx.user("lead_a").id

    data = versioned(ticket, working_days="7", reason="Waiting for the lab report.")
    return ticket_step(ticket, "extend", data, check)


def pause(ctx: Ctx) -> Step:
    ticket = claimed(ctx)

    def check(after: Ticket) -> None:
        assert after.paused_at is not None and after.pause_reason == "Waiting for photos."

    return ticket_step(ticket, "pause", {"reason": "Waiting for photos."}, check)


def resume(ctx: Ctx) -> Step:
    ticket = claimed(ctx)
    clocks.pause(db.session, ctx.user("resp_a1"), ticket, "Waiting for photos.", now=utcnow())
    assert fresh(Ticket, ticket.id).paused_at is not None

    def check(after: Ticket) -> None:
        assert (after.paused_at, after.pause_reason) == (None, None)

    return ticket_step(ticket, "resume", {}, check)


def customer_tier(ctx: Ctx) -> Step:
    ticket = new_ticket(ctx)

    def check(after: Ticket) -> None:
        assert after.customer_tier == "vip"

    return ticket_step(ticket, "customer-tier", {"customer_tier": "vip"}, check)


# --- staff: registering, callbacks, notifications ----------------------------------------------


def register_complaint(ctx: Ctx) -> Step:
    def check(_client: FlaskClient) -> None:
        db.session.expire_all()
        ticket = db.session.scalars(select(Ticket).where(Ticket.subject == "Rude delivery driver")).one()
        assert (ticket.channel, ticket.registered_by_id) == ("phone", ctx.user("resp_a1").id)

    data = {
        "channel": "phone",
        "name": "Li Lei",
        "email": "",
        "phone": "+86 138 0013 8000",
        "preferred_contact": "phone",
        "category": str(ctx.org.categories["A"].id),
        "subject": "Rude delivery driver",
        "description": "Called to say the driver shouted at him.",
        "consent": "y",
        "idempotency_key": "p" * 32,
    }
    return Step("/staff/complaints/new", data, check, "/staff/complaints/new")


def record_callback(ctx: Ctx) -> Step:
    callback = callback_of(ctx)
    prefix = f"cb{callback.id}"

    def check(_client: FlaskClient) -> None:
        done = fresh(Callback, callback.id)
        assert done.completed_at is not None
        assert (done.reached, done.satisfied, done.notes) == (True, True, "Happy with the seal.")

    data = {
        f"{prefix}-reached": "yes",
        f"{prefix}-satisfied": "yes",
        f"{prefix}-notes": "Happy with the seal.",
    }
    return Step(f"/staff/callbacks/{callback.id}", data, check, f"callback:{callback.id}", prefix)


def reschedule_callback(ctx: Ctx) -> Step:
    callback = callback_of(ctx)
    prefix = f"rs{callback.id}"
    later = utcnow().replace(second=0, microsecond=0) + timedelta(days=3)

    def check(_client: FlaskClient) -> None:
        moved = fresh(Callback, callback.id)
        assert moved.due_at == later and moved.completed_at is None

    data = {f"{prefix}-due_at": ctx.local(later)}
    return Step(f"/staff/callbacks/{callback.id}/reschedule", data, check, f"callback:{callback.id}", prefix)


def read_notification(ctx: Ctx) -> Step:
    new_ticket(ctx)  # filing tells department A's lead in the portal
    [notice] = lead_a_notices(ctx)
    assert notice.read_at is None

    def check(_client: FlaskClient) -> None:
        assert fresh(Notification, notice.id).read_at is not None

    return Step(f"/staff/notifications/{notice.id}/read", {}, check, f"notification:{notice.id}")


def read_all_notifications(ctx: Ctx) -> Step:
    new_ticket(ctx)
    new_ticket(ctx)
    assert len(lead_a_notices(ctx)) == 2

    def check(_client: FlaskClient) -> None:
        assert [n.read_at is not None for n in lead_a_notices(ctx)] == [True, True]

    return Step("/staff/notifications/read-all", {}, check, "/staff/notifications/read-all")


# --- manage: approvals, improvement actions, spot checks ---------------------------------------


def approve(ctx: Ctx) -> Step:
    proposal = pending_proposal(ctx)

    def check(_client: FlaskClient) -> None:
        decided = fresh(ResolutionProposal, proposal.id)
        assert (decided.status, decided.decided_by_id) == ("approved", ctx.user("mgr_1").id)
        assert fresh(Ticket, proposal.ticket_id).status == "resolved"

    return Step(f"/manage/proposals/{proposal.id}/approve", {}, check, f"proposal:{proposal.id}")


def reject(ctx: Ctx) -> Step:
    proposal = pending_proposal(ctx)
    prefix = f"p{proposal.id}"

    def check(_client: FlaskClient) -> None:
        decided = fresh(ResolutionProposal, proposal.id)
        assert (decided.status, decided.decided_by_id) == ("rejected", ctx.user("mgr_1").id)

    data = {f"{prefix}-reason": "Too generous for a kettle."}
    return Step(f"/manage/proposals/{proposal.id}/reject", data, check, f"proposal:{proposal.id}", prefix)


def new_improvement(ctx: Ctx) -> Step:
    def check(_client: FlaskClient) -> None:
        db.session.expire_all()
        action = db.session.scalars(select(ImprovementAction)).one()
        assert (action.title, action.created_by_id) == (
            "Check every kettle batch before it ships",
            ctx.user("lead_a").id,
        )

    return Step("/manage/improvements/new", action_form(ctx), check, "/manage/improvements/new")


def edit_improvement(ctx: Ctx) -> Step:
    action = improvement(ctx)

    def check(_client: FlaskClient) -> None:
        edited = fresh(ImprovementAction, action.id)
        assert (edited.title, edited.status) == ("Retrain the installers twice", "in_progress")

    data = action_form(ctx, title="Retrain the installers twice", status="in_progress")
    return Step(f"/manage/improvements/{action.id}", data, check, f"action:{action.id}")


def review_improvement(ctx: Ctx) -> Step:
    action = improvement(ctx, status="done")

    def check(_client: FlaskClient) -> None:
        reviewed = fresh(ImprovementAction, action.id)
        assert (reviewed.effective, reviewed.reviewed_by_id) == (False, ctx.user("lead_a").id)

    data = {"effective": "no", "review": "Same number of complaints as before."}
    return Step(f"/manage/improvements/{action.id}/review", data, check, f"action:{action.id}")


def linked_ids(action_id: int) -> list[int]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(improvement_action_ticket.c.ticket_id).where(
                improvement_action_ticket.c.action_id == action_id
            )
        )
    )


def link_improvement_ticket(ctx: Ctx) -> Step:
    action, ticket = improvement(ctx), new_ticket(ctx)

    def check(_client: FlaskClient) -> None:
        assert linked_ids(action.id) == [ticket.id]

    url = f"/manage/improvements/{action.id}/tickets"
    return Step(url, {"reference": ticket.reference}, check, f"action:{action.id}")


def unlink_improvement_ticket(ctx: Ctx) -> Step:
    action, ticket = improvement(ctx), new_ticket(ctx)
    improvements.link_ticket(db.session, ctx.user("lead_a"), action, ticket.reference)
    assert linked_ids(action.id) == [ticket.id]

    def check(_client: FlaskClient) -> None:
        assert linked_ids(action.id) == []

    url = f"/manage/improvements/{action.id}/tickets/{ticket.id}/unlink"
    return Step(url, {}, check, f"action:{action.id},ticket:{ticket.id}")


def draw_spot_check(ctx: Ctx) -> Step:
    local_today = utcnow().astimezone(ZoneInfo(ctx.app.config["ORG_TIMEZONE"])).date()
    quarter = reporting.quarter_label(*reporting.recent_quarters(local_today, 5)[1])  # the form's default

    def check(_client: FlaskClient) -> None:
        db.session.expire_all()
        check_row = db.session.scalars(select(SpotCheck)).one()
        assert (check_row.quarter, check_row.drawn_by_id, check_row.seed) == (
            quarter,
            ctx.user("mgr_1").id,
            "audited-draw",
        )

    data = {"quarter": quarter, "percent": "20", "seed": "audited-draw"}
    return Step("/manage/spot-checks", data, check, "/manage/spot-checks")


def assign_spot_check_reviewer(ctx: Ctx) -> Step:
    item = spot_check_item(ctx)
    prefix = f"r{item.id}"

    def check(_client: FlaskClient) -> None:
        assert fresh(SpotCheckItem, item.id).reviewer_id == ctx.user("lead_a").id

    data = {f"{prefix}-reviewer": str(ctx.user("lead_a").id)}
    url = f"/manage/spot-checks/items/{item.id}/reviewer"
    return Step(url, data, check, f"item:{item.id}", prefix)


def record_spot_check_review(ctx: Ctx) -> Step:
    item = spot_check_item(ctx)
    spot_checks.assign_reviewer(db.session, ctx.user("mgr_1"), item, ctx.user("lead_a"), now=utcnow())
    prefix = f"v{item.id}"

    def check(_client: FlaskClient) -> None:
        reviewed = fresh(SpotCheckItem, item.id)
        assert reviewed.reviewed_at is not None
        assert (reviewed.recontacted, reviewed.outcome_held) == (True, False)

    data = {
        f"{prefix}-recontacted": "yes",
        f"{prefix}-outcome_held": "no",
        f"{prefix}-findings": "The replacement broke again; the customer was not told why.",
    }
    url = f"/manage/spot-checks/items/{item.id}/review"
    return Step(url, data, check, f"item:{item.id}", prefix)


# --- admin: accounts, organisation, settings, outbox -------------------------------------------


def new_user(ctx: Ctx) -> Step:
    def check(_client: FlaskClient) -> None:
        db.session.expire_all()
        user = db.session.scalars(select(User).where(User.email == "new.person@example.com")).one()
        assert (user.role, user.department_id, user.active) == (
            "responder",
            ctx.org.departments["A"].id,
            True,
        )

    data = {
        "name": "New Person",
        "email": "new.person@example.com",
        "role": "responder",
        "department": str(ctx.org.departments["A"].id),
        "active": "y",
        "password": "a-long-enough-passphrase-42",
    }
    return Step("/admin/users/new", data, check, "/admin/users/new")


def edit_user(ctx: Ctx) -> Step:
    user = ctx.user("resp_b1")

    def check(_client: FlaskClient) -> None:
        edited = fresh(User, user.id)
        assert (edited.name, edited.role) == ("Resp B One", "lead")

    data = {
        "name": "Resp B One",
        "email": user.email,
        "role": "lead",
        "department": str(user.department_id),
        "active": "y",
        "password": "",
    }
    return Step(f"/admin/users/{user.id}", data, check, f"user:{user.id}")


def new_department(ctx: Ctx) -> Step:
    def check(_client: FlaskClient) -> None:
        db.session.expire_all()
        assert db.session.scalars(select(Department).where(Department.name == "Logistics")).one()

    return Step("/admin/departments/new", {"name": "Logistics"}, check, "/admin/departments/new")


def edit_department(ctx: Ctx) -> Step:
    department = ctx.org.departments["B"]

    def check(_client: FlaskClient) -> None:
        assert fresh(Department, department.id).name == "Management office (HQ)"

    url = f"/admin/departments/{department.id}"
    return Step(url, {"name": "Management office (HQ)"}, check, f"department:{department.id}")


def new_category(ctx: Ctx) -> Step:
    def check(_client: FlaskClient) -> None:
        db.session.expire_all()
        category = db.session.scalars(select(Category).where(Category.name == "Delivery")).one()
        assert category.department_id == ctx.org.departments["A"].id

    data = {"name": "Delivery", "department": str(ctx.org.departments["A"].id), "active": "y"}
    return Step("/admin/categories/new", data, check, "/admin/categories/new")


def edit_category(ctx: Ctx) -> Step:
    category = ctx.org.categories["B"]

    def check(_client: FlaskClient) -> None:
        edited = fresh(Category, category.id)
        assert (edited.name, edited.active) == ("Staff attitude and manners", True)

    data = {"name": "Staff attitude and manners", "department": str(category.department_id), "active": "y"}
    return Step(f"/admin/categories/{category.id}", data, check, f"category:{category.id}")


def new_root_cause(ctx: Ctx) -> Step:
    def check(_client: FlaskClient) -> None:
        db.session.expire_all()
        assert db.session.scalars(select(RootCause.name)).all() == ["Courier delay"]

    return Step(
        "/admin/root-causes/new", {"name": "Courier delay", "active": "y"}, check, "/admin/root-causes/new"
    )


def edit_root_cause(ctx: Ctx) -> Step:
    cause = RootCause(name="Courier delay", active=True)
    db.session.add(cause)
    db.session.commit()

    def check(_client: FlaskClient) -> None:
        retired = fresh(RootCause, cause.id)
        assert (retired.name, retired.active) == ("Courier delays", False)

    url = f"/admin/root-causes/{cause.id}"
    return Step(url, {"name": "Courier delays"}, check, f"root_cause:{cause.id}")


def save_settings(ctx: Ctx) -> Step:
    def check(_client: FlaskClient) -> None:
        db.session.expire_all()
        stored = {row.key: row.value for row in db.session.scalars(select(Setting))}
        assert (stored["spot_check_percent"], stored["warn_repeat_days"]) == ("25", "14")

    data = {
        "holiday_country": "CN",
        "approval_threshold": "500.00",
        "feedback_window_days": "7",
        "callback_within_hours": "24",
        "spot_check_percent": "25",
        "warn_repeat_complaints": "4",
        "warn_repeat_days": "14",
        "warn_spike_factor": "1.5",
        "warn_spike_weeks": "6",
        "warn_spike_min_count": "5",
        "warn_promise_hours": "3",
    }
    return Step("/admin/settings", data, check, "/admin/settings")


def add_service_target(ctx: Ctx) -> Step:
    def check(_client: FlaskClient) -> None:
        db.session.expire_all()
        target = db.session.scalars(select(ServiceTarget)).one()
        assert (target.category_id, target.customer_tier, target.acknowledge_hours) == (None, "vip", 4)

    data = {
        "category": "0",
        "customer_tier": "vip",
        "acknowledge_hours": "4",
        "resolve_working_days": "1",
        "max_working_days": "3",
    }
    return Step("/admin/settings/targets", data, check, "/admin/settings/targets")


def delete_service_target(ctx: Ctx) -> Step:
    target = ServiceTarget(
        category_id=None, customer_tier="vip", acknowledge_hours=4, resolve_working_days=1, max_working_days=3
    )
    db.session.add(target)
    db.session.commit()
    target_id = target.id

    def check(_client: FlaskClient) -> None:
        db.session.expire_all()
        assert db.session.get(ServiceTarget, target_id) is None

    url = f"/admin/settings/targets/{target_id}/delete"
    return Step(url, {}, check, f"target:{target_id}")


def add_closure_day(ctx: Ctx) -> Step:
    day = date.today() + timedelta(days=40)

    def check(_client: FlaskClient) -> None:
        db.session.expire_all()
        closure = db.session.scalars(select(ClosureDay)).one()
        assert (closure.day, closure.reason) == (day, "Office move")

    data = {"day": day.isoformat(), "reason": "Office move"}
    return Step("/admin/settings/closures", data, check, "/admin/settings/closures")


def delete_closure_day(ctx: Ctx) -> Step:
    closure = ClosureDay(day=date.today() + timedelta(days=40), reason="Office move")
    db.session.add(closure)
    db.session.commit()
    closure_id = closure.id

    def check(_client: FlaskClient) -> None:
        db.session.expire_all()
        assert db.session.get(ClosureDay, closure_id) is None

    url = f"/admin/settings/closures/{closure_id}/delete"
    return Step(url, {}, check, f"closure:{closure_id}")


def retry_notification(ctx: Ctx) -> Step:
    ticket = new_ticket(ctx)
    notice = db.session.scalars(
        select(Notification).where(Notification.ticket_id == ticket.id, Notification.channel == "email")
    ).first()
    assert notice is not None, "filing wrote no email to the customer"
    notice.status, notice.attempts, notice.last_error = "dead", 5, "550 mailbox unavailable"
    db.session.commit()

    def check(_client: FlaskClient) -> None:
        again = fresh(Notification, notice.id)
        assert (again.status, again.attempts) == ("pending", 0)

    url = f"/admin/outbox/{notice.id}/retry"
    return Step(url, {}, check, f"notification:{notice.id}")


# --- auth: signing in and out, changing the password -------------------------------------------


def login(ctx: Ctx) -> Step:
    def check(client: FlaskClient) -> None:
        assert client.get("/staff/queue").status_code == 200

    data = {"email": ctx.user("resp_a1").email, "password": PASSWORD}
    return Step("/auth/login", data, check, None)


def logout(ctx: Ctx) -> Step:
    user_id = ctx.user("resp_a1").id

    def check(client: FlaskClient) -> None:
        assert fresh(User, user_id).session_version == 2  # every copy of the cookie is worthless
        assert client.get("/staff/queue").status_code == 302

    return Step("/auth/logout", {}, check, "/auth/logout")


def change_password(ctx: Ctx) -> Step:
    user_id = ctx.user("resp_a1").id
    new = "another-long-passphrase-9"

    def check(_client: FlaskClient) -> None:
        assert fresh(User, user_id).check_password(new)

    data = {"current_password": PASSWORD, "new_password": new, "confirm": new}
    return Step("/auth/password", data, check, "/auth/password")


# --- auth: two-step sign-in (ASVS 4.3.1) -------------------------------------------------------


def sealing_key(ctx: Ctx) -> two_step.SealingKey:
    return two_step.sealing_key(ctx.app.config["SECRET_KEY"])


def setting_up(ctx: Ctx, persona: str) -> str:
    """`persona` has started setting up two-step sign-in (still off); the secret being set up."""
    user = ctx.user(persona)
    two_step.start(db.session, user, PASSWORD, key=sealing_key(ctx))
    secret = two_step.pending_secret(user, sealing_key(ctx))
    assert secret is not None
    return secret


def enrolled(ctx: Ctx, persona: str) -> str:
    """`persona` has two-step sign-in on, confirmed with the code of the step before now."""
    secret = setting_up(ctx, persona)
    earlier = utcnow() - timedelta(seconds=30)
    two_step.confirm(
        db.session, ctx.user(persona), pyotp.TOTP(secret).at(earlier), now=utcnow(), key=sealing_key(ctx)
    )
    return secret


def start_two_factor(ctx: Ctx) -> Step:
    user_id = ctx.user("resp_a1").id

    def check(_client: FlaskClient) -> None:
        assert fresh(User, user_id).totp_pending_secret is not None

    return Step("/auth/two-factor/start", {"password": PASSWORD}, check, f"user:{user_id}")


def confirm_two_factor(ctx: Ctx) -> Step:
    user_id = ctx.user("resp_a1").id
    secret = setting_up(ctx, "resp_a1")

    def check(_client: FlaskClient) -> None:
        assert fresh(User, user_id).two_factor_on

    return Step("/auth/two-factor/confirm", {"code": pyotp.TOTP(secret).now()}, check, f"user:{user_id}")


def stop_setting_up_two_factor(ctx: Ctx) -> Step:
    """The same route turns two-step sign-in off (a signed-in session of an account with it on
    is the feature tests' business: `login_as` stops at the code) or stops a set-up."""
    user_id = ctx.user("resp_a1").id
    setting_up(ctx, "resp_a1")

    def check(_client: FlaskClient) -> None:
        assert fresh(User, user_id).totp_pending_secret is None

    return Step("/auth/two-factor/disable", {}, check, f"user:{user_id}")


def second_step(ctx: Ctx) -> Step:
    """`login_as` gives the password; this request gives the code and signs in."""
    user_id = ctx.user("mgr_1").id
    secret = enrolled(ctx, "mgr_1")

    def check(client: FlaskClient) -> None:
        assert client.get("/staff/queue").status_code == 200

    return Step("/auth/two-factor/verify", {"code": pyotp.TOTP(secret).now()}, check, f"user:{user_id}")


def reset_two_factor(ctx: Ctx) -> Step:
    user_id = ctx.user("mgr_1").id
    enrolled(ctx, "mgr_1")

    def check(_client: FlaskClient) -> None:
        assert not fresh(User, user_id).two_factor_on

    return Step(f"/admin/users/{user_id}/two-factor/reset", {}, check, f"user:{user_id}")


# --- the table ---------------------------------------------------------------------------------

SCENARIOS: dict[tuple[str, str], Scenario] = {
    # auth
    ("POST", "/auth/login"): Scenario(None, login, action="login", actor="resp_a1"),
    ("POST", "/auth/logout"): Scenario("resp_a1", logout),
    ("POST", "/auth/password"): Scenario("resp_a1", change_password),
    ("POST", "/auth/two-factor/start"): Scenario("resp_a1", start_two_factor),
    ("POST", "/auth/two-factor/confirm"): Scenario("resp_a1", confirm_two_factor),
    ("POST", "/auth/two-factor/disable"): Scenario("resp_a1", stop_setting_up_two_factor),
    ("POST", "/auth/two-factor/verify"): Scenario("mgr_1", second_step, action="login_2fa"),
    # staff: ticket actions
    ("POST", f"{T}/claim"): Scenario("resp_a1", claim),
    ("POST", f"{T}/acknowledge"): Scenario("resp_a1", acknowledge),
    ("POST", f"{T}/reply"): Scenario("resp_a1", reply),
    ("POST", f"{T}/notes"): Scenario("resp_a1", note),
    ("POST", f"{T}/category"): Scenario("lead_a", recategorise),
    ("POST", f"{T}/priority"): Scenario("lead_a", reprioritise),
    ("POST", f"{T}/transfer"): Scenario("resp_a1", transfer),
    ("POST", f"{T}/resolve"): Scenario("resp_a1", resolve),
    ("POST", f"{T}/reopen"): Scenario("resp_a1", reopen),
    ("POST", f"{T}/close"): Scenario("resp_a1", close),
    ("POST", f"{T}/escalate"): Scenario("resp_a1", escalate),
    ("POST", f"{T}/send-back"): Scenario("lead_a", send_back),
    ("POST", f"{T}/serious"): Scenario("resp_a2", mark_serious),
    ("POST", f"{T}/noncooperation"): Scenario("resp_a1", report_noncooperation),
    ("POST", f"{T}/concerns"): Scenario("lead_a", link_staff),
    ("POST", f"{T}/extend"): Scenario("lead_a", extend),
    ("POST", f"{T}/pause"): Scenario("resp_a1", pause),
    ("POST", f"{T}/resume"): Scenario("resp_a1", resume),
    ("POST", f"{T}/customer-tier"): Scenario("lead_a", customer_tier),
    # staff: registering, callbacks, notifications
    ("POST", "/staff/complaints/new"): Scenario("resp_a1", register_complaint),
    ("POST", "/staff/callbacks/<int:callback_id>"): Scenario("resp_a1", record_callback),
    ("POST", "/staff/callbacks/<int:callback_id>/reschedule"): Scenario("resp_a1", reschedule_callback),
    ("POST", "/staff/notifications/<int:notification_id>/read"): Scenario("lead_a", read_notification),
    ("POST", "/staff/notifications/read-all"): Scenario("lead_a", read_all_notifications),
    # manage
    ("POST", "/manage/proposals/<int:proposal_id>/approve"): Scenario("mgr_1", approve),
    ("POST", "/manage/proposals/<int:proposal_id>/reject"): Scenario("mgr_1", reject),
    ("POST", "/manage/improvements/new"): Scenario("lead_a", new_improvement),
    ("POST", "/manage/improvements/<int:action_id>"): Scenario("lead_a", edit_improvement),
    ("POST", "/manage/improvements/<int:action_id>/review"): Scenario("lead_a", review_improvement),
    ("POST", "/manage/improvements/<int:action_id>/tickets"): Scenario("lead_a", link_improvement_ticket),
    ("POST", "/manage/improvements/<int:action_id>/tickets/<int:ticket_id>/unlink"): Scenario(
        "lead_a", unlink_improvement_ticket
    ),
    ("POST", "/manage/spot-checks"): Scenario("mgr_1", draw_spot_check),
    ("POST", "/manage/spot-checks/items/<int:item_id>/reviewer"): Scenario(
        "mgr_1", assign_spot_check_reviewer
    ),
    ("POST", "/manage/spot-checks/items/<int:item_id>/review"): Scenario("lead_a", record_spot_check_review),
    # admin
    ("POST", "/admin/users/new"): Scenario("admin", new_user),
    ("POST", "/admin/users/<int:user_id>"): Scenario("admin", edit_user),
    ("POST", "/admin/users/<int:user_id>/two-factor/reset"): Scenario("admin", reset_two_factor),
    ("POST", "/admin/departments/new"): Scenario("admin", new_department),
    ("POST", "/admin/departments/<int:department_id>"): Scenario("admin", edit_department),
    ("POST", "/admin/categories/new"): Scenario("admin", new_category),
    ("POST", "/admin/categories/<int:category_id>"): Scenario("admin", edit_category),
    ("POST", "/admin/root-causes/new"): Scenario("admin", new_root_cause),
    ("POST", "/admin/root-causes/<int:root_cause_id>"): Scenario("admin", edit_root_cause),
    ("POST", "/admin/settings"): Scenario("admin", save_settings),
    ("POST", "/admin/settings/targets"): Scenario("admin", add_service_target),
    ("POST", "/admin/settings/targets/<int:target_id>/delete"): Scenario("admin", delete_service_target),
    ("POST", "/admin/settings/closures"): Scenario("admin", add_closure_day),
    ("POST", "/admin/settings/closures/<int:closure_id>/delete"): Scenario("admin", delete_closure_day),
    ("POST", "/admin/outbox/<int:notification_id>/retry"): Scenario("admin", retry_notification),
}


def state_changing_staff_routes(app: Flask) -> set[tuple[str, str]]:
    """Every (method, rule) of the staff blueprints that may change something."""
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.partition(".")[0] in AUDITED_BLUEPRINTS
        for method in (rule.methods or set()) & STATE_CHANGING
    }


# --- the tests ---------------------------------------------------------------------------------


def test_every_state_changing_staff_route_has_a_scenario(app: Flask) -> None:
    routes = state_changing_staff_routes(app)
    assert sorted(routes - SCENARIOS.keys()) == [], "state-changing routes without a scenario in SCENARIOS"
    assert sorted(SCENARIOS.keys() - routes) == [], "SCENARIOS entries for routes that no longer exist"


@pytest.mark.parametrize("key", list(SCENARIOS), ids=[rule for _method, rule in SCENARIOS])
def test_a_successful_state_changing_request_leaves_an_audit_row(
    key: tuple[str, str], app: Flask, org: Org, login_as: Any
) -> None:
    method, rule = key
    scenario = SCENARIOS[key]
    ctx = Ctx(app, org)
    step = scenario.build(ctx)
    matched, _args = app.url_map.bind("portal.test").match(step.url, method=method, return_rule=True)
    assert matched.rule == rule, f"the scenario for {rule} sends {step.url}, which is {matched.rule}"
    client = login_as(scenario.persona) if scenario.persona else app.test_client()
    mark = last_audit_id()

    response = post(client, step.url, step.data, step.prefix)

    assert response.status_code in (200, 204, 302, 303), (
        response.status_code,
        response.get_data(as_text=True),
    )
    rows = audit_rows_after(mark)
    step.check(client)  # the change itself happened: a scenario that did nothing fails here
    actor = scenario.actor or scenario.persona
    expected = (
        scenario.action or matched.endpoint,
        "ok",
        org.users[actor].id if actor else None,
        step.target,
    )
    assert rows, f"{method} {rule} changed something and left no audit row"
    assert [(r.action, r.outcome, r.actor_id, r.target) for r in rows] == [expected] * len(rows)
    assert len({r.request_id for r in rows}) == 1, "one request, one request id"
    assert all(r.request_id and r.ip for r in rows)
    assert audit_service.verify(db.session)[1] is None  # and the rows joined the chain


# --- refusals and invalid input leave no "ok" row ----------------------------------------------


def ok_rows(mark: int, action: str) -> list[AuditLog]:
    return [r for r in audit_rows_after(mark) if r.action == action and r.outcome == "ok"]


def test_a_request_that_fails_validation_leaves_no_ok_row(app: Flask, org: Org, login_as: Any) -> None:
    ctx = Ctx(app, org)
    ticket = claimed(ctx)
    owner, admin = login_as("resp_a1"), login_as("admin")
    mark = last_audit_id()

    no_reason = post(owner, f"/staff/tickets/{ticket.id}/escalate", versioned(ticket, reason="   "))
    bad_settings = post(admin, "/admin/settings", {"holiday_country": "CN", "spot_check_percent": "0"})

    assert (no_reason.status_code, bad_settings.status_code) == (422, 422)
    assert fresh(Ticket, ticket.id).tier == 1
    assert db.session.scalars(select(Setting)).first() is None
    assert audit_rows_after(mark) == []  # nothing changed, so nothing is claimed to have changed
    assert ok_rows(mark, "staff.escalate") == ok_rows(mark, "admin.save_settings") == []


def test_a_refused_request_leaves_its_denial_and_no_ok_row(app: Flask, org: Org, login_as: Any) -> None:
    """resp_a2 may see resp_a1's ticket but not transfer it (403), and closing a new ticket is an
    illegal transition (409): the refusal is audited as one, never as a decision taken."""
    ctx = Ctx(app, org)
    owned, unanswered = claimed(ctx), new_ticket(ctx)
    colleague, lead = login_as("resp_a2"), login_as("lead_a")
    mark = last_audit_id()

    transfer_data = versioned(owned, department=str(org.departments["B"].id), note="Over to you.")
    refused = post(colleague, f"/staff/tickets/{owned.id}/transfer", transfer_data)
    illegal = post(lead, f"/staff/tickets/{unanswered.id}/close", versioned(unanswered))

    assert (refused.status_code, illegal.status_code) == (403, 409)
    assert fresh(Ticket, owned.id).department_id == org.departments["A"].id
    assert fresh(Ticket, unanswered.id).status == "new"
    rows = audit_rows_after(mark)
    assert [(r.action, r.outcome, r.actor_id) for r in rows] == [
        ("action_denied", "denied", org.users["resp_a2"].id)
    ]
    assert (rows[0].target or "").startswith(f"ticket:{owned.id}:")
    assert ok_rows(mark, "staff.transfer") == ok_rows(mark, "staff.close") == []

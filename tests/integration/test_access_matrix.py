"""Every route × every persona, held to an access policy written down here (security.md F1).

`POLICY` is the policy table: one entry per (method, URL rule). A route added to the app without
an entry — or an entry left behind for a route that is gone — fails
`test_every_route_has_exactly_one_policy_entry`, so no endpoint ships unreviewed ("sibling-path
drift", security.md §5). The matrix then calls each route as each persona, for ticket routes with
a ticket of department A, one of department B and one about `staff_s` (R10), and checks:

- staff pages 200, tickets they may not see 404 *and* an `access_denied` audit row (F2, G1);
- anonymous GET /staff/* → the sign-in page, anonymous POST → 401 (F10);
- admin on /staff/* and staff on /admin/* → 403 with an audit row (R20, domain.md "Administrators");
- POST actions on a ticket the user cannot see → 404 and the ticket unchanged (F4);
- GET on POST-only URLs → 405 (E2); absurd ids → 404, never 500 (A12).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    Attachment,
    AuditLog,
    Callback,
    ClosureDay,
    ImprovementAction,
    Notification,
    ResolutionProposal,
    RootCause,
    ServiceTarget,
    SpotCheck,
    SpotCheckItem,
    Ticket,
    TicketEvent,
    User,
)
from portal.services import resolutions
from portal.services.attachments import IncomingFile, check_file, write_files
from tests.conftest import post_form
from tests.factories import T0, Org, make_ticket, rules_for_tests

# --- test harness ----------------------------------------------------------------------------


# --- the policy table --------------------------------------------------------------------------

Redirect = tuple[int, str]
Outcome = int | Redirect
PerTicket = dict[str, Outcome]
Policy = dict[str, Outcome | PerTicket]

LOGIN: Redirect = (302, "/auth/login")
SIGNED_OUT: Redirect = (303, "/auth/login")
STAFF_HOME: Redirect = (302, "/staff/queue")
ADMIN_HOME: Redirect = (302, "/admin/users")
ADMIN_SETTINGS: Redirect = (303, "/admin/settings")

STAFF = ("resp_a1", "resp_b1", "lead_a", "mgr_1", "staff_s")
PERSONAS = ("anonymous", *STAFF, "admin")
# A: a ticket of department A; B: of department B; S: of department A, about staff_s (R10).
TICKETS = ("A", "B", "S")

# R20: responders and leads see their department; managers see all; R10: never a ticket about you.
SEES: dict[str, set[str]] = {
    "resp_a1": {"A", "S"},
    "resp_b1": {"B"},
    "lead_a": {"A", "S"},
    "mgr_1": {"A", "B", "S"},
    "staff_s": {"A"},
}
# Who steers (recategorise, reprioritise, transfer, reopen, close) an unowned ticket: the lead of
# its department and managers. Responders only steer tickets they own.
STEERS: dict[str, set[str]] = {"lead_a": {"A", "S"}, "mgr_1": {"A", "B", "S"}}


def everyone(outcome: Outcome) -> Policy:
    return dict.fromkeys(PERSONAS, outcome)


def signed_in(anonymous: Outcome, staff: Outcome, admin: Outcome) -> Policy:
    return {"anonymous": anonymous, "admin": admin, **dict.fromkeys(STAFF, staff)}


def staff_area(method: str, outcome: Outcome) -> Policy:
    """/staff/*: anonymous GET goes to sign-in, other methods 401 (F10); admins 403 (R20)."""
    return signed_in(LOGIN if method == "GET" else 401, outcome, 403)


def admin_area(method: str, outcome: Outcome) -> Policy:
    return signed_in(LOGIN if method == "GET" else 401, 403, outcome)


def ticket_area(method: str, visible: Outcome, steer: Outcome | None = None) -> Policy:
    """A ticket route: `visible` where the persona may see the ticket, `steer` where they also
    direct it, and 404 (never 403: existence must not leak) where they may not see it."""
    policy: Policy = {"anonymous": LOGIN if method == "GET" else 401, "admin": 403}
    for persona in STAFF:
        policy[persona] = {
            ticket: (steer if steer is not None and ticket in STEERS.get(persona, set()) else visible)
            if ticket in SEES[persona]
            else 404
            for ticket in TICKETS
        }
    return policy


T = "/staff/tickets/<int:ticket_id>"
LEADS_AND_MANAGERS: Policy = signed_in(LOGIN, 403, 403) | {"lead_a": 200, "mgr_1": 200}
# Routes about one object of a ticket: called once per ticket kind, like the ticket routes.
OBJECT_PARAMS = ("<int:ticket_id>", "<int:callback_id>", "<int:proposal_id>")

CALLBACK_POLICY: Policy = {
    "anonymous": 401,
    "admin": 403,
    "resp_a1": {"A": 422, "B": 404, "S": 422},
    "resp_b1": {"A": 404, "B": 422, "S": 404},
    "lead_a": {"A": 422, "B": 404, "S": 422},
    "mgr_1": {"A": 422, "B": 422, "S": 422},
    "staff_s": {"A": 403, "B": 404, "S": 404},  # sees A, but its callback is resp_a1's
}

POLICY: dict[tuple[str, str], Policy] = {
    # The customer's side: the same for everybody; no case opens without its tracking link (I7).
    ("GET", "/"): everyone(200),
    ("GET", "/healthz/live"): everyone(200),
    ("GET", "/healthz/ready"): everyone(200),
    ("GET", "/complaints/new"): everyone(200),
    ("POST", "/complaints/new"): everyone(422),  # an empty form comes back with its errors
    ("GET", "/feedback/new"): everyone(200),
    ("POST", "/feedback/new"): everyone(422),
    ("GET", "/filed/<reference>"): everyone(404),
    ("GET", "/track/<token>"): everyone(404),
    ("GET", "/case/<reference>"): everyone(404),
    ("GET", "/case/<reference>/attachments/<int:attachment_id>"): everyone(404),
    ("POST", "/case/<reference>/messages"): everyone(404),
    ("POST", "/case/<reference>/answer"): everyone(404),
    # Signing in and out.
    ("GET", "/auth/login"): signed_in(200, STAFF_HOME, ADMIN_HOME),
    ("POST", "/auth/login"): signed_in(422, STAFF_HOME, ADMIN_HOME),
    ("GET", "/auth/password"): signed_in(LOGIN, 200, 200),
    ("POST", "/auth/password"): signed_in(LOGIN, 422, 422),
    ("POST", "/auth/logout"): everyone(SIGNED_OUT),
    # Two-step sign-in (ASVS 4.3.1): one's own set-up, posted empty (422); the code step of a sign-in
    # is for a session that gave the right password, so nobody here has one to finish.
    ("GET", "/auth/two-factor"): signed_in(LOGIN, 200, 200),
    ("POST", "/auth/two-factor/start"): signed_in(LOGIN, 422, 422),
    ("POST", "/auth/two-factor/confirm"): signed_in(LOGIN, 422, 422),
    ("POST", "/auth/two-factor/disable"): signed_in(LOGIN, 422, 422),
    ("GET", "/auth/two-factor/verify"): signed_in(LOGIN, STAFF_HOME, ADMIN_HOME),
    ("POST", "/auth/two-factor/verify"): signed_in(SIGNED_OUT, STAFF_HOME, ADMIN_HOME),
    # The staff workspace.
    ("GET", "/staff/"): staff_area("GET", STAFF_HOME),
    ("GET", "/staff/queue"): staff_area("GET", 200),
    ("GET", "/staff/complaints/new"): staff_area("GET", 200),
    ("POST", "/staff/complaints/new"): staff_area("POST", 422),
    ("GET", "/staff/complaints/<int:ticket_id>/registered"): ticket_area("GET", 200),
    ("GET", T): ticket_area("GET", 200),
    ("GET", T + "/attachments/<int:attachment_id>"): ticket_area("GET", 200),
    # Actions, each on a fresh unowned NEW ticket.
    ("POST", T + "/claim"): ticket_area("POST", 303),
    ("POST", T + "/acknowledge"): ticket_area("POST", 303),
    ("POST", T + "/reply"): ticket_area("POST", 303),
    ("POST", T + "/notes"): ticket_area("POST", 303),
    ("POST", T + "/resolve"): ticket_area("POST", 303),  # R4: whoever can answer it resolves it
    ("POST", T + "/category"): ticket_area("POST", 403, steer=303),
    ("POST", T + "/priority"): ticket_area("POST", 403, steer=303),
    ("POST", T + "/transfer"): ticket_area("POST", 403, steer=303),
    ("POST", T + "/reopen"): ticket_area("POST", 403, steer=409),  # a NEW ticket cannot reopen
    ("POST", T + "/close"): ticket_area("POST", 403, steer=409),  # nor close
    ("POST", T + "/resume"): ticket_area("POST", 403, steer=409),  # nor resume a clock never paused
    # The ladder and the clocks (R6–R10, R23), posted empty: whoever may see the ticket gets the
    # form back with its errors (422); who may then act is the feature tests' business.
    ("POST", T + "/escalate"): ticket_area("POST", 422),
    ("POST", T + "/send-back"): ticket_area("POST", 422),
    ("POST", T + "/serious"): ticket_area("POST", 422),
    ("POST", T + "/noncooperation"): ticket_area("POST", 422),
    ("POST", T + "/concerns"): ticket_area("POST", 422),
    ("POST", T + "/extend"): ticket_area("POST", 422),
    ("POST", T + "/pause"): ticket_area("POST", 422),
    ("POST", T + "/customer-tier"): ticket_area("POST", 422),
    # Callbacks (R17), posted empty. The callbacks on A and S are resp_a1's, the one on B resp_b1's;
    # leads and managers may record anyone's, a responder only their own.
    ("GET", "/staff/callbacks"): staff_area("GET", 200),
    ("POST", "/staff/callbacks/<int:callback_id>"): CALLBACK_POLICY,
    ("POST", "/staff/callbacks/<int:callback_id>/reschedule"): CALLBACK_POLICY,
    # Leads' and managers' screens; only managers decide on proposals (R12). Each approval is of a
    # fresh proposal by mgr_2 (four-eyes: mgr_1 is not the proposer); a rejection is posted empty.
    ("GET", "/manage/"): signed_in(LOGIN, 403, 403) | {"lead_a": 200, "mgr_1": 200},
    ("GET", "/manage/approvals"): signed_in(LOGIN, 403, 403) | {"mgr_1": 200},
    # The audit trail (R20): managers only.
    ("GET", "/manage/audit"): signed_in(LOGIN, 403, 403) | {"mgr_1": 200},
    ("GET", "/manage/audit.csv"): signed_in(LOGIN, 403, 403) | {"mgr_1": 200},
    ("POST", "/manage/proposals/<int:proposal_id>/approve"): signed_in(401, 403, 403)
    | {"mgr_1": dict.fromkeys(TICKETS, 303)},
    ("POST", "/manage/proposals/<int:proposal_id>/reject"): signed_in(401, 403, 403)
    | {"mgr_1": dict.fromkeys(TICKETS, 422)},
    # The dashboard and its CSV exports (R21, R22): leads (their department) and managers.
    ("GET", "/manage/dashboard"): LEADS_AND_MANAGERS,
    ("GET", "/manage/dashboard/<table>.csv"): LEADS_AND_MANAGERS,
    # Spot checks (R18): managers draw and assign; the assigned reviewer (mgr_1 here) records.
    # lead_a has no re-check in the run's spot check, so its page is not found for them.
    ("GET", "/manage/spot-checks"): LEADS_AND_MANAGERS,
    ("POST", "/manage/spot-checks"): signed_in(401, 403, 403) | {"lead_a": 403, "mgr_1": 422},
    ("GET", "/manage/spot-checks/<int:spot_check_id>"): signed_in(LOGIN, 403, 403)
    | {"lead_a": 404, "mgr_1": 200},
    ("POST", "/manage/spot-checks/items/<int:item_id>/reviewer"): signed_in(401, 403, 403)
    | {"lead_a": 403, "mgr_1": 422},
    ("POST", "/manage/spot-checks/items/<int:item_id>/review"): signed_in(401, 403, 403)
    | {"lead_a": 403, "mgr_1": 422},
    # Improvement actions (R21); the run's action belongs to department A. Posted empty.
    ("GET", "/manage/improvements"): LEADS_AND_MANAGERS,
    ("GET", "/manage/improvements/new"): LEADS_AND_MANAGERS,
    ("POST", "/manage/improvements/new"): signed_in(401, 403, 403) | {"lead_a": 422, "mgr_1": 422},
    ("GET", "/manage/improvements/<int:action_id>"): LEADS_AND_MANAGERS,
    ("POST", "/manage/improvements/<int:action_id>"): signed_in(401, 403, 403)
    | {"lead_a": 422, "mgr_1": 422},
    ("POST", "/manage/improvements/<int:action_id>/tickets"): signed_in(401, 403, 403)
    | {"lead_a": 422, "mgr_1": 422},
    ("POST", "/manage/improvements/<int:action_id>/review"): signed_in(401, 403, 403)
    | {"lead_a": 422, "mgr_1": 422},
    # Unlinking names a ticket: one the lead may not see is not found (F2).
    ("POST", "/manage/improvements/<int:action_id>/tickets/<int:ticket_id>/unlink"): signed_in(401, 403, 403)
    | {"lead_a": {"A": 303, "B": 404, "S": 303}, "mgr_1": dict.fromkeys(TICKETS, 303)},
    # Administration: configuration only, for administrators only.
    ("GET", "/admin/"): admin_area("GET", ADMIN_HOME),
    ("GET", "/admin/users"): admin_area("GET", 200),
    ("GET", "/admin/users/new"): admin_area("GET", 200),
    ("POST", "/admin/users/new"): admin_area("POST", 422),
    ("GET", "/admin/users/<int:user_id>"): admin_area("GET", 200),
    ("POST", "/admin/users/<int:user_id>"): admin_area("POST", 422),
    # resp_a1 has no two-step sign-in: the confirmation page says so, a reset has nothing to do.
    ("GET", "/admin/users/<int:user_id>/two-factor/reset"): admin_area("GET", 200),
    ("POST", "/admin/users/<int:user_id>/two-factor/reset"): admin_area("POST", 422),
    ("GET", "/admin/departments"): admin_area("GET", 200),
    ("GET", "/admin/departments/new"): admin_area("GET", 200),
    ("POST", "/admin/departments/new"): admin_area("POST", 422),
    ("GET", "/admin/departments/<int:department_id>"): admin_area("GET", 200),
    ("POST", "/admin/departments/<int:department_id>"): admin_area("POST", 422),
    ("GET", "/admin/categories"): admin_area("GET", 200),
    ("GET", "/admin/categories/new"): admin_area("GET", 200),
    ("POST", "/admin/categories/new"): admin_area("POST", 422),
    ("GET", "/admin/categories/<int:category_id>"): admin_area("GET", 200),
    ("POST", "/admin/categories/<int:category_id>"): admin_area("POST", 422),
    ("GET", "/admin/root-causes"): admin_area("GET", 200),
    ("GET", "/admin/root-causes/new"): admin_area("GET", 200),
    ("POST", "/admin/root-causes/new"): admin_area("POST", 422),
    ("GET", "/admin/root-causes/<int:root_cause_id>"): admin_area("GET", 200),
    ("POST", "/admin/root-causes/<int:root_cause_id>"): admin_area("POST", 422),
    ("GET", "/admin/settings"): admin_area("GET", 200),
    ("POST", "/admin/settings"): admin_area("POST", 422),
    ("POST", "/admin/settings/targets"): admin_area("POST", 422),
    ("POST", "/admin/settings/closures"): admin_area("POST", 422),
    # Each persona's run has one target and one closure day to delete; only the admin may.
    ("POST", "/admin/settings/targets/<int:target_id>/delete"): admin_area("POST", ADMIN_SETTINGS),
    ("POST", "/admin/settings/closures/<int:closure_id>/delete"): admin_area("POST", ADMIN_SETTINGS),
    # Notifications (R13): a customer may ask for their link again; staff read their own notices;
    # administrators see the outbox and retry a failed message (the run has one failed message).
    ("GET", "/lost-link"): everyone(200),
    ("POST", "/lost-link"): everyone(422),  # an empty form comes back with its errors
    ("GET", "/staff/notifications"): staff_area("GET", 200),
    ("GET", "/staff/notifications/count"): staff_area("GET", 200),
    ("POST", "/staff/notifications/<int:notification_id>/read"): staff_area("POST", 303),
    ("POST", "/staff/notifications/read-all"): staff_area("POST", 303),
    ("GET", "/admin/outbox"): admin_area("GET", 200),
    ("POST", "/admin/outbox/<int:notification_id>/retry"): admin_area("POST", 303),
}


def app_routes(app: Flask) -> set[tuple[str, str]]:
    """Every (method, rule) the app answers, except static files, HEAD and OPTIONS."""
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


# --- helpers -----------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def fill(rule: str, values: dict[str, Any], default: Any = None) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(values[name] if default is None or name in values else default)

    return PLACEHOLDER.sub(value, rule)


def add_attachment(ticket: Ticket, upload_dir: str) -> Attachment:
    """Store a real text file on the ticket, through the real attachment store."""
    checked = check_file(IncomingFile("receipt.txt", b"Receipt no. 123\n"), 1024)
    [stored_name] = write_files([checked], upload_dir)
    attachment = Attachment(
        ticket_id=ticket.id,
        original_name=checked.original_name,
        stored_name=stored_name,
        content_type=checked.content_type,
        size_bytes=len(checked.data),
        sha256=checked.sha256,
        uploaded_by="customer",
    )
    db.session.add(attachment)
    db.session.commit()
    return attachment


def add_callback(ticket: Ticket, owner: User) -> Callback:
    callback = Callback(ticket_id=ticket.id, owner_id=owner.id, created_at=T0, due_at=T0 + timedelta(days=1))
    db.session.add(callback)
    db.session.commit()
    return callback


def add_proposal(ticket: Ticket, org: Org, upload_dir: str) -> ResolutionProposal:
    """A pending proposal by mgr_2 (an action concerning staff always needs a manager, R12)."""
    proposal = resolutions.resolve_or_propose(
        db.session,
        org.users["mgr_2"],
        ticket,
        resolutions.ProposalInput(
            summary="A formal warning for the staff member.",
            customer_reply="We have spoken to the staff member.",
            outcome="staff_action",
        ),
        now=T0 + timedelta(hours=1),
        rules=rules_for_tests(upload_dir),
    )
    assert proposal.status == "pending"
    return proposal


def ticket_of_kind(org: Org, upload_dir: str, kind: str) -> Ticket:
    """A: department A; B: department B; S: department A, about staff_s (R10)."""
    ticket = make_ticket(db.session, org, upload_dir, department="B" if kind == "B" else "A")
    if kind == "S":
        ticket.concerns_user_id = org.users["staff_s"].id
        db.session.commit()
    return ticket


def snapshot(ticket_id: int) -> tuple[Any, ...]:
    """Everything an action could change, read fresh from the database."""
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket_id)
    assert ticket is not None
    events = db.session.scalar(select(func.count(TicketEvent.id)).where(TicketEvent.ticket_id == ticket_id))
    return (
        ticket.status,
        ticket.owner_id,
        ticket.priority,
        ticket.category_id,
        ticket.department_id,
        ticket.concerns_user_id,
        ticket.version,
        ticket.resolution_summary,
        ticket.acknowledged_at,
        events,
    )


def last_audit_id() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.coalesce(func.max(AuditLog.id), 0)))


def audit_rows_after(audit_id: int) -> list[AuditLog]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditLog).where(AuditLog.id > audit_id).order_by(AuditLog.id)))


def action_data(rule: str, ticket: Ticket | None, org: Org) -> dict[str, str]:
    """Valid form data for the core ticket actions, aimed at the *other* department or category;
    every other route is posted with its CSRF token only."""
    if rule.startswith("/admin/"):
        return {"name": ""}  # a blank name: the form comes back with its errors, nothing saved
    if ticket is None or not rule.startswith(T):
        return {}
    other = "B" if ticket.department_id == org.departments["A"].id else "A"
    version = str(ticket.version)
    valid = {
        T + "/reply": {"body": "Thank you, we are looking into it."},
        T + "/notes": {"body": "Internal: check the batch number."},
        T + "/resolve": {"summary": "We replaced the kettle.", "outcome": "explanation", "version": version},
        T + "/category": {"category": str(org.categories[other].id), "version": version},
        T + "/priority": {"priority": "high", "version": version},
        T + "/transfer": {
            "department": str(org.departments[other].id),
            "note": "Please check.",
            "version": version,
        },
        T + "/reopen": {"reason": "The customer is not satisfied.", "version": version},
        T + "/close": {"version": version},
    }
    return valid.get(rule, {})


def outcome_problem(response: Any, expected: Outcome) -> str | None:
    if isinstance(expected, tuple):
        status, path = expected
        location = response.headers.get("Location", "")
        if response.status_code != status or urlsplit(location).path != path:
            return f"expected {status} → {path}, got {response.status_code} → {location!r}"
        return None
    if response.status_code != expected:
        return f"expected {expected}, got {response.status_code}"
    return None


def expected_denial(persona: str, rule: str, status: int) -> str | None:
    """Which audit action a refusal must leave behind (security.md: "404-deny", ASVS 7.2.2)."""
    if persona == "anonymous" or status not in (403, 404):
        return None
    if not rule.startswith(("/staff", "/admin", "/manage")):
        return None
    object_action = rule.startswith(("/staff/tickets/", "/staff/callbacks/")) or (
        rule.startswith("/manage/spot-checks/items/") and persona in ("lead_a", "mgr_1")  # past the guard
    )
    if status == 403 and persona in STAFF and object_action:
        return "action_denied"  # a ticket they see, an action they may not take
    return "access_denied"


# --- the tests ---------------------------------------------------------------------------------


def test_every_route_has_exactly_one_policy_entry(app: Flask) -> None:
    """F1 (ASVS 1.4.4): a new route without a policy entry — or a stale entry — fails here."""
    routes = app_routes(app)
    assert sorted(routes - POLICY.keys()) == [], "routes without an entry in POLICY"
    assert sorted(POLICY.keys() - routes) == [], "POLICY entries for routes that no longer exist"
    for key, policy in POLICY.items():
        assert set(policy) == set(PERSONAS), key
        for outcome in policy.values():
            assert not isinstance(outcome, dict) or any(p in key[1] for p in OBJECT_PARAMS), key


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_route_answers_each_persona_as_the_policy_table_says(
    persona: str, app: Flask, org: Org, login_as: Any
) -> None:
    """F1, F2, F4, F10, G1 (ASVS 4.1.3, 4.2.1): every rule × this persona × tickets A, B and C-S."""
    upload_dir = app.config["UPLOAD_FOLDER"]
    routes = app_routes(app)
    unknown = sorted(routes - POLICY.keys())
    standing = {kind: ticket_of_kind(org, upload_dir, kind) for kind in TICKETS}
    attachments = {kind: add_attachment(ticket, upload_dir) for kind, ticket in standing.items()}
    callback_owner = {"A": "resp_a1", "B": "resp_b1", "S": "resp_a1"}
    callbacks = {kind: add_callback(standing[kind], org.users[callback_owner[kind]]) for kind in TICKETS}
    target = ServiceTarget(
        category_id=None, customer_tier="vip", acknowledge_hours=4, resolve_working_days=1, max_working_days=2
    )
    closure = ClosureDay(day=date(2026, 12, 24), reason="Staff outing")
    failed_mail = Notification(
        created_at=T0,
        event="filed",
        channel="email",
        ticket_id=standing["A"].id,
        to_address="wang@example.org",
        status="failed",
        attempts=1,
        next_attempt_at=T0,
    )
    cause = RootCause(name="Manufacturing defect")
    action = ImprovementAction(
        title="Check the kettle batch",
        department_id=org.departments["A"].id,
        owner_id=org.users["resp_a1"].id,
        due_on=date(2026, 12, 31),
        created_by_id=org.users["lead_a"].id,
        created_at=T0,
    )
    check = SpotCheck(
        quarter="2026-Q4",
        period_start=T0,
        period_end=T0 + timedelta(days=30),
        percent=20,
        seed="matrix",
        population_size=1,
        population_digest="0" * 64,
        drawn_by_id=org.users["mgr_1"].id,
        drawn_at=T0,
    )
    db.session.add_all([target, closure, failed_mail, cause, action, check])
    db.session.flush()
    item = SpotCheckItem(
        spot_check_id=check.id, ticket_id=standing["A"].id, reviewer_id=org.users["mgr_1"].id
    )
    db.session.add(item)
    db.session.commit()
    client = app.test_client() if persona == "anonymous" else login_as(persona)
    actor_id = None if persona == "anonymous" else org.users[persona].id
    base_values: dict[str, Any] = {
        "target_id": target.id,
        "notification_id": failed_mail.id,
        "closure_id": closure.id,
        "reference": standing["A"].reference,
        "token": "not-a-real-tracking-token",
        "attachment_id": attachments["A"].id,
        "user_id": org.users["resp_a1"].id,
        "department_id": org.departments["A"].id,
        "category_id": org.categories["A"].id,
        "table": "summary",
        "spot_check_id": check.id,
        "item_id": item.id,
        "action_id": action.id,
        "root_cause_id": cause.id,
    }
    problems: list[str] = [f"route without a policy entry: {key}" for key in unknown]
    # Signing out ends the session, so it goes last.
    keys = sorted(routes & POLICY.keys(), key=lambda key: (key[1] == "/auth/logout", key[1], key[0]))
    for method, rule in keys:
        policy = POLICY[(method, rule)][persona]
        per_object = any(p in rule for p in OBJECT_PARAMS)
        for kind in TICKETS if per_object else (None,):
            values = dict(base_values)
            expected = policy[kind] if isinstance(policy, dict) and kind is not None else policy
            assert not isinstance(expected, dict), (persona, rule)
            ticket: Ticket | None = None
            if kind is not None:
                # Actions change things, so each gets a fresh ticket; reads use the standing three.
                ticket = ticket_of_kind(org, upload_dir, kind) if method == "POST" else standing[kind]
                values["ticket_id"] = ticket.id
                values["attachment_id"] = attachments[kind].id
                if "<int:callback_id>" in rule:
                    ticket = standing[kind]
                    values["callback_id"] = callbacks[kind].id
                if "<int:proposal_id>" in rule:
                    values["proposal_id"] = add_proposal(ticket, org, upload_dir).id
            url = fill(rule, values)
            where = f"{persona} {method} {url} (ticket {kind})"
            before = snapshot(ticket.id) if ticket is not None else None
            audit_mark = last_audit_id()
            if method == "GET":
                response = client.get(url)
            else:
                data = action_data(rule, ticket, org)
                response = post_form(client, url, data)
            response.close()  # a download holds its file open until closed
            problem = outcome_problem(response, expected)
            if problem:
                problems.append(f"{where}: {problem}")
                continue
            status = response.status_code
            denial = expected_denial(persona, rule, status)
            if denial is not None:
                rows = audit_rows_after(audit_mark)
                if not any(r.action == denial and r.actor_id == actor_id for r in rows):
                    problems.append(f"{where}: no {denial!r} audit row, got {[r.action for r in rows]}")
                named = ticket is None or any(r.target == f"ticket:{ticket.id}" for r in rows)
                if status == 404 and not named:
                    problems.append(f"{where}: the audit row does not name ticket:{ticket.id}")
            if ticket is not None and status >= 400 and snapshot(ticket.id) != before:
                problems.append(f"{where}: refused with {status} but the ticket changed")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("persona", ["anonymous", "mgr_1"])
def test_get_and_head_on_post_only_urls_answer_405_and_change_nothing(
    persona: str, app: Flask, org: Org, login_as: Any
) -> None:
    """E2: no state change by GET — every POST-only route refuses GET and HEAD, even signed out."""
    ticket = make_ticket(db.session, org, app.config["UPLOAD_FOLDER"])
    client = app.test_client() if persona == "anonymous" else login_as(persona)
    routes = app_routes(app)
    post_only = sorted(rule for method, rule in routes if method == "POST" and ("GET", rule) not in routes)
    assert "/auth/logout" in post_only and T + "/close" in post_only
    before = snapshot(ticket.id)
    values = {"ticket_id": ticket.id, "reference": ticket.reference}
    problems = []
    for rule in post_only:
        url = fill(rule, values, default=1)
        for method in ("GET", "HEAD"):
            response = client.open(url, method=method)
            if response.status_code != 405:
                problems.append(f"{method} {url}: {response.status_code}")
    assert not problems, "\n".join(problems)
    assert snapshot(ticket.id) == before
    if persona != "anonymous":  # GET /auth/logout did not sign anybody out
        assert client.get("/staff/queue").status_code == 200


ABSURD_IDS = [
    ("mgr_1", "GET", "/staff/tickets/99999999999999999999"),
    ("mgr_1", "GET", "/staff/tickets/9223372036854775808"),
    ("mgr_1", "GET", "/staff/tickets/2147483648"),
    ("mgr_1", "GET", "/staff/tickets/-1"),
    ("mgr_1", "GET", "/staff/tickets/abc"),
    ("mgr_1", "GET", "/staff/tickets/1%00"),
    ("mgr_1", "GET", "/staff/tickets/0"),
    ("mgr_1", "POST", "/staff/tickets/99999999999999999999/claim"),
    ("mgr_1", "POST", "/staff/tickets/99999999999999999999/notes"),
    ("mgr_1", "GET", "/staff/complaints/99999999999999999999/registered"),
    ("mgr_1", "GET", "/staff/tickets/{ticket}/attachments/99999999999999999999"),
    ("mgr_1", "POST", "/staff/callbacks/99999999999999999999"),
    ("mgr_1", "POST", "/manage/proposals/99999999999999999999/approve"),
    ("admin", "GET", "/admin/users/99999999999999999999"),
    ("admin", "GET", "/admin/departments/99999999999999999999"),
    ("admin", "GET", "/admin/categories/99999999999999999999"),
    ("admin", "POST", "/admin/users/99999999999999999999"),
    ("anonymous", "GET", "/case/CP-2026-000001/attachments/99999999999999999999"),
]


@pytest.mark.parametrize(("persona", "method", "path"), ABSURD_IDS)
def test_absurd_ids_in_the_path_are_404_never_500(
    persona: str, method: str, path: str, app: Flask, org: Org, login_as: Any
) -> None:
    """A12 (ASVS 7.4.1): ids beyond any integer column, negative or not numbers at all → 404."""
    ticket = make_ticket(db.session, org, app.config["UPLOAD_FOLDER"])
    client = app.test_client() if persona == "anonymous" else login_as(persona)
    url = path.format(ticket=ticket.id)
    response = client.get(url) if method == "GET" else post_form(client, url, {"body": "x"})
    assert response.status_code == 404

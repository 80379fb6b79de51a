"""The escalation ladder and the service clocks through the staff screens (R6–R9, R23).

Every action goes through the real route with a CSRF token, as a browser sends it: escalating
and sending back (R9), marking serious, reporting an uncooperative department (R6), extending
the deadline once and only from above the owner (R7), pausing and resuming the clock, the VIP
tier's faster targets (R23) and promised update times (R8). Refusals are checked to change
nothing: 403 with an audit row for a user who may not, 404 for one who may not even see the
ticket, 409 for what the ladder does not allow, 422 for bad input.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.domain.calendar import working_deadline
from portal.extensions import db
from portal.models import (
    AuditLog,
    CooperationReport,
    Escalation,
    Promise,
    ServiceTarget,
    Ticket,
    utcnow,
)
from portal.services.settings import load_rules
from portal.services.sla_sweep import sweep
from portal.services.tracking import tracking_token
from tests.conftest import base_config, post_form
from tests.factories import Org, events, fresh, new_ticket, rules_for_tests

ORG_ZONE = "Asia/Shanghai"
PROMISE_FORMAT = "%Y-%m-%dT%H:%M"


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    """Promised times are typed in the organisation's zone; pin it so the test knows which."""
    config = base_config(database_url, tmp_path)
    config["ORG_TIMEZONE"] = ORG_ZONE
    return config


# --- helpers -----------------------------------------------------------------------------------


def act(client: FlaskClient, ticket_id: int, action: str, data: dict[str, str] | None = None) -> Any:
    return post_form(client, f"/staff/tickets/{ticket_id}/{action}", data or {})


def act_ok(client: FlaskClient, ticket_id: int, action: str, data: dict[str, str] | None = None) -> None:
    response = act(client, ticket_id, action, data)
    assert response.status_code == 303, (action, response.status_code)
    assert response.location.endswith(f"/staff/tickets/{ticket_id}")


def owned_ticket(app: Flask, org: Org, login_as: Any, owner: str = "resp_a1") -> tuple[Ticket, FlaskClient]:
    """A department-A complaint that `owner` claimed through the queue (R6), and their client."""
    ticket = new_ticket(app, org)
    client = login_as(owner)
    act_ok(client, ticket.id, "claim")
    claimed = fresh(ticket.id)
    assert claimed.owner_id == org.users[owner].id
    return claimed, client


def escalations(ticket_id: int) -> list[Escalation]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Escalation).where(Escalation.ticket_id == ticket_id).order_by(Escalation.id)
        )
    )


def promises(ticket_id: int) -> list[Promise]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(Promise).where(Promise.ticket_id == ticket_id).order_by(Promise.id))
    )


def denied(action: str, user_id: int, ticket_id: int) -> list[AuditLog]:
    db.session.expire_all()
    return [
        row
        for row in db.session.scalars(
            select(AuditLog).where(AuditLog.action == action, AuditLog.actor_id == user_id)
        )
        if (row.target or "").startswith(f"ticket:{ticket_id}")
    ]


def manage_page(client: FlaskClient) -> str:
    response = client.get("/manage/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def customer_browser(app: Flask, ticket: Ticket) -> tuple[FlaskClient, str]:
    """Open the case through the customer's private link (the factory signs it with its secret)."""
    browser = app.test_client()
    token = tracking_token(ticket, rules_for_tests(app.config["UPLOAD_FOLDER"]).link_secret)
    opened = browser.get(f"/track/{token}")
    assert opened.status_code == 303
    return browser, f"/case/{ticket.reference}"


def clock_fields(ticket_id: int) -> tuple[Any, ...]:
    ticket = fresh(ticket_id)
    return (ticket.resolve_due_at, ticket.extended_at, ticket.extended_by_id, ticket.version)


# --- up and down the ladder (R6, R9) -----------------------------------------------------------


def test_owner_escalates_to_the_lead_then_the_manager_stays_owner_and_cannot_go_past_the_top__r6_r9(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket, owner = owned_ticket(app, org, login_as)
    lead = login_as("lead_a")
    manager = login_as("mgr_1")
    assert ticket.reference not in manage_page(lead)

    act_ok(
        owner, ticket.id, "escalate", {"reason": "Needs a supplier decision.", "version": str(ticket.version)}
    )

    at_lead = fresh(ticket.id)
    assert at_lead.tier == 2
    assert at_lead.owner_id == org.users["resp_a1"].id  # R6: ownership does not move with the tier
    [first] = escalations(ticket.id)
    assert (first.from_tier, first.to_tier, first.cause, first.reason, first.actor_id, first.notified) == (
        1,
        2,
        "manual",
        "Needs a supplier decision.",
        org.users["resp_a1"].id,
        "Lead A",
    )
    assert ticket.reference in manage_page(lead)
    assert ticket.reference not in manage_page(manager)  # not yet the managers' matter

    act_ok(lead, ticket.id, "escalate", {"reason": "Only a manager can approve a recall."})

    at_top = fresh(ticket.id)
    assert at_top.tier == 3
    assert at_top.owner_id == org.users["resp_a1"].id
    second = escalations(ticket.id)[-1]
    assert (second.from_tier, second.to_tier, second.cause, second.actor_id, second.notified) == (
        2,
        3,
        "manual",
        org.users["lead_a"].id,
        "Mgr 1, Mgr 2",
    )
    assert ticket.reference in manage_page(manager)

    before = (fresh(ticket.id).version, len(escalations(ticket.id)), len(events(ticket.id)))
    refused = act(owner, ticket.id, "escalate", {"reason": "Higher still?"})
    assert refused.status_code == 409  # IllegalTransition: there is no tier above the managers
    assert fresh(ticket.id).tier == 3
    assert (fresh(ticket.id).version, len(escalations(ticket.id)), len(events(ticket.id))) == before


def test_escalating_without_a_reason_is_refused_with_422_and_nothing_changes__r9(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket, owner = owned_ticket(app, org, login_as)

    response = act(owner, ticket.id, "escalate", {"reason": "   "})

    assert response.status_code == 422
    assert fresh(ticket.id).tier == 1
    assert escalations(ticket.id) == []


def test_lead_sends_a_tier_2_case_back_but_a_responder_may_not_and_the_other_lead_cannot_see_it__r9(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket, owner = owned_ticket(app, org, login_as)
    act_ok(owner, ticket.id, "escalate", {"reason": "Needs the lead."})
    assert fresh(ticket.id).tier == 2

    by_responder = act(owner, ticket.id, "send-back", {"note": "Actually I can handle it."})
    assert by_responder.status_code == 403
    assert denied("action_denied", org.users["resp_a1"].id, ticket.id)
    by_other_lead = act(login_as("lead_b"), ticket.id, "send-back", {"note": "Not ours."})
    assert by_other_lead.status_code == 404  # department B's lead cannot see it at all (R20)
    assert denied("access_denied", org.users["lead_b"].id, ticket.id)
    assert fresh(ticket.id).tier == 2
    assert len(escalations(ticket.id)) == 1

    act_ok(login_as("lead_a"), ticket.id, "send-back", {"note": "Offer the standard replacement."})

    back = fresh(ticket.id)
    assert back.tier == 1
    assert back.owner_id == org.users["resp_a1"].id
    last = escalations(ticket.id)[-1]
    assert (last.from_tier, last.to_tier, last.cause, last.reason, last.actor_id, last.notified) == (
        2,
        1,
        "sent_back",
        "Offer the standard replacement.",
        org.users["lead_a"].id,
        "Resp A1",
    )
    assert events(ticket.id)[-1].kind == "sent_back"


def test_any_staff_who_can_see_it_marks_it_serious_and_the_managers_keep_it__r9(
    app: Flask, org: Org, login_as: Any
) -> None:
    """R6: nobody may sit on a serious problem, so a colleague who is not the owner may raise it."""
    ticket, _owner = owned_ticket(app, org, login_as)

    act_ok(login_as("resp_a2"), ticket.id, "serious", {"reason": "The customer was scalded."})

    serious = fresh(ticket.id)
    assert serious.serious is True
    assert serious.tier == 3
    assert serious.owner_id == org.users["resp_a1"].id
    [moved] = escalations(ticket.id)
    assert (moved.from_tier, moved.to_tier, moved.cause, moved.actor_id) == (
        1,
        3,
        "serious",
        org.users["resp_a2"].id,
    )
    assert [e.kind for e in events(ticket.id)][-2:] == ["marked_serious", "escalated"]
    manager = login_as("mgr_1")
    assert ticket.reference in manage_page(manager)

    refused = act(manager, ticket.id, "send-back", {"note": "The lead can take it."})

    assert refused.status_code == 409  # a serious complaint stays with the managers
    assert fresh(ticket.id).tier == 3
    assert len(escalations(ticket.id)) == 1


def test_owner_reports_an_uncooperative_department_the_managers_see_it_and_others_may_not_report__r6(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket, owner = owned_ticket(app, org, login_as)
    department_b = org.departments["B"]

    refused = act(
        login_as("resp_a2"), ticket.id, "noncooperation", {"department": str(department_b.id), "note": "x"}
    )
    assert refused.status_code == 403  # R6: reporting is the owner's
    assert denied("action_denied", org.users["resp_a2"].id, ticket.id)

    act_ok(
        owner,
        ticket.id,
        "noncooperation",
        {"department": str(department_b.id), "note": "No answer to three requests for the invoice."},
    )

    db.session.expire_all()
    [report] = db.session.scalars(select(CooperationReport)).all()
    assert (report.ticket_id, report.department_id, report.reported_by_id, report.note) == (
        ticket.id,
        department_b.id,
        org.users["resp_a1"].id,
        "No answer to three requests for the invoice.",
    )
    assert events(ticket.id)[-1].kind == "noncooperation_reported"
    overview = manage_page(login_as("mgr_1"))
    assert "No answer to three requests for the invoice." in overview
    assert ticket.reference in overview
    assert department_b.name in overview


# --- the resolution clock (R7) -----------------------------------------------------------------


def test_only_someone_above_the_owner_extends_the_deadline_once_and_to_at_most_seven_working_days__r7(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket, owner = owned_ticket(app, org, login_as)
    untouched = clock_fields(ticket.id)

    by_owner = act(owner, ticket.id, "extend", {"working_days": "7", "reason": "The lab is slow."})
    assert by_owner.status_code == 403  # R7: approved above the owner
    assert denied("action_denied", org.users["resp_a1"].id, ticket.id)
    lead = login_as("lead_a")
    beyond_max = act(lead, ticket.id, "extend", {"working_days": "8", "reason": "The lab is slow."})
    assert beyond_max.status_code == 422  # the form offers 4..7 only
    assert clock_fields(ticket.id) == untouched

    act_ok(lead, ticket.id, "extend", {"working_days": "7", "reason": "Waiting for the lab report."})

    extended = fresh(ticket.id)
    calendar = load_rules(db.session, app.config, utcnow()).calendar
    assert extended.resolve_due_at == working_deadline(extended.received_at, 7, calendar)
    assert extended.resolve_due_at > untouched[0]
    assert extended.due_at == extended.resolve_due_at  # acknowledged: the queue shows the new due
    assert extended.extended_at is not None
    assert extended.extended_by_id == org.users["lead_a"].id
    assert extended.extension_reason == "Waiting for the lab report."
    assert events(ticket.id)[-1].kind == "deadline_extended"

    once_extended = clock_fields(ticket.id)
    again = act(lead, ticket.id, "extend", {"working_days": "6", "reason": "Still waiting."})
    assert again.status_code == 422  # only once (ValueError in the service)
    assert clock_fields(ticket.id) == once_extended


def test_a_paused_clock_is_shown_to_the_customer_and_not_breached_by_the_sweep_until_resumed__r7(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket, owner = owned_ticket(app, org, login_as)
    due_before = ticket.resolve_due_at

    act_ok(owner, ticket.id, "pause", {"reason": "Waiting for photos of the kettle base."})

    paused = fresh(ticket.id)
    assert paused.paused_at is not None
    assert paused.pause_reason == "Waiting for photos of the kettle base."
    last = events(ticket.id)[-1]
    assert (last.kind, last.is_public, last.body) == ("clock_paused", True, paused.pause_reason)
    browser, case_url = customer_browser(app, ticket)
    assert "Waiting for photos of the kettle base." in browser.get(case_url).get_data(as_text=True)

    long_after = paused.resolve_due_at + timedelta(days=2)
    rules = load_rules(db.session, app.config, long_after)
    result = sweep(db.session, now=long_after, rules=rules)
    assert result.resolution_breached == 0
    still = fresh(ticket.id)
    assert (still.tier, still.resolve_breached_at) == (1, None)
    assert escalations(ticket.id) == []

    act_ok(owner, ticket.id, "resume")

    running = fresh(ticket.id)
    assert (running.paused_at, running.pause_reason) == (None, None)
    assert running.resolve_due_at >= due_before  # it keeps the working days it had left
    assert events(ticket.id)[-1].kind == "clock_resumed"
    late = running.resolve_due_at + timedelta(minutes=1)
    result = sweep(db.session, now=late, rules=load_rules(db.session, app.config, late))
    assert result.resolution_breached == 1  # the clock runs again, so it can run out
    assert fresh(ticket.id).tier == 2
    assert [e.cause for e in escalations(ticket.id)] == ["resolution_breached"]


def test_a_message_from_the_customer_restarts_a_paused_clock__r7_r13(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket, owner = owned_ticket(app, org, login_as)
    act_ok(owner, ticket.id, "pause", {"reason": "Waiting for the order number."})
    browser, case_url = customer_browser(app, ticket)

    sent = post_form(browser, f"{case_url}/messages", {"body": "The order number is 4471."}, page=case_url)

    assert sent.status_code == 303
    resumed = fresh(ticket.id)
    assert (resumed.paused_at, resumed.pause_reason) == (None, None)
    added = [(e.kind, e.actor_kind) for e in events(ticket.id)][-2:]
    assert added == [("customer_message", "customer"), ("clock_resumed", "system")]


# --- customer tiers (R23) ----------------------------------------------------------------------


def test_making_the_customer_vip_recomputes_both_clocks_from_the_faster_targets__r23(
    app: Flask, org: Org, login_as: Any
) -> None:
    db.session.add(
        ServiceTarget(
            category_id=None,
            customer_tier="vip",
            acknowledge_hours=4,
            resolve_working_days=1,
            max_working_days=3,
        )
    )
    db.session.commit()
    ticket = new_ticket(app, org)
    regular_ack = ticket.ack_due_at

    act_ok(login_as("lead_a"), ticket.id, "customer-tier", {"customer_tier": "vip"})

    vip = fresh(ticket.id)
    calendar = load_rules(db.session, app.config, utcnow()).calendar
    assert vip.customer_tier == "vip"
    assert vip.ack_due_at == vip.received_at + timedelta(hours=4)
    assert vip.ack_due_at < regular_ack
    assert vip.resolve_due_at == working_deadline(vip.received_at, 1, calendar)
    assert vip.resolve_due_at < working_deadline(vip.received_at, 3, calendar)
    assert vip.due_at == vip.ack_due_at  # still new: the acknowledgement clock is the one due
    last = events(ticket.id)[-1]
    assert (last.kind, last.old_value, last.new_value) == ("customer_tier_changed", "regular", "vip")


# --- promised update times (R8) ----------------------------------------------------------------


def test_a_reply_with_a_promised_time_records_it_and_the_next_public_reply_keeps_it__r8(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket, owner = owned_ticket(app, org, login_as)
    local = (utcnow() + timedelta(days=1)).astimezone(ZoneInfo(ORG_ZONE)).replace(second=0, microsecond=0)
    promised_at = datetime.strptime(local.strftime(PROMISE_FORMAT), PROMISE_FORMAT)
    expected = promised_at.replace(tzinfo=ZoneInfo(ORG_ZONE)).astimezone(UTC)

    act_ok(
        owner,
        ticket.id,
        "reply",
        {"body": "We are testing the kettle.", "promise_by": local.strftime(PROMISE_FORMAT)},
    )

    [promise] = promises(ticket.id)
    assert (promise.due_at, promise.made_by_id, promise.kept_at, promise.missed_at) == (
        expected,
        org.users["resp_a1"].id,
        None,
        None,
    )
    assert fresh(ticket.id).promise_due_at == expected
    promised = events(ticket.id)[-1]
    assert (promised.kind, promised.is_public, promised.new_value) == ("promised", True, expected.isoformat())

    act_ok(owner, ticket.id, "reply", {"body": "The lab results are in: a faulty thermostat."})

    [kept] = promises(ticket.id)
    assert kept.kept_at is not None
    assert kept.missed_at is None
    assert fresh(ticket.id).promise_due_at is None


def test_a_promised_time_in_the_past_is_refused_with_422_and_nothing_is_sent__r8(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket, owner = owned_ticket(app, org, login_as)
    past = (utcnow() - timedelta(hours=2)).astimezone(ZoneInfo(ORG_ZONE)).strftime(PROMISE_FORMAT)
    before = len(events(ticket.id))

    response = act(owner, ticket.id, "reply", {"body": "We will call you.", "promise_by": past})

    assert response.status_code == 422
    assert promises(ticket.id) == []
    assert len(events(ticket.id)) == before  # not even the reply went out
    assert fresh(ticket.id).promise_due_at is None

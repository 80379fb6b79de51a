"""After the decision (R15–R17; security.md H7, I9): the customer's answer and the owner's callback.

The customer answers once per resolution through their private link: "yes" closes the case, "no"
reopens it one tier up with a fresh clock (R16); a second answer, an answer to an undecided case or
to someone else's case changes nothing. The owner records the follow-up call (R17) or moves it.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.domain.errors import Conflict
from portal.extensions import db
from portal.models import AuditLog, Callback, Escalation, Ticket, TicketEvent, utcnow
from portal.services import aftercare
from portal.services.tracking import hash_token
from portal.web.context import rules as current_rules
from tests import factories
from tests.conftest import fresh_token
from tests.factories import Org, events, fresh

REPLY = "We replaced the lid seal and posted you a new one today."

# --- helpers -----------------------------------------------------------------------------------

new_ticket = partial(factories.new_ticket, filed_ago=timedelta(hours=2))  # filed two hours ago


def escalations(ticket_id: int) -> list[Escalation]:
    db.session.expire_all()
    return list(db.session.scalars(select(Escalation).where(Escalation.ticket_id == ticket_id)))


def snapshot(ticket_id: int) -> tuple[Any, ...]:
    """Everything an answer could change."""
    ticket = fresh(ticket_id)
    event_count = db.session.scalar(
        select(func.count()).select_from(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
    )
    return (
        ticket.status,
        ticket.tier,
        ticket.version,
        ticket.customer_satisfied,
        ticket.satisfaction,
        ticket.customer_answered_at,
        ticket.closed_at,
        ticket.resolve_due_at,
        event_count,
        len(escalations(ticket_id)),
    )


def staff_post(client: FlaskClient, url: str, data: dict[str, str], prefix: str | None = None) -> Any:
    token = fresh_token(client, "/staff/callbacks")  # any signed-in page carries the session's token
    payload = {"csrf_token": token, **data}
    if prefix:
        payload[f"{prefix}-csrf_token"] = token
    return client.post(url, data=payload)


def resolve(client: FlaskClient, ticket_id: int, reply: str = REPLY) -> None:
    response = staff_post(
        client,
        f"/staff/tickets/{ticket_id}/resolve",
        {"outcome": "explanation", "root_cause": "0", "summary": "Seal replaced.", "customer_reply": reply},
    )
    assert response.status_code == 303
    assert fresh(ticket_id).status == "resolved"


def open_case(app: Flask, ticket: Ticket, token: str = "known-token") -> FlaskClient:
    """The customer opens their case by the private link, in a browser of their own."""
    row = db.session.get(Ticket, ticket.id)
    assert row is not None
    row.tracking_token_hash = hash_token(token)
    db.session.commit()
    customer = app.test_client()
    response = customer.get(f"/track/{token}")
    assert response.status_code == 303 and response.location.endswith(f"/case/{row.reference}")
    return customer


def case_page(customer: FlaskClient, ticket: Ticket) -> str:
    response = customer.get(f"/case/{ticket.reference}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def answer(customer: FlaskClient, ticket: Ticket, data: dict[str, str]) -> Any:
    token = fresh_token(customer, "/complaints/new")  # the customer's session token
    return customer.post(f"/case/{ticket.reference}/answer", data={"csrf_token": token, **data})


def has_answer_form(html: str, ticket: Ticket) -> bool:
    return f'action="/case/{ticket.reference}/answer"' in html and 'name="resolved"' in html


def the_callback(ticket_id: int) -> Callback:
    db.session.expire_all()
    [callback] = db.session.scalars(select(Callback).where(Callback.ticket_id == ticket_id)).all()
    return callback


# --- the customer's answer (R15, R16) ----------------------------------------------------------


def test_the_answer_form_is_offered_once_per_resolution_and_again_after_the_next_one__r15_i9(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org, owner="resp_a1", status="in_progress")
    customer = open_case(app, ticket)
    assert not has_answer_form(case_page(customer, ticket), ticket)  # nothing to answer yet

    resp_a1 = login_as("resp_a1")
    resolve(resp_a1, ticket.id)
    assert has_answer_form(case_page(customer, ticket), ticket)

    assert answer(customer, ticket, {"resolved": "no"}).status_code == 303
    assert not has_answer_form(case_page(customer, ticket), ticket)

    resolve(resp_a1, ticket.id, reply="Second look: we are sending a new kettle.")
    assert has_answer_form(case_page(customer, ticket), ticket)

    assert answer(customer, ticket, {"resolved": "yes"}).status_code == 303
    assert not has_answer_form(case_page(customer, ticket), ticket)


def test_yes_closes_the_case_and_keeps_the_customers_satisfaction__r15(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org, owner="resp_a1", status="in_progress")
    resolve(login_as("resp_a1"), ticket.id)
    customer = open_case(app, ticket)

    response = answer(customer, ticket, {"resolved": "yes", "satisfaction": "4", "comment": "Quick, thanks."})

    assert response.status_code == 303
    assert response.location.endswith(f"/case/{ticket.reference}")
    closed = fresh(ticket.id)
    assert closed.status == "closed"
    assert closed.closed_at is not None and closed.customer_answered_at is not None
    assert (closed.customer_satisfied, closed.satisfaction, closed.customer_feedback) == (
        True,
        4,
        "Quick, thanks.",
    )
    assert closed.tier == 1 and escalations(ticket.id) == []
    [confirmed] = events(ticket.id, "customer_confirmed")
    assert confirmed.is_public and confirmed.actor_kind == "customer" and confirmed.body == "Quick, thanks."
    page = case_page(customer, ticket)
    assert "Customer confirmed it is resolved" in page
    assert not has_answer_form(page, ticket)


def test_no_reopens_the_case_one_tier_up_with_a_fresh_clock__r16(app: Flask, org: Org, login_as: Any) -> None:
    ticket = new_ticket(app, org, owner="resp_a1", status="in_progress")
    resp_a1 = login_as("resp_a1")
    resolve(resp_a1, ticket.id)
    before = fresh(ticket.id)
    old_due, resolved_at = before.resolve_due_at, before.resolved_at
    customer = open_case(app, ticket)

    response = answer(customer, ticket, {"resolved": "no", "satisfaction": "1", "comment": "Still leaks."})

    assert response.status_code == 303
    reopened = fresh(ticket.id)
    assert reopened.status == "in_progress"
    assert reopened.tier == 2
    assert reopened.owner_id == org.users["resp_a1"].id  # R6: the owner stays the owner
    assert (reopened.customer_satisfied, reopened.satisfaction, reopened.customer_feedback) == (
        False,
        1,
        "Still leaks.",
    )
    assert reopened.resolved_at is None and reopened.closed_at is None
    assert resolved_at is not None and reopened.resolve_due_at > resolved_at
    assert reopened.resolve_due_at != old_due
    [escalation] = escalations(ticket.id)
    assert (escalation.from_tier, escalation.to_tier, escalation.cause) == (1, 2, "customer_dissatisfied")
    assert escalation.actor_id is None
    [event] = events(ticket.id, "customer_reopened")
    assert event.is_public and event.actor_kind == "customer" and event.body == "Still leaks."

    # Resolved again, the customer may answer again — this time to the new outcome.
    resolve(resp_a1, ticket.id, reply="We are sending a new kettle.")
    assert answer(customer, ticket, {"resolved": "yes"}).status_code == 303
    assert fresh(ticket.id).status == "closed"
    assert fresh(ticket.id).tier == 2


def test_answering_no_twice_reopens_once_with_one_escalation__h7(app: Flask, org: Org, login_as: Any) -> None:
    ticket = new_ticket(app, org, owner="resp_a1", status="in_progress")
    resolve(login_as("resp_a1"), ticket.id)
    customer = open_case(app, ticket)

    first = answer(customer, ticket, {"resolved": "no"})
    after_first = snapshot(ticket.id)
    second = answer(customer, ticket, {"resolved": "no"})

    assert first.status_code == 303
    assert second.status_code in (303, 409)
    assert snapshot(ticket.id) == after_first
    assert fresh(ticket.id).tier == 2
    assert len(escalations(ticket.id)) == 1
    assert len(events(ticket.id, "customer_reopened")) == 1
    assert "We already have your answer" in case_page(customer, ticket)


def _answer_in_own_worker(
    app: Flask, ticket_id: int, barrier: threading.Barrier, results: list[str], lock: threading.Lock
) -> None:
    """One worker handling one of two quick answers: load the case, wait for the other, answer."""
    try:
        with app.app_context():
            session = db.session()
            session.expire_on_commit = False  # both requests read the case before either wrote
            ticket = session.get(Ticket, ticket_id)
            assert ticket is not None
            rules = current_rules()
            session.commit()
            barrier.wait(timeout=10)
            try:
                aftercare.customer_answer(
                    session,
                    ticket,
                    satisfied=False,
                    satisfaction=None,
                    comment=None,
                    now=utcnow(),
                    rules=rules,
                )
                outcome = "won"
            except Conflict:
                outcome = "conflict"
    except Exception as error:
        outcome = f"error: {error!r}"
    with lock:
        results.append(outcome)


def test_two_no_answers_at_the_same_moment_reopen_the_case_once__h7(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org, owner="resp_a1", status="in_progress")
    resolve(login_as("resp_a1"), ticket.id)
    ticket_id = ticket.id
    db.session.commit()  # the test's own transaction must not hold SQLite's lock

    barrier, lock = threading.Barrier(2), threading.Lock()
    results: list[str] = []
    workers = [
        threading.Thread(target=_answer_in_own_worker, args=(app, ticket_id, barrier, results, lock))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)

    assert sorted(results) == ["conflict", "won"]
    reopened = fresh(ticket_id)
    assert (reopened.status, reopened.tier) == ("in_progress", 2)
    assert len(escalations(ticket_id)) == 1
    assert len(events(ticket_id, "customer_reopened")) == 1


def test_an_answer_to_a_case_that_is_not_resolved_changes_nothing__i9(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org, owner="resp_a1", status="in_progress")
    customer = open_case(app, ticket)
    before = snapshot(ticket.id)

    for choice in ("no", "yes"):
        response = answer(customer, ticket, {"resolved": choice, "satisfaction": "5"})
        assert response.status_code in (303, 409)
        assert snapshot(ticket.id) == before

    # Nor once it is closed.
    resolve(login_as("resp_a1"), ticket.id)
    assert answer(customer, ticket, {"resolved": "yes"}).status_code == 303
    closed = snapshot(ticket.id)
    assert answer(customer, ticket, {"resolved": "no"}).status_code in (303, 409)
    assert snapshot(ticket.id) == closed
    assert escalations(ticket.id) == []


def test_the_answer_needs_a_choice_and_a_satisfaction_from_the_list__r15(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org, owner="resp_a1", status="in_progress")
    resolve(login_as("resp_a1"), ticket.id)
    customer = open_case(app, ticket)
    before = snapshot(ticket.id)

    assert answer(customer, ticket, {"satisfaction": "5", "comment": "Fine"}).status_code == 422
    assert answer(customer, ticket, {"resolved": "maybe"}).status_code == 422
    assert answer(customer, ticket, {"resolved": "yes", "satisfaction": "9"}).status_code == 422
    assert answer(customer, ticket, {"resolved": "no", "comment": "x" * 2001}).status_code == 422
    assert snapshot(ticket.id) == before


def test_another_customers_session_cannot_answer_for_this_case__i7_i9(
    app: Flask, org: Org, login_as: Any
) -> None:
    mine = new_ticket(app, org, owner="resp_a1", status="in_progress")
    theirs = new_ticket(app, org, customer_name="Other Person", customer_email="other@example.org")
    resolve(login_as("resp_a1"), mine.id)
    other_customer = open_case(app, theirs, token="their-token")
    before = snapshot(mine.id)

    response = answer(other_customer, mine, {"resolved": "no"})

    assert response.status_code == 404
    assert snapshot(mine.id) == before
    assert other_customer.get(f"/case/{mine.reference}").status_code == 404


# --- callbacks (R17) ---------------------------------------------------------------------------


def record(client: FlaskClient, callback_id: int, **fields: str) -> Any:
    prefix = f"cb{callback_id}"
    data = {f"{prefix}-{name}": value for name, value in fields.items()}
    return staff_post(client, f"/staff/callbacks/{callback_id}", data, prefix)


def reschedule(client: FlaskClient, callback_id: int, due_at: str) -> Any:
    prefix = f"rs{callback_id}"
    return staff_post(
        client, f"/staff/callbacks/{callback_id}/reschedule", {f"{prefix}-due_at": due_at}, prefix
    )


def test_the_owner_records_the_callback_once_and_it_leaves_their_list__r17(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org, owner="resp_a1", status="in_progress")
    resp_a1 = login_as("resp_a1")
    resolve(resp_a1, ticket.id)
    callback = the_callback(ticket.id)
    assert callback.owner_id == org.users["resp_a1"].id
    listing = resp_a1.get("/staff/callbacks").get_data(as_text=True)
    assert f'id="callback-{callback.id}"' in listing and ticket.reference in listing

    response = record(resp_a1, callback.id, reached="yes", satisfied="yes", notes="Happy with the seal.")

    assert response.status_code == 303
    done = the_callback(ticket.id)
    assert done.completed_at is not None
    assert (done.reached, done.satisfied, done.notes) == (True, True, "Happy with the seal.")
    [event] = events(ticket.id, "callback_recorded")
    assert (event.new_value, event.body, event.is_public) == ("reached", "Happy with the seal.", False)
    assert f'id="callback-{callback.id}"' not in resp_a1.get("/staff/callbacks").get_data(as_text=True)

    again = record(resp_a1, callback.id, reached="no", notes="Second click")
    assert again.status_code == 303
    assert "This callback was already recorded." in resp_a1.get("/staff/callbacks").get_data(as_text=True)
    assert len(events(ticket.id, "callback_recorded")) == 1
    assert the_callback(ticket.id).notes == "Happy with the seal."


def test_a_callback_needs_to_say_whether_the_customer_was_reached__r17(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org, owner="resp_a1", status="in_progress")
    resp_a1 = login_as("resp_a1")
    resolve(resp_a1, ticket.id)
    callback = the_callback(ticket.id)

    assert record(resp_a1, callback.id, notes="Forgot the radio").status_code == 422
    assert the_callback(ticket.id).completed_at is None

    assert record(resp_a1, callback.id, reached="no", satisfied="yes").status_code == 303
    not_reached = the_callback(ticket.id)
    assert (not_reached.reached, not_reached.satisfied) == (False, None)  # unknown when not reached
    assert events(ticket.id, "callback_recorded")[0].new_value == "not reached"


def test_a_callback_can_be_moved_to_a_future_time_but_not_into_the_past__r17(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org, owner="resp_a1", status="in_progress")
    resp_a1 = login_as("resp_a1")
    resolve(resp_a1, ticket.id)
    callback = the_callback(ticket.id)
    original_due = callback.due_at
    zone = ZoneInfo(app.config["ORG_TIMEZONE"])  # the form is in the organisation's local time

    past = (utcnow() - timedelta(days=1)).astimezone(zone).strftime("%Y-%m-%dT%H:%M")
    refused = reschedule(resp_a1, callback.id, past)
    assert refused.status_code == 422
    assert "Choose a time in the future." in refused.get_data(as_text=True)
    assert the_callback(ticket.id).due_at == original_due
    assert events(ticket.id, "callback_rescheduled") == []

    later = (utcnow() + timedelta(days=3)).astimezone(zone).replace(second=0, microsecond=0)
    moved = reschedule(resp_a1, callback.id, later.strftime("%Y-%m-%dT%H:%M"))
    assert moved.status_code == 303
    assert the_callback(ticket.id).due_at == later
    assert the_callback(ticket.id).completed_at is None
    [event] = events(ticket.id, "callback_rescheduled")
    assert event.old_value == original_due.isoformat()


def test_another_responder_cannot_record_or_move_someone_elses_callback__r17(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org, owner="resp_a1", status="in_progress")
    resolve(login_as("resp_a1"), ticket.id)
    callback = the_callback(ticket.id)
    resp_a2 = login_as("resp_a2")  # same department: sees the ticket, but it is not their call
    assert f'id="callback-{callback.id}"' not in resp_a2.get("/staff/callbacks").get_data(as_text=True)

    assert record(resp_a2, callback.id, reached="yes", satisfied="yes").status_code == 403
    future = (utcnow() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    assert reschedule(resp_a2, callback.id, future).status_code == 403

    untouched = the_callback(ticket.id)
    assert (untouched.completed_at, untouched.reached) == (None, None)
    assert events(ticket.id, "callback_recorded") == []
    assert events(ticket.id, "callback_rescheduled") == []
    db.session.expire_all()
    denied = db.session.scalars(
        select(AuditLog).where(
            AuditLog.action == "action_denied", AuditLog.actor_id == org.users["resp_a2"].id
        )
    ).all()
    assert [row.target for row in denied] == [f"callback:{callback.id}"] * 2

"""Every staff action on the ticket page, through the test client, as a browser would send it.

Each action must leave exactly one line of history of the right kind (the timeline is built from
these alone and they are append-only), refuse what the actor may not do with 403 and an audit
row, and refuse what the ticket's state does not allow — or what someone else changed first —
with 409 and nothing changed (R4, R6, R16, I6, K1). The htmx answers are checked at the end.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditLog, Ticket, TicketEvent
from tests import factories
from tests.conftest import post_form
from tests.factories import T0, Org, events, fresh

TRACKING_LINK = re.compile(r'id="tracking-link" href="http://portal\.test(/track/[A-Za-z0-9_-]+)"')
REGISTERED_LINK = re.compile(r"<code>http://portal\.test(/track/[A-Za-z0-9_-]+)</code>")
VERSION_FIELD = re.compile(r'name="version" type="hidden" value="(\d+)"')


# --- helpers -----------------------------------------------------------------------------------

new_ticket = partial(factories.new_ticket, now=T0)  # filed at the factory's Monday morning


def act(
    client: FlaskClient, ticket_id: int, action: str, data: dict[str, str] | None = None, **kw: Any
) -> Any:
    return post_form(client, f"/staff/tickets/{ticket_id}/{action}", data or {}, **kw)


def act_ok(
    client: FlaskClient, ticket_id: int, action: str, data: dict[str, str] | None = None
) -> list[TicketEvent]:
    """Perform an action that must succeed; return the history lines it added."""
    before = {e.id for e in events(ticket_id)}
    response = act(client, ticket_id, action, data)
    assert response.status_code == 303, (action, response.status_code)
    assert response.location.endswith(f"/staff/tickets/{ticket_id}")
    return [e for e in events(ticket_id) if e.id not in before]


def state(ticket_id: int) -> tuple[Any, ...]:
    ticket = fresh(ticket_id)
    return (
        ticket.status,
        ticket.owner_id,
        ticket.priority,
        ticket.category_id,
        ticket.department_id,
        ticket.version,
        len(events(ticket_id)),
    )


def audit_rows(action: str, actor_id: int) -> list[AuditLog]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(AuditLog).where(AuditLog.action == action, AuditLog.actor_id == actor_id))
    )


def file_complaint_as_customer(app: Flask, org: Org) -> tuple[Ticket, str]:
    """File through the public form; return the ticket and the tracking path from the confirmation."""
    customer = app.test_client()
    response = post_form(
        customer,
        "/complaints/new",
        {
            "name": "Wang Fang",
            "email": "wang@example.org",
            "phone": "",
            "preferred_contact": "email",
            "category": str(org.categories["A"].id),
            "subject": "Kettle broke",
            "description": "It stopped working after a week.",
            "consent": "y",
            "idempotency_key": "c" * 32,
        },
    )
    assert response.status_code == 303
    confirmation = customer.get(response.location).get_data(as_text=True)
    link = TRACKING_LINK.search(confirmation)
    assert link, "no tracking link on the confirmation page"
    ticket = db.session.scalars(select(Ticket).order_by(Ticket.id.desc())).first()
    assert ticket is not None
    return ticket, link.group(1)


def customer_case_page(app: Flask, tracking_path: str) -> str:
    """Open the case as the customer would: a fresh browser, following their private link."""
    browser = app.test_client()
    opened = browser.get(tracking_path)
    assert opened.status_code == 303
    page = browser.get(opened.location)
    assert page.status_code == 200
    return page.get_data(as_text=True)


# --- claiming, acknowledging, replying ---------------------------------------------------------


def test_first_claim_wins_and_a_second_claimer_gets_409_while_ownership_stays__r6(
    app: Flask, org: Org, login_as: Any
) -> None:
    """R6: both saw the Claim button; resp_a1 was first, so resp_a2's click is a conflict."""
    ticket = new_ticket(app, org)
    second = login_as("resp_a2")
    assert 'id="claim-button"' in second.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    first = login_as("resp_a1")

    added = act_ok(first, ticket.id, "claim")

    assert [e.kind for e in added] == ["claimed"]
    claimed = fresh(ticket.id)
    assert claimed.owner_id == org.users["resp_a1"].id
    assert claimed.status == "in_progress"
    assert claimed.acknowledged_at is not None  # claiming a new case acknowledges it (R3)
    before = state(ticket.id)
    response = act(second, ticket.id, "claim")
    assert response.status_code == 409
    assert "Resp A1" in response.get_data(as_text=True)  # the page shows who owns it now
    assert state(ticket.id) == before


def test_acknowledging_a_new_ticket_records_one_acknowledged_event__r3(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org)
    added = act_ok(login_as("resp_a1"), ticket.id, "acknowledge")
    assert [(e.kind, e.is_public, e.actor_id) for e in added] == [
        ("acknowledged", True, org.users["resp_a1"].id)
    ]
    acknowledged = fresh(ticket.id)
    assert acknowledged.status == "acknowledged"
    assert acknowledged.acknowledged_at is not None
    assert acknowledged.owner_id is None  # acknowledging is not claiming


def test_public_reply_is_on_the_customers_page_and_the_internal_note_is_not__i6(
    app: Flask, org: Org, login_as: Any
) -> None:
    """R13: the customer reads replies on their case page; I6: internal notes never reach it."""
    ticket, tracking_path = file_complaint_as_customer(app, org)
    staff = login_as("resp_a1")
    reply = "A replacement kettle is on its way (reply-7f3a)."
    note = "Supplier batch 42 looks faulty (note-9c1d)."

    replied = act_ok(staff, ticket.id, "reply", {"body": reply})
    noted = act_ok(staff, ticket.id, "notes", {"body": note})

    assert [(e.kind, e.is_public, e.body) for e in replied] == [("reply", True, reply)]
    assert [(e.kind, e.is_public, e.body) for e in noted] == [("note", False, note)]
    assert fresh(ticket.id).status == "acknowledged"  # the first public reply acknowledges (R3)
    case = customer_case_page(app, tracking_path)
    assert "reply-7f3a" in case
    assert "note-9c1d" not in case
    assert "Supplier batch" not in case
    staff_page = staff.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    assert "reply-7f3a" in staff_page and "note-9c1d" in staff_page


# --- classification and routing ----------------------------------------------------------------


def test_lead_changes_category_and_priority_each_with_one_event__r5(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org)
    lead = login_as("lead_a")

    recategorised = act_ok(
        lead, ticket.id, "category", {"category": str(org.categories["B"].id), "version": str(ticket.version)}
    )
    assert [(e.kind, e.old_value, e.new_value) for e in recategorised] == [
        ("recategorised", "Product quality", "Staff attitude")
    ]
    assert fresh(ticket.id).category_id == org.categories["B"].id

    version = str(fresh(ticket.id).version)
    reprioritised = act_ok(lead, ticket.id, "priority", {"priority": "urgent", "version": version})
    assert [(e.kind, e.old_value, e.new_value) for e in reprioritised] == [
        ("reprioritised", "normal", "urgent")
    ]
    assert fresh(ticket.id).priority == "urgent"


def test_transfer_to_department_b_keeps_the_owner_and_puts_it_in_bs_queue__r6(
    app: Flask, org: Org, login_as: Any
) -> None:
    """R6: the work moves, ownership does not; the owner still sees it, B now sees it too."""
    ticket = new_ticket(app, org)
    owner = login_as("resp_a1")
    act_ok(owner, ticket.id, "claim")
    other_b = login_as("resp_b1")
    assert ticket.reference not in other_b.get("/staff/queue").get_data(as_text=True)

    transferred = act_ok(
        owner,
        ticket.id,
        "transfer",
        {
            "department": str(org.departments["B"].id),
            "note": "Please check the driver's route.",
            "version": str(fresh(ticket.id).version),
        },
    )

    assert [(e.kind, e.old_value, e.new_value) for e in transferred] == [
        ("transferred", "Quality", "Management office")
    ]
    moved = fresh(ticket.id)
    assert moved.department_id == org.departments["B"].id
    assert moved.owner_id == org.users["resp_a1"].id
    assert ticket.reference in other_b.get("/staff/queue").get_data(as_text=True)
    assert other_b.get(f"/staff/tickets/{ticket.id}").status_code == 200
    assert owner.get(f"/staff/tickets/{ticket.id}").status_code == 200
    assert ticket.reference in owner.get("/staff/queue?scope=mine").get_data(as_text=True)
    # R20: department A's other responder no longer sees it — it is neither theirs nor A's.
    assert login_as("resp_a2").get(f"/staff/tickets/{ticket.id}").status_code == 404


# --- resolving, reopening, closing -------------------------------------------------------------


def test_a_responder_who_resolves_an_unowned_ticket_becomes_its_owner__r4(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org)
    resolved = act_ok(
        login_as("resp_a1"),
        ticket.id,
        "resolve",
        {"summary": "Explained how to descale it.", "outcome": "explanation", "version": str(ticket.version)},
    )
    assert [(e.kind, e.is_public) for e in resolved] == [("resolved", True)]
    after = fresh(ticket.id)
    assert after.status == "resolved"
    assert after.owner_id == org.users["resp_a1"].id
    assert after.resolution_summary == "Explained how to descale it."
    assert after.resolved_at is not None


def test_the_owner_reopens_and_closes_with_one_event_each__r16(app: Flask, org: Org, login_as: Any) -> None:
    ticket = new_ticket(app, org)
    owner = login_as("resp_a1")
    resolve = {"summary": "Replaced the kettle.", "outcome": "explanation"}
    act_ok(owner, ticket.id, "resolve", resolve | {"version": str(fresh(ticket.id).version)})

    reopened = act_ok(
        owner,
        ticket.id,
        "reopen",
        {"reason": "The customer says it still leaks.", "version": str(fresh(ticket.id).version)},
    )
    assert [e.kind for e in reopened] == ["reopened"]
    assert fresh(ticket.id).status == "in_progress"
    assert fresh(ticket.id).resolved_at is None

    again = act_ok(owner, ticket.id, "resolve", resolve | {"version": str(fresh(ticket.id).version)})
    assert [e.kind for e in again] == ["resolved"]
    closed = act_ok(owner, ticket.id, "close", {"version": str(fresh(ticket.id).version)})
    assert [e.kind for e in closed] == ["closed"]
    assert fresh(ticket.id).status == "closed"
    assert fresh(ticket.id).closed_at is not None


def test_a_responder_cannot_transfer_or_close_someone_elses_ticket_but_their_lead_can(
    app: Flask, org: Org, login_as: Any
) -> None:
    """R6/R9: only the owner, the department's lead or a manager steers a case; a refusal is 403
    with an `action_denied` audit row and changes nothing (ASVS 4.2.1, 7.2.2)."""
    open_ticket, resolved_ticket = new_ticket(app, org), new_ticket(app, org)
    owner = login_as("resp_a2")
    act_ok(owner, open_ticket.id, "claim")
    act_ok(owner, resolved_ticket.id, "claim")
    act_ok(
        owner,
        resolved_ticket.id,
        "resolve",
        {"summary": "Refunded.", "outcome": "explanation", "version": str(fresh(resolved_ticket.id).version)},
    )
    colleague, lead = login_as("resp_a1"), login_as("lead_a")
    colleague_id = org.users["resp_a1"].id
    transfer = {"department": str(org.departments["B"].id), "note": "Over to you."}

    before = state(open_ticket.id)
    response = act(colleague, open_ticket.id, "transfer", transfer | {"version": str(before[5])})
    assert response.status_code == 403
    assert state(open_ticket.id) == before
    before = state(resolved_ticket.id)
    response = act(colleague, resolved_ticket.id, "close", {"version": str(before[5])})
    assert response.status_code == 403
    assert state(resolved_ticket.id) == before
    denied = audit_rows("action_denied", colleague_id)
    assert {row.target.split(":")[1] for row in denied} == {str(open_ticket.id), str(resolved_ticket.id)}

    moved = act_ok(
        lead, open_ticket.id, "transfer", transfer | {"version": str(fresh(open_ticket.id).version)}
    )
    assert [e.kind for e in moved] == ["transferred"]
    assert fresh(open_ticket.id).owner_id == org.users["resp_a2"].id
    closed = act_ok(lead, resolved_ticket.id, "close", {"version": str(fresh(resolved_ticket.id).version)})
    assert [e.kind for e in closed] == ["closed"]


def test_a_priority_change_from_a_stale_page_is_a_409_conflict_and_changes_nothing__k1(
    app: Flask, org: Org, login_as: Any
) -> None:
    """K1: lead_a's page shows version v; mgr_1 changes the category first; lead_a's priority
    change with version v is refused, and the answer shows mgr_1's change and lead_a's input."""
    ticket = new_ticket(app, org)
    lead, manager = login_as("lead_a"), login_as("mgr_1")
    page = lead.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    seen_version = VERSION_FIELD.search(page)
    assert seen_version, "the ticket page carries no version field"
    act_ok(
        manager, ticket.id, "category", {"category": str(org.categories["B"].id), "version": seen_version[1]}
    )
    before = state(ticket.id)

    response = act(lead, ticket.id, "priority", {"priority": "urgent", "version": seen_version[1]})

    assert response.status_code == 409
    assert state(ticket.id) == before
    assert fresh(ticket.id).priority == "normal"
    assert not [e for e in events(ticket.id) if e.kind == "reprioritised"]
    body = response.get_data(as_text=True)
    assert "Staff attitude" in body  # the other person's change is on the page
    assert re.search(r'<option[^>]*selected[^>]*value="urgent"|<option[^>]*value="urgent"[^>]*selected', body)
    retried = act_ok(lead, ticket.id, "priority", {"priority": "urgent", "version": str(before[5])})
    assert [e.kind for e in retried] == ["reprioritised"]


def test_closing_a_new_ticket_is_an_illegal_transition_answered_409(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org)
    before = state(ticket.id)
    response = act(login_as("lead_a"), ticket.id, "close", {"version": str(ticket.version)})
    assert response.status_code == 409
    assert state(ticket.id) == before
    assert fresh(ticket.id).status == "new"


def test_ticket_events_cannot_be_changed_or_deleted_through_the_orm(
    app: Flask, org: Org, login_as: Any
) -> None:
    """The history is append-only: an UPDATE or DELETE of a TicketEvent is refused."""
    ticket = new_ticket(app, org)
    [note] = act_ok(login_as("resp_a1"), ticket.id, "notes", {"body": "Called the customer."})

    note.body = "Rewritten history."
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    db.session.delete(events(ticket.id)[-1])
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    assert [e.body for e in events(ticket.id) if e.kind == "note"] == ["Called the customer."]


# --- registering a complaint received by phone (R1) --------------------------------------------


def test_staff_register_a_phone_complaint_with_its_channel_and_registrar_and_see_the_link_once__r1(
    app: Flask, org: Org, login_as: Any
) -> None:
    staff = login_as("resp_a1")
    assert staff.get("/staff/complaints/new").status_code == 200
    response = post_form(
        staff,
        "/staff/complaints/new",
        {
            "channel": "phone",
            "name": "Li Lei",
            "email": "",
            "phone": "+86 138 0013 8000",
            "preferred_contact": "phone",
            "category": str(org.categories["A"].id),
            "subject": "Rude delivery driver",
            "description": "Called to say the driver shouted at him.",
            "consent": "y",
            "idempotency_key": "p" * 32,
        },
    )
    assert response.status_code == 303
    ticket = db.session.scalars(select(Ticket).where(Ticket.subject == "Rude delivery driver")).one()
    assert response.location.endswith(f"/staff/complaints/{ticket.id}/registered")
    assert ticket.channel == "phone"
    assert ticket.registered_by_id == org.users["resp_a1"].id
    assert ticket.customer_phone == "+8613800138000"
    filed, claimed = events(ticket.id)  # R6: the person who registers it owns it at once
    assert (filed.kind, filed.actor_kind, filed.actor_id) == ("filed", "staff", org.users["resp_a1"].id)
    assert (claimed.kind, claimed.actor_id) == ("claimed", org.users["resp_a1"].id)

    confirmation = staff.get(response.location).get_data(as_text=True)
    assert ticket.reference in confirmation
    link = REGISTERED_LINK.search(confirmation)
    assert link, "the confirmation does not show the customer's link"
    case = customer_case_page(app, link.group(1))
    assert "Rude delivery driver" in case
    # The link is shown to the person who registered it, then never again elsewhere.
    token = link.group(1).rsplit("/", 1)[-1]
    assert token not in staff.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    other = login_as("lead_a").get(f"/staff/complaints/{ticket.id}/registered")
    assert other.status_code == 200
    assert token not in other.get_data(as_text=True)
    assert "/track/" not in other.get_data(as_text=True)


# --- htmx --------------------------------------------------------------------------------------


def test_claiming_from_the_queue_with_htmx_returns_the_row_and_an_out_of_band_flash(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org)
    staff = login_as("resp_a1")
    response = act(
        staff,
        ticket.id,
        "claim",
        {"next": "/staff/queue"},
        headers={"HX-Request": "true", "HX-Target": f"ticket-row-{ticket.id}"},
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" not in body and "<body" not in body
    assert body.lstrip().startswith(f'<tr id="ticket-row-{ticket.id}"')
    assert "Resp A1" in body
    flash = re.search(r'<div id="flash"[^>]*>', body)
    assert flash and 'hx-swap-oob="true"' in flash.group(0)
    assert "You own this ticket now." in body
    assert fresh(ticket.id).owner_id == org.users["resp_a1"].id
    # The tab counts follow out of band: one more of mine, one fewer unassigned.
    counts = dict(re.findall(r'<span class="count" id="count-(\w+)" hx-swap-oob="true">(\d+)</span>', body))
    assert counts == {"all": "1", "mine": "1", "unassigned": "0", "department": "1"}


def test_the_queue_answers_an_htmx_swap_with_its_rows_only_and_varies_on_hx_request(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org)
    staff = login_as("resp_a1")

    fragment = staff.get("/staff/queue", headers={"HX-Request": "true", "HX-Target": "queue-rows"})
    page = staff.get("/staff/queue")

    assert fragment.status_code == page.status_code == 200
    rows = fragment.get_data(as_text=True)
    assert rows.lstrip().startswith('<div id="queue-rows"')
    assert "<html" not in rows and '<nav class="tabs"' not in rows
    assert ticket.reference in rows
    full = page.get_data(as_text=True)
    assert "<html" in full and 'id="queue-rows"' in full and ticket.reference in full
    for response in (fragment, page):
        vary = {v.strip().lower() for v in response.headers.get("Vary", "").split(",")}
        assert "hx-request" in vary


def test_a_history_restore_request_gets_the_full_queue_page(app: Flask, org: Org, login_as: Any) -> None:
    """htmx asks for the whole page when restoring history; a fragment there breaks the page."""
    new_ticket(app, org)
    response = login_as("resp_a1").get(
        "/staff/queue",
        headers={"HX-Request": "true", "HX-Target": "queue-rows", "HX-History-Restore-Request": "true"},
    )
    assert response.status_code == 200
    assert "<html" in response.get_data(as_text=True)

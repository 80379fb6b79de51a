"""Naming the person a complaint is about, and every screen they then must not find it on (R10).

security.md G1–G6: the staff member is named through the real route (POST
/staff/tickets/<id>/concerns, field `user`); from then on the ticket is absent from their queue
(every scope, status and search), tab counts, callbacks, the leads' and managers' screens and the
approvals inbox; its URL answers 404 with an audit row; they cannot approve it; they are never
told of an escalation to their own tier; and if they owned it, ownership is released.
Each check is paired with a colleague who does see the ticket, so an empty page cannot pass alone.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any
from urllib.parse import quote

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    AuditLog,
    Callback,
    Escalation,
    Notification,
    ResolutionProposal,
    Ticket,
    TicketEvent,
)
from portal.queries.staff_queue import SCOPES, STATUS_FILTERS
from tests import factories
from tests.conftest import name_subject
from tests.conftest import page_text as page
from tests.conftest import post_signed_in as post
from tests.factories import Org, fresh

CUSTOMER = "Ingrid Vasquez-Holm"
WORD = "periwinkle-ocelot"
TAB_COUNT = re.compile(r'href="[^"]*[?&;]scope=(\w+)[^"]*"[^>]*>[^<]*<span class="count"[^>]*>(\d+)</span>')

# --- helpers -----------------------------------------------------------------------------------

# Every ticket here is from the same customer and carries the same word, for the searches.
new_ticket = partial(
    factories.new_ticket,
    customer_name=CUSTOMER,
    description=f"The assistant was {WORD} rude to me at the counter.",
)


def event_kinds(ticket_id: int) -> list[str]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        )
    )


def shows(html: str, ticket: Ticket) -> bool:
    """A row or link to the ticket, or its reference or customer as text (not echoed input)."""
    return (
        f'id="ticket-row-{ticket.id}"' in html
        or f'/staff/tickets/{ticket.id}"' in html
        or f">{ticket.reference}<" in html
        or f">{ticket.customer_name}<" in html
    )


def queue_sightings(client: FlaskClient, ticket: Ticket) -> list[str]:
    """Every scope × status, and a search by reference, customer name and a word of the text."""
    searches = [ticket.reference, ticket.reference.lower(), CUSTOMER, "vasquez", WORD]
    found = []
    for scope in SCOPES:
        for status in STATUS_FILTERS:
            query = f"scope={scope}&status={status}"
            if shows(page(client, f"/staff/queue?{query}"), ticket):
                found.append(query)
        for text in searches:
            query = f"scope={scope}&status=all&q={quote(text)}"
            if shows(page(client, f"/staff/queue?{query}"), ticket):
                found.append(query)
    return found


def tab_counts(client: FlaskClient) -> dict[str, int]:
    return {scope: int(n) for scope, n in TAB_COUNT.findall(page(client, "/staff/queue"))}


def denials(action: str, actor_id: int, target: str) -> int:
    db.session.expire_all()
    return len(
        db.session.scalars(
            select(AuditLog).where(
                AuditLog.action == action, AuditLog.actor_id == actor_id, AuditLog.target == target
            )
        ).all()
    )


def notified_users(ticket_id: int, event: str) -> set[int | None]:
    db.session.expire_all()
    return set(
        db.session.scalars(
            select(Notification.recipient_user_id).where(
                Notification.ticket_id == ticket_id, Notification.event == event
            )
        )
    )


# --- naming a responder (G1–G3) ----------------------------------------------------------------


def test_once_named_staff_s_finds_the_ticket_in_no_queue_scope_status_search_or_tab_count__g2_g3(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org)
    staff_s = login_as("staff_s")
    # Before anyone names them, staff_s sees it like any department colleague (the control).
    assert len(queue_sightings(staff_s, ticket)) > 0
    counts_before = tab_counts(staff_s)
    assert counts_before == {"all": 1, "mine": 0, "unassigned": 1, "department": 1}

    response = name_subject(login_as("lead_a"), ticket.id, org.users["staff_s"].id)
    assert response.status_code == 303
    assert fresh(ticket.id).concerns_user_id == org.users["staff_s"].id
    assert event_kinds(ticket.id)[-1] == "staff_linked"

    assert queue_sightings(staff_s, ticket) == []
    assert tab_counts(staff_s) == {"all": 0, "mine": 0, "unassigned": 0, "department": 0}
    # Their colleague still finds it everywhere it belongs.
    assert shows(page(login_as("resp_a1"), f"/staff/queue?q={WORD}"), ticket)


def test_once_named_staff_s_gets_404_with_an_audit_row_on_the_ticket_and_its_actions__g1(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org)
    staff_s_id = org.users["staff_s"].id
    staff_s = login_as("staff_s")
    assert staff_s.get(f"/staff/tickets/{ticket.id}").status_code == 200
    assert name_subject(login_as("lead_a"), ticket.id, staff_s_id).status_code == 303

    response = staff_s.get(f"/staff/tickets/{ticket.id}")
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert ticket.reference not in body and CUSTOMER not in body and WORD not in body
    assert denials("access_denied", staff_s_id, f"ticket:{ticket.id}") == 1

    events_before = event_kinds(ticket.id)
    assert post(staff_s, f"/staff/tickets/{ticket.id}/notes", {"body": "My side of it"}).status_code == 404
    assert post(staff_s, f"/staff/tickets/{ticket.id}/claim", {}).status_code == 404
    assert name_subject(staff_s, ticket.id, 0).status_code == 404  # nor can they un-name themselves
    assert event_kinds(ticket.id) == events_before
    assert fresh(ticket.id).concerns_user_id == staff_s_id
    assert denials("access_denied", staff_s_id, f"ticket:{ticket.id}") == 4


def test_naming_yourself_is_refused_with_422_and_changes_nothing__r10(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org)
    before = event_kinds(ticket.id)

    response = name_subject(login_as("lead_a"), ticket.id, org.users["lead_a"].id)

    assert response.status_code == 422
    assert fresh(ticket.id).concerns_user_id is None
    assert event_kinds(ticket.id) == before


# --- when the person named owned the ticket (G4) -----------------------------------------------


def test_naming_the_owner_hands_the_case_and_their_callback_to_their_lead__r10_g4_r17(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org, owner="staff_s", status="in_progress")
    staff_s_id = org.users["staff_s"].id
    staff_s = login_as("staff_s")
    resolved = post(
        staff_s,
        f"/staff/tickets/{ticket.id}/resolve",
        {"outcome": "explanation", "root_cause": "0", "summary": "Explained the queue rules."},
    )
    assert resolved.status_code == 303
    assert fresh(ticket.id).status == "resolved"
    [callback] = db.session.scalars(select(Callback).where(Callback.ticket_id == ticket.id)).all()
    assert callback.owner_id == staff_s_id
    assert f'id="callback-{callback.id}"' in page(staff_s, "/staff/callbacks")

    assert name_subject(login_as("lead_a"), ticket.id, staff_s_id).status_code == 303

    handed_over = fresh(ticket.id)
    assert handed_over.owner_id == org.users["lead_a"].id  # issue 12.3: work never left with nobody
    assert handed_over.concerns_user_id == staff_s_id
    assert event_kinds(ticket.id)[-3:] == ["staff_linked", "owner_recused", "callback_handed_over"]
    db.session.expire_all()
    assert db.session.get(Callback, callback.id).owner_id == org.users["lead_a"].id  # type: ignore[union-attr]
    callbacks_page = page(staff_s, "/staff/callbacks")
    assert f'id="callback-{callback.id}"' not in callbacks_page
    assert ticket.reference not in callbacks_page and CUSTOMER not in callbacks_page
    recorded = post(
        staff_s, f"/staff/callbacks/{callback.id}", {f"cb{callback.id}-reached": "yes"}, f"cb{callback.id}"
    )
    assert recorded.status_code == 404
    db.session.expire_all()
    assert db.session.get(Callback, callback.id).completed_at is None  # type: ignore[union-attr]


def test_a_case_whose_owner_was_recused_is_held_by_their_lead_and_no_one_else_can_claim_it__g4_r6(
    app: Flask, org: Org, login_as: Any
) -> None:
    """Ownership "must go to someone else" (G4): the lead holds it at once, so it is never unowned."""
    ticket = new_ticket(app, org, owner="staff_s", status="in_progress")
    assert name_subject(login_as("lead_a"), ticket.id, org.users["staff_s"].id).status_code == 303
    assert fresh(ticket.id).owner_id == org.users["lead_a"].id

    claimed = post(login_as("resp_a1"), f"/staff/tickets/{ticket.id}/claim", {})

    assert claimed.status_code == 409
    assert fresh(ticket.id).owner_id == org.users["lead_a"].id


# --- naming a manager (G1, G2, G6) -------------------------------------------------------------


def test_a_manager_named_in_a_complaint_finds_it_nowhere_and_cannot_approve_it__g6(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org, status="in_progress", tier=3)
    mgr_2_id = org.users["mgr_2"].id
    lead_a = login_as("lead_a")
    assert name_subject(lead_a, ticket.id, mgr_2_id).status_code == 303
    proposed = post(
        lead_a,
        f"/staff/tickets/{ticket.id}/resolve",
        {"outcome": "explanation", "root_cause": "0", "summary": f"Manager Two was {WORD}; apology."},
    )
    assert proposed.status_code == 303
    [proposal] = db.session.scalars(
        select(ResolutionProposal).where(ResolutionProposal.ticket_id == ticket.id)
    ).all()
    assert (proposal.status, proposal.approval_reasons) == ("pending", "concerns_staff,manager_tier")

    # mgr_1, the control: the manager screens list it.
    mgr_1 = login_as("mgr_1")
    assert shows(page(mgr_1, "/manage/"), ticket)
    assert f'id="proposal-{proposal.id}"' in page(mgr_1, "/manage/approvals")

    mgr_2 = login_as("mgr_2")
    assert not shows(page(mgr_2, "/manage/"), ticket)
    approvals = page(mgr_2, "/manage/approvals")
    assert f'id="proposal-{proposal.id}"' not in approvals and ticket.reference not in approvals
    assert queue_sightings(mgr_2, ticket) == []
    assert tab_counts(mgr_2)["all"] == 0
    assert mgr_2.get(f"/staff/tickets/{ticket.id}").status_code == 404
    assert denials("access_denied", mgr_2_id, f"ticket:{ticket.id}") == 1
    assert mgr_2_id not in notified_users(ticket.id, "approval_waiting")
    assert org.users["mgr_1"].id in notified_users(ticket.id, "approval_waiting")

    approved = post(mgr_2, f"/manage/proposals/{proposal.id}/approve", {})
    assert approved.status_code == 404  # the same answer as for a proposal that does not exist
    rejected = post(
        mgr_2, f"/manage/proposals/{proposal.id}/reject", {f"p{proposal.id}-reason": "No"}, f"p{proposal.id}"
    )
    assert rejected.status_code == 404
    assert denials("access_denied", mgr_2_id, f"proposal:{proposal.id}") == 2
    db.session.expire_all()
    assert db.session.get(ResolutionProposal, proposal.id).status == "pending"  # type: ignore[union-attr]
    assert fresh(ticket.id).status == "awaiting_approval"

    assert post(mgr_1, f"/manage/proposals/{proposal.id}/approve", {}).status_code == 303
    assert fresh(ticket.id).status == "resolved"


# --- escalation to the subject's own tier (R9, R10; G5) ----------------------------------------


def test_a_manager_named_in_a_complaint_is_not_told_when_it_reaches_the_managers__r10(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org, owner="lead_a", status="in_progress", tier=2)
    lead_a = login_as("lead_a")
    assert name_subject(lead_a, ticket.id, org.users["mgr_2"].id).status_code == 303

    escalated = post(lead_a, f"/staff/tickets/{ticket.id}/escalate", {"reason": "Needs a manager."})
    assert escalated.status_code == 303

    db.session.expire_all()
    [escalation] = db.session.scalars(select(Escalation).where(Escalation.ticket_id == ticket.id)).all()
    assert (escalation.from_tier, escalation.to_tier) == (2, 3)
    assert escalation.notified is not None
    assert "Mgr 1" in escalation.notified
    assert "Mgr 2" not in escalation.notified
    assert notified_users(ticket.id, "escalated") == {org.users["mgr_1"].id}


def test_a_lead_named_in_a_complaint_is_not_told_when_it_reaches_the_leads__r10(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org, owner="resp_a1", status="in_progress")
    resp_a1 = login_as("resp_a1")
    assert name_subject(resp_a1, ticket.id, org.users["lead_a"].id).status_code == 303

    escalated = post(resp_a1, f"/staff/tickets/{ticket.id}/escalate", {"reason": "About my lead."})
    assert escalated.status_code == 303

    db.session.expire_all()
    [escalation] = db.session.scalars(select(Escalation).where(Escalation.ticket_id == ticket.id)).all()
    assert (escalation.from_tier, escalation.to_tier) == (1, 2)
    assert "Lead A" not in (escalation.notified or "")
    assert org.users["lead_a"].id not in notified_users(ticket.id, "escalated")
    lead_a = login_as("lead_a")
    assert not shows(page(lead_a, "/manage/"), ticket)
    assert queue_sightings(lead_a, ticket) == []

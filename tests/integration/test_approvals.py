"""Resolutions and their approval (R4, R11, R12, R17; security.md H1, H4, K3, K4, F13).

A small problem is resolved at once and the customer reads the outcome; a resolution that commits
the organisation waits for a manager who did not propose it, and until then the customer sees
nothing of it. Everything goes through the real routes, except the race of two managers deciding
at once, which calls the service from two threads as two workers would.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.domain.errors import Conflict
from portal.extensions import db
from portal.models import (
    AuditLog,
    Callback,
    Notification,
    ResolutionProposal,
    Ticket,
    User,
    utcnow,
)
from portal.services import resolutions
from portal.services.tracking import hash_token
from portal.web.context import rules as current_rules
from tests.conftest import fresh_token
from tests.factories import Org, events, fresh, new_ticket

SUMMARY = "Kettle element failed; goodwill payment is fair given two earlier repairs."
REPLY = "We are sorry: we will pay you 600.00 for the trouble with your kettle."

# --- helpers -----------------------------------------------------------------------------------


def visible_text(page: str) -> str:
    """What a reader sees: the page without its tags."""
    return re.sub(r"<[^>]+>", " ", page)


def proposals(ticket_id: int) -> list[ResolutionProposal]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(ResolutionProposal)
            .where(ResolutionProposal.ticket_id == ticket_id)
            .order_by(ResolutionProposal.id)
        )
    )


def callbacks(ticket_id: int) -> list[Callback]:
    db.session.expire_all()
    return list(db.session.scalars(select(Callback).where(Callback.ticket_id == ticket_id)))


def audit_rows(action: str, actor_id: int) -> list[AuditLog]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(AuditLog).where(AuditLog.action == action, AuditLog.actor_id == actor_id))
    )


def post(client: FlaskClient, url: str, data: dict[str, str], prefix: str | None = None) -> Any:
    """POST like a browser. A prefixed form (one per row) carries its token as `<prefix>-csrf_token`."""
    token = fresh_token(client, "/staff/callbacks")  # any signed-in page carries the session's token
    payload = {"csrf_token": token, **data}
    if prefix:
        payload[f"{prefix}-csrf_token"] = token
    return client.post(url, data=payload)


def resolve(
    client: FlaskClient,
    ticket_id: int,
    *,
    outcome: str = "explanation",
    amount: str = "",
    summary: str = SUMMARY,
    customer_reply: str = REPLY,
) -> Any:
    return post(
        client,
        f"/staff/tickets/{ticket_id}/resolve",
        {
            "outcome": outcome,
            "amount": amount,
            "root_cause": "0",
            "summary": summary,
            "customer_reply": customer_reply,
        },
    )


def approve(client: FlaskClient, proposal_id: int) -> Any:
    return post(client, f"/manage/proposals/{proposal_id}/approve", {})


def reject(client: FlaskClient, proposal_id: int, reason: str) -> Any:
    return post(
        client,
        f"/manage/proposals/{proposal_id}/reject",
        {f"p{proposal_id}-reason": reason},
        f"p{proposal_id}",
    )


def customer_page(app: Flask, ticket: Ticket, token: str = "known-token") -> str:
    """Open the case as the customer does: by the private link, in a browser of their own."""
    row = db.session.get(Ticket, ticket.id)
    assert row is not None
    row.tracking_token_hash = hash_token(token)
    db.session.commit()
    customer = app.test_client()
    opened = customer.get(f"/track/{token}")
    assert opened.status_code == 303
    assert opened.location.endswith(f"/case/{row.reference}")
    page = customer.get(f"/case/{row.reference}")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def propose_compensation(app: Flask, org: Org, login_as: Any, owner: str = "resp_a1") -> ResolutionProposal:
    ticket = new_ticket(app, org, owner=owner, status="in_progress")
    response = resolve(login_as(owner), ticket.id, outcome="compensation", amount="600.00")
    assert response.status_code == 303
    [row] = proposals(ticket.id)
    assert row.status == "pending"
    return row


# --- resolving at once (R4, R15, R17) ----------------------------------------------------------


def test_a_plain_explanation_resolves_at_once_and_books_a_callback_within_24_hours__r4_r17(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org)
    reply = "We found the fuse had blown and sent you a new one today."
    response = resolve(login_as("resp_a1"), ticket.id, summary="Blown fuse; replaced.", customer_reply=reply)
    assert response.status_code == 303

    resolved = fresh(ticket.id)
    assert resolved.status == "resolved"
    assert resolved.owner_id == org.users["resp_a1"].id  # R4: who resolves an unowned case owns it
    assert resolved.resolution_summary == reply
    [row] = proposals(ticket.id)
    assert (row.status, row.approval_reasons, row.decided_by_id) == ("not_required", None, None)
    [callback] = callbacks(ticket.id)
    assert callback.owner_id == org.users["resp_a1"].id
    assert callback.completed_at is None
    assert resolved.resolved_at is not None
    assert timedelta(0) < callback.due_at - resolved.resolved_at <= timedelta(hours=24)
    [event] = events(ticket.id, "resolved")
    assert event.is_public and event.body == reply

    page = customer_page(app, ticket)
    assert reply in page
    assert "Blown fuse; replaced." not in page  # the handler's opinion is internal (R12)


def test_compensation_at_the_threshold_needs_no_approval_but_one_cent_above_does__r12(
    app: Flask, org: Org, login_as: Any
) -> None:
    """APPROVAL_THRESHOLD_MINOR is 50000 (500.00): "above the threshold" is strictly above."""
    at_threshold = new_ticket(app, org, owner="resp_a1", status="in_progress")
    above = new_ticket(app, org, owner="resp_a1", status="in_progress")
    client = login_as("resp_a1")

    assert resolve(client, at_threshold.id, outcome="compensation", amount="500.00").status_code == 303
    assert resolve(client, above.id, outcome="compensation", amount="500.01").status_code == 303

    assert fresh(at_threshold.id).status == "resolved"
    assert [p.status for p in proposals(at_threshold.id)] == ["not_required"]
    assert fresh(above.id).status == "awaiting_approval"
    [row] = proposals(above.id)
    assert (row.status, row.amount_minor, row.approval_reasons) == (
        "pending",
        50001,
        "compensation_above_threshold",
    )


# --- compensation above the threshold (R11, R12) -----------------------------------------------


def test_compensation_above_the_threshold_waits_and_the_customer_sees_nothing_of_it__r11_r12(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = new_ticket(app, org, owner="resp_a1", status="in_progress")
    response = resolve(login_as("resp_a1"), ticket.id, outcome="compensation", amount="600.00")
    assert response.status_code == 303

    assert fresh(ticket.id).status == "awaiting_approval"
    assert fresh(ticket.id).resolution_summary is None
    [row] = proposals(ticket.id)
    assert row.status == "pending"
    assert row.amount_minor == 60_000
    assert row.approval_reasons == "compensation_above_threshold"
    assert row.proposed_by_id == org.users["resp_a1"].id
    assert callbacks(ticket.id) == []
    [proposed] = events(ticket.id, "proposed")
    assert not proposed.is_public

    page = customer_page(app, ticket)
    for secret in ("600.00", "600,00", "60000", REPLY, "pay you", SUMMARY, "goodwill"):
        assert secret not in page, secret
    assert "Being handled" in page  # the same words as any case being worked on
    assert "Resolution proposed" not in visible_text(page)
    assert "approv" not in visible_text(page).lower()
    db.session.expire_all()
    told = db.session.scalars(
        select(Notification).where(Notification.ticket_id == ticket.id, Notification.event == "resolved")
    ).all()
    assert told == []  # nobody wrote to the customer about an undecided outcome either


def test_a_manager_approves_and_only_then_the_customer_reads_the_reply__r11_r12(
    app: Flask, org: Org, login_as: Any
) -> None:
    row = propose_compensation(app, org, login_as)
    mgr_1 = login_as("mgr_1")

    inbox = mgr_1.get("/manage/approvals")
    assert inbox.status_code == 200
    inbox_html = inbox.get_data(as_text=True)
    assert f'id="proposal-{row.id}"' in inbox_html
    assert row.ticket.reference in inbox_html
    assert "600.00" in inbox_html
    assert f'action="/manage/proposals/{row.id}/approve"' in inbox_html

    response = approve(mgr_1, row.id)
    assert response.status_code == 303
    assert response.location.endswith("/manage/approvals")

    ticket = fresh(row.ticket_id)
    assert ticket.status == "resolved"
    assert ticket.resolution_summary == REPLY
    [decided] = proposals(ticket.id)
    assert (decided.status, decided.decided_by_id) == ("approved", org.users["mgr_1"].id)
    assert decided.decided_at is not None
    [callback] = callbacks(ticket.id)
    assert callback.owner_id == org.users["resp_a1"].id  # R17: the owner calls, not the approver
    assert REPLY in customer_page(app, ticket)
    assert f'id="proposal-{row.id}"' not in mgr_1.get("/manage/approvals").get_data(as_text=True)


def test_approving_a_decided_proposal_again_is_a_conflict_with_one_decision_only__k3_h4(
    app: Flask, org: Org, login_as: Any
) -> None:
    row = propose_compensation(app, org, login_as)
    mgr_1, mgr_2 = login_as("mgr_1"), login_as("mgr_2")
    assert approve(mgr_1, row.id).status_code == 303

    assert approve(mgr_1, row.id).status_code == 409  # the double click
    assert approve(mgr_2, row.id).status_code == 409  # the replayed form of another manager
    assert reject(mgr_2, row.id, "Too generous").status_code == 409

    [decided] = proposals(row.ticket_id)
    assert (decided.status, decided.decided_by_id, decided.decision_reason) == (
        "approved",
        org.users["mgr_1"].id,
        None,
    )
    assert len(events(row.ticket_id, "approved")) == 1
    assert len(events(row.ticket_id, "resolved")) == 1
    assert events(row.ticket_id, "rejected") == []
    assert len(callbacks(row.ticket_id)) == 1
    assert fresh(row.ticket_id).status == "resolved"


def test_the_owner_cannot_skip_the_approval_by_resolving_or_closing_while_it_waits__h4(
    app: Flask, org: Org, login_as: Any
) -> None:
    row = propose_compensation(app, org, login_as)
    client = login_as("resp_a1")
    before = fresh(row.ticket_id).version

    assert resolve(client, row.ticket_id, outcome="explanation").status_code == 409
    assert post(client, f"/staff/tickets/{row.ticket_id}/close", {}).status_code == 409

    ticket = fresh(row.ticket_id)
    assert (ticket.status, ticket.version, ticket.resolution_summary) == ("awaiting_approval", before, None)
    assert [p.status for p in proposals(row.ticket_id)] == ["pending"]


# --- four-eyes (R12; H1) -----------------------------------------------------------------------


def test_a_manager_cannot_approve_their_own_proposal_but_another_manager_can__h1(
    app: Flask, org: Org, login_as: Any
) -> None:
    mgr_1_id = org.users["mgr_1"].id
    row = propose_compensation(app, org, login_as, owner="mgr_1")
    assert row.proposed_by_id == mgr_1_id
    mgr_1 = login_as("mgr_1")

    inbox = mgr_1.get("/manage/approvals").get_data(as_text=True)
    assert f'id="proposal-{row.id}"' in inbox
    assert "another manager must decide" in inbox
    assert f"/manage/proposals/{row.id}/approve" not in inbox
    assert f"/manage/proposals/{row.id}/reject" not in inbox

    assert approve(mgr_1, row.id).status_code == 403  # the crafted POST
    assert reject(mgr_1, row.id, "Changed my mind").status_code == 403
    denied = audit_rows("approval_denied", mgr_1_id)
    assert len(denied) == 2
    assert all((a.target or "").startswith(f"proposal:{row.id}:") and a.outcome == "denied" for a in denied)
    assert fresh(row.ticket_id).status == "awaiting_approval"
    [still] = proposals(row.ticket_id)
    assert (still.status, still.decided_by_id) == ("pending", None)
    assert events(row.ticket_id, "approved") == []

    assert approve(login_as("mgr_2"), row.id).status_code == 303
    assert fresh(row.ticket_id).status == "resolved"
    assert proposals(row.ticket_id)[0].decided_by_id == org.users["mgr_2"].id


def test_a_lead_can_neither_open_the_approvals_inbox_nor_approve__f13_r12(
    app: Flask, org: Org, login_as: Any
) -> None:
    row = propose_compensation(app, org, login_as)
    lead_a = login_as("lead_a")
    lead_id = org.users["lead_a"].id

    assert lead_a.get("/manage/approvals").status_code == 403
    assert approve(lead_a, row.id).status_code == 403
    assert reject(lead_a, row.id, "No").status_code == 403

    assert len(audit_rows("access_denied", lead_id)) == 3
    assert fresh(row.ticket_id).status == "awaiting_approval"
    assert [(p.status, p.decided_by_id) for p in proposals(row.ticket_id)] == [("pending", None)]


# --- rejection ---------------------------------------------------------------------------------


def test_a_rejection_needs_a_reason_and_sends_the_case_back_to_the_owner_internally(
    app: Flask, org: Org, login_as: Any
) -> None:
    row = propose_compensation(app, org, login_as)
    mgr_2 = login_as("mgr_2")

    empty = reject(mgr_2, row.id, "   ")
    assert empty.status_code == 422
    assert [(p.status, p.decided_by_id) for p in proposals(row.ticket_id)] == [("pending", None)]
    assert fresh(row.ticket_id).status == "awaiting_approval"

    reason = "Offer a repair first; 600 is above what the policy allows here."
    response = reject(mgr_2, row.id, reason)
    assert response.status_code == 303

    [decided] = proposals(row.ticket_id)
    assert (decided.status, decided.decided_by_id, decided.decision_reason) == (
        "rejected",
        org.users["mgr_2"].id,
        reason,
    )
    ticket = fresh(row.ticket_id)
    assert ticket.status == "in_progress"
    assert ticket.resolution_summary is None
    assert callbacks(ticket.id) == []
    [event] = events(ticket.id, "rejected")
    assert not event.is_public and event.body == reason
    db.session.expire_all()
    told = db.session.scalars(
        select(Notification).where(
            Notification.ticket_id == ticket.id, Notification.event == "proposal_rejected"
        )
    ).all()
    assert [n.recipient_user_id for n in told] == [org.users["resp_a1"].id]

    staff_page = login_as("resp_a1").get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    assert reason in staff_page and "Resolution rejected" in staff_page
    customer = customer_page(app, ticket)
    for secret in (reason, "Resolution rejected", REPLY, "600.00"):
        assert secret not in customer, secret
    assert "Being handled" in customer


# --- what needs a manager even for an explanation (R12) ----------------------------------------


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ({"serious": True}, "serious"),
        ({"concerns": "resp_a2"}, "concerns_staff"),
        ({"tier": 3}, "manager_tier"),
    ],
    ids=["serious", "concerns-staff", "manager-tier"],
)
def test_an_explanation_still_needs_a_manager_when_the_case_is_serious_about_staff_or_at_manager_tier(
    state: dict[str, Any], reason: str, app: Flask, org: Org, login_as: Any
) -> None:
    """R12: "anything marked serious", staff discipline, and what the managers decide (R9)."""
    ticket = new_ticket(app, org, owner="resp_a1", status="in_progress", **state)
    response = resolve(login_as("resp_a1"), ticket.id, outcome="explanation", customer_reply="Explained.")
    assert response.status_code == 303

    assert fresh(ticket.id).status == "awaiting_approval"
    [row] = proposals(ticket.id)
    assert (row.status, row.approval_reasons) == ("pending", reason)
    assert callbacks(ticket.id) == []
    assert "Explained." not in customer_page(app, ticket)
    assert f'id="proposal-{row.id}"' in login_as("mgr_1").get("/manage/approvals").get_data(as_text=True)


def test_the_case_page_markup_does_not_reveal_that_an_approval_is_pending_either__r11_i6(
    app: Flask, org: Org, login_as: Any
) -> None:
    """The status shown is "Being handled"; the page source must not say more than the words do."""
    row = propose_compensation(app, org, login_as)
    page = customer_page(app, row.ticket)
    assert "awaiting_approval" not in page
    assert "status-in_progress" in page  # what any case being worked on carries


# --- two managers at once (K3, K4) -------------------------------------------------------------


def _decide_in_own_worker(
    app: Flask,
    kind: str,
    user_id: int,
    proposal_id: int,
    barrier: threading.Barrier,
    results: dict[str, str],
    key: str,
) -> None:
    """One worker: load the proposal (as a page would), wait for the other, then decide."""
    try:
        with app.app_context():
            session = db.session()
            # Keep what was read, as two managers' pages were loaded before either clicked.
            session.expire_on_commit = False
            actor = session.get(User, user_id)
            row = session.get(ResolutionProposal, proposal_id)
            assert actor is not None and row is not None
            _ = (row.ticket.status, row.ticket.concerns_user_id, row.proposed_by.name)
            rules = current_rules()
            session.commit()  # end the read, so SQLite's writer lock is free for either worker
            barrier.wait(timeout=10)
            try:
                if kind == "approve":
                    resolutions.approve(session, actor, row, now=utcnow(), rules=rules)
                else:
                    resolutions.reject(session, actor, row, "Not like this", now=utcnow())
                results[key] = "won"
            except Conflict:
                results[key] = "conflict"
    except Exception as error:  # reported by the test, not lost in the thread
        results[key] = f"error: {error!r}"


@pytest.mark.parametrize(
    "contenders",
    [(("approve", "mgr_1"), ("reject", "mgr_2")), (("approve", "mgr_2"), ("approve", "mgr_2"))],
    ids=["approve-vs-reject-K4", "double-click-approve-K3"],
)
def test_of_two_decisions_at_the_same_moment_exactly_one_wins_and_the_other_is_a_conflict__k3_k4(
    contenders: tuple[tuple[str, str], tuple[str, str]], app: Flask, org: Org, login_as: Any
) -> None:
    row = propose_compensation(app, org, login_as)
    proposal_id, ticket_id = row.id, row.ticket_id
    users = {persona: org.users[persona].id for _kind, persona in contenders}
    db.session.commit()  # the test's own transaction must not hold SQLite's lock

    barrier = threading.Barrier(2)
    results: dict[str, str] = {}
    workers = [
        threading.Thread(
            target=_decide_in_own_worker,
            args=(app, kind, users[persona], proposal_id, barrier, results, f"{i}:{kind}"),
        )
        for i, (kind, persona) in enumerate(contenders)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert not any(worker.is_alive() for worker in workers)

    assert sorted(results.values()) == ["conflict", "won"], results
    winner = next(key for key, outcome in results.items() if outcome == "won").split(":")[1]
    [decided] = proposals(ticket_id)
    assert decided.status == ("approved" if winner == "approve" else "rejected")
    assert len(events(ticket_id, "approved")) + len(events(ticket_id, "rejected")) == 1
    ticket = fresh(ticket_id)
    if winner == "approve":
        assert ticket.status == "resolved"
        assert len(events(ticket_id, "resolved")) == 1
        assert len(callbacks(ticket_id)) == 1
    else:
        assert ticket.status == "in_progress"
        assert callbacks(ticket_id) == []

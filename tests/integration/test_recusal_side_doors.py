"""The side doors of recusal (R10; issue 12, holes 2 and 3; security.md G1, G2, G6).

Hole 2: a message about a case, queued for a staff member before they were named as the person
it is about (or before they lost sight of it some other way), must not reach them later. Naming
withdraws what was queued and the notices already shown; the dispatcher asks the visibility rule
again when a message leaves and drops — never sends, never retries — what fails, with an audit row.

Hole 3: the work the named person held on the case moves on in the naming's own transaction,
each move an internal line on the timeline: ownership, open callbacks (R17) and promises (R8) to
the lead of the ticket's department (a manager when the lead is the one named), a spot-check
re-check (R18) back to the managers, a proposal they would have signed (R12) left for another
manager. The new holder finds it on their lists; the named person finds none of it.

Mail goes out through the real file sender into a per-test folder; naming goes through the real
route (POST /staff/tickets/<id>/concerns, field `user`).
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    AuditLog,
    Callback,
    Notification,
    Promise,
    ResolutionProposal,
    SpotCheckItem,
    Ticket,
    TicketEvent,
    User,
    utcnow,
)
from portal.notifications import dispatch
from portal.notifications.dispatch import dispatch_due
from portal.services import ladder, resolutions, spot_checks, tickets
from portal.services.recusal import WITHDRAWN
from portal.services.settings import Rules
from tests.conftest import base_config, name_subject
from tests.conftest import page_text as page
from tests.conftest import post_signed_in as post
from tests.factories import Org, claimed, events, fresh, new_ticket

# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    config = base_config(database_url, tmp_path)
    config.update(MAIL_BACKEND="file", MAIL_DIR=str(tmp_path / "mail"), REDIS_URL="", NOTIFY_MAX_ATTEMPTS=3)
    return config


def mails_to(app: Flask, address: str) -> list[EmailMessage]:
    folder = Path(app.config["MAIL_DIR"])
    paths = sorted(folder.glob("*.eml")) if folder.exists() else []
    found = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in paths]
    return [m for m in found if address in str(m["To"])]  # type: ignore[misc]


def staff_mail(ticket_id: int, user: User, event: str) -> Notification:
    db.session.expire_all()
    return db.session.scalars(
        select(Notification).where(
            Notification.ticket_id == ticket_id,
            Notification.recipient_user_id == user.id,
            Notification.channel == "email",
            Notification.event == event,
        )
    ).one()


def in_app(ticket_id: int, user: User) -> list[Notification]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Notification).where(
                Notification.ticket_id == ticket_id,
                Notification.recipient_user_id == user.id,
                Notification.channel == "in_app",
            )
        )
    )


def unread_badge(client: FlaskClient) -> str:
    return page(client, "/staff/notifications/count")


def moves_since_naming(ticket_id: int) -> list[TicketEvent]:
    """The timeline lines written with the naming (from `staff_linked` on)."""
    history = events(ticket_id)
    start = max(i for i, e in enumerate(history) if e.kind == "staff_linked")
    return history[start:]


def assert_moves(ticket_id: int, actor: User, expected: list[tuple[str, str | None, str | None]]) -> None:
    """Every move is an internal line by the namer, written in the naming's transaction (one `at`)."""
    lines = moves_since_naming(ticket_id)
    assert [(e.kind, e.old_value, e.new_value) for e in lines[1:]] == expected
    assert all(not e.is_public and e.actor_id == actor.id for e in lines)
    assert len({e.at for e in lines}) == 1


def dropped_audit_rows(notification: Notification) -> list[AuditLog]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditLog).where(
                AuditLog.action == "notification_dropped",
                AuditLog.target == f"notification:{notification.id} ticket:{notification.ticket_id}",
            )
        )
    )


def escalated_to_lead_a(org: Org) -> Ticket:
    """A department-A case owned by resp_a1 and escalated to the lead: lead_a is mailed and told in-app."""
    ticket = claimed(org, "resp_a1")
    ladder.escalate(db.session, org.users["resp_a1"], ticket, "Needs the lead's decision.", now=utcnow())
    return ticket


# --- hole 2: nothing reaches the person named -------------------------------------------------


def test_an_escalation_queued_for_a_lead_who_is_then_named_is_withdrawn_and_never_mailed__r10_g2(
    app: Flask, org: Org, login_as: Any
) -> None:
    lead_a = org.users["lead_a"]
    ticket = escalated_to_lead_a(org)
    lead = login_as("lead_a")
    assert f"Escalated to you: {ticket.reference}" in page(lead, "/staff/notifications")  # the control
    assert 'class="count unread"' in unread_badge(lead)
    assert staff_mail(ticket.id, lead_a, "escalated").status == "pending"

    assert name_subject(login_as("mgr_1"), ticket.id, lead_a.id).status_code == 303

    # Withdrawn by the naming itself, before any dispatcher runs.
    mail = staff_mail(ticket.id, lead_a, "escalated")
    assert (mail.status, mail.last_error) == ("dropped", WITHDRAWN)
    assert {n.status for n in in_app(ticket.id, lead_a)} == {"dropped"}
    result = dispatch_due(db.session, utcnow())
    assert result.sent >= 1  # the customer's acknowledgement still goes out
    assert mails_to(app, lead_a.email) == []
    assert mails_to(app, "wang@example.org") != []
    assert staff_mail(ticket.id, lead_a, "escalated").status == "dropped"
    inbox = page(lead, "/staff/notifications")
    assert ticket.reference not in inbox and "Escalated to you" not in inbox
    assert 'class="count unread"' not in unread_badge(lead)


@pytest.mark.parametrize(
    "lost_sight",
    ["named_after_the_mail_was_queued", "transferred_to_another_department", "deactivated"],
)
def test_the_dispatcher_drops_mail_for_a_recipient_who_may_no_longer_see_the_case_with_an_audit_row__r10_r20(
    app: Flask, org: Org, lost_sight: str
) -> None:
    """The check at send time is what holds when the naming's withdrawal could not see the row:
    a message queued by a transaction that read the case before the naming committed, a transfer
    (R20: the lead no longer sees another department's case), an account switched off."""
    lead_a = org.users["lead_a"]
    ticket = escalated_to_lead_a(org)
    if lost_sight == "named_after_the_mail_was_queued":
        fresh(ticket.id).concerns_user_id = lead_a.id  # the naming that raced the escalation
    elif lost_sight == "transferred_to_another_department":
        tickets.transfer(
            db.session,
            org.users["resp_a1"],
            fresh(ticket.id),
            org.departments["B"].id,
            "Theirs.",
            now=utcnow(),
        )
    else:
        lead_a.active = False
    db.session.commit()
    queued = staff_mail(ticket.id, lead_a, "escalated")
    assert queued.status == "pending"

    result = dispatch_due(db.session, utcnow())

    assert result.dropped == 1
    assert mails_to(app, lead_a.email) == []
    dropped = staff_mail(ticket.id, lead_a, "escalated")
    assert (dropped.status, dropped.last_error, dropped.sent_at) == ("dropped", dispatch.NOT_VISIBLE, None)
    [row] = dropped_audit_rows(dropped)
    assert row.outcome == "ok" and "@" not in (row.target or "")
    # Never sent later, never retried.
    assert dispatch_due(db.session, utcnow() + timedelta(hours=2)).dropped == 0
    with pytest.raises(ValueError):
        dispatch.retry(db.session, dropped, utcnow())
    assert mails_to(app, lead_a.email) == []
    assert len(dropped_audit_rows(dropped)) == 1


def test_notices_withdrawn_at_naming_stay_out_of_the_list_count_and_links_after_the_naming_is_undone__r10(
    app: Flask, org: Org, login_as: Any
) -> None:
    lead_a = org.users["lead_a"]
    ticket = escalated_to_lead_a(org)
    [notice] = [n for n in in_app(ticket.id, lead_a) if n.event == "escalated"]
    manager = login_as("mgr_1")
    assert name_subject(manager, ticket.id, lead_a.id).status_code == 303
    assert name_subject(manager, ticket.id, 0).status_code == 303  # a mistake, put right
    assert fresh(ticket.id).concerns_user_id is None
    lead = login_as("lead_a")
    assert lead.get(f"/staff/tickets/{ticket.id}").status_code == 200  # they may see the case again

    assert ticket.reference not in page(lead, "/staff/notifications")
    assert 'class="count unread"' not in unread_badge(lead)
    opened = post(lead, f"/staff/notifications/{notice.id}/read", {})
    assert opened.status_code == 303
    assert f"/staff/tickets/{ticket.id}" not in opened.headers["Location"]


# --- hole 3: the work moves on ----------------------------------------------------------------


def test_naming_the_owner_of_a_resolved_case_hands_the_case_and_its_callback_to_the_lead__r10_r17_r6(
    app: Flask, org: Org, login_as: Any, rules: Rules
) -> None:
    staff_s, lead_a = org.users["staff_s"], org.users["lead_a"]
    ticket = claimed(org, "staff_s")
    resolutions.resolve_or_propose(
        db.session,
        staff_s,
        ticket,
        resolutions.ProposalInput(summary="Explained the rules.", customer_reply="Here is why."),
        now=utcnow(),
        rules=rules,
    )
    [callback] = db.session.scalars(select(Callback).where(Callback.ticket_id == ticket.id)).all()
    assert callback.owner_id == staff_s.id
    lead = login_as("lead_a")
    assert f'id="callback-{callback.id}"' not in page(lead, "/staff/callbacks")  # the control

    assert name_subject(lead, ticket.id, staff_s.id).status_code == 303

    assert fresh(ticket.id).owner_id == lead_a.id
    db.session.expire_all()
    assert db.session.get(Callback, callback.id).owner_id == lead_a.id  # type: ignore[union-attr]
    assert_moves(
        ticket.id,
        lead_a,
        [("owner_recused", "Staff S", "Lead A"), ("callback_handed_over", "Staff S", "Lead A")],
    )
    assert f'id="callback-{callback.id}"' in page(lead, "/staff/callbacks")
    named = login_as("staff_s")
    mine = page(named, "/staff/callbacks")
    assert f'id="callback-{callback.id}"' not in mine and ticket.reference not in mine
    assert ticket.reference not in page(named, "/staff/queue?scope=mine&status=all")
    assert ticket.reference not in page(named, "/staff/notifications")
    # The lead can make the call (R17).
    recorded = post(
        lead, f"/staff/callbacks/{callback.id}", {f"cb{callback.id}-reached": "yes"}, f"cb{callback.id}"
    )
    assert recorded.status_code == 303
    db.session.expire_all()
    assert db.session.get(Callback, callback.id).completed_at is not None  # type: ignore[union-attr]


def test_naming_a_responder_hands_their_open_case_and_promise_to_the_lead_who_is_told__r10_r8_r6(
    app: Flask, org: Org, login_as: Any, rules: Rules
) -> None:
    """A manager names; the work still goes one rung above the responder, to the department lead."""
    staff_s, lead_a = org.users["staff_s"], org.users["lead_a"]
    ticket = claimed(org, "staff_s")
    due = utcnow() + timedelta(days=1)
    tickets.reply(db.session, staff_s, ticket, "Looking into it.", now=utcnow(), rules=rules, promise_due=due)
    lead = login_as("lead_a")
    assert ticket.reference not in page(lead, "/staff/queue?scope=mine")  # the control

    assert name_subject(login_as("mgr_1"), ticket.id, staff_s.id).status_code == 303

    assert fresh(ticket.id).owner_id == lead_a.id
    [promise] = db.session.scalars(select(Promise).where(Promise.ticket_id == ticket.id)).all()
    assert promise.made_by_id == lead_a.id and promise.kept_at is None
    assert_moves(
        ticket.id,
        org.users["mgr_1"],
        [("owner_recused", "Staff S", "Lead A"), ("promise_handed_over", "Staff S", "Lead A")],
    )
    assert ticket.reference in page(lead, "/staff/queue?scope=mine")
    assert f"Work on a case was handed over to you: {ticket.reference}" in page(lead, "/staff/notifications")
    named = login_as("staff_s")
    assert ticket.reference not in page(named, "/staff/queue?scope=mine&status=all")
    assert ticket.reference not in page(named, "/staff/notifications")


def test_naming_the_lead_who_owns_a_case_hands_the_case_and_callback_to_the_naming_manager__r10_r9_r17(
    app: Flask, org: Org, login_as: Any, rules: Rules
) -> None:
    """The lead is the one named: the next rung is a manager, and the manager naming is one."""
    lead_a, mgr_1 = org.users["lead_a"], org.users["mgr_1"]
    ticket = claimed(org, "lead_a")
    resolutions.resolve_or_propose(
        db.session,
        lead_a,
        ticket,
        resolutions.ProposalInput(summary="Replaced it.", customer_reply="A new kettle is on its way."),
        now=utcnow(),
        rules=rules,
    )
    [callback] = db.session.scalars(select(Callback).where(Callback.ticket_id == ticket.id)).all()
    manager = login_as("mgr_1")

    assert name_subject(manager, ticket.id, lead_a.id).status_code == 303

    assert fresh(ticket.id).owner_id == mgr_1.id
    db.session.expire_all()
    assert db.session.get(Callback, callback.id).owner_id == mgr_1.id  # type: ignore[union-attr]
    assert_moves(
        ticket.id,
        mgr_1,
        [("owner_recused", "Lead A", "Mgr 1"), ("callback_handed_over", "Lead A", "Mgr 1")],
    )
    assert f'id="callback-{callback.id}"' in page(manager, "/staff/callbacks")
    assert in_app(ticket.id, mgr_1) == []  # the manager naming needs no notice of their own act
    named = login_as("lead_a")
    assert f'id="callback-{callback.id}"' not in page(named, "/staff/callbacks")
    assert ticket.reference not in page(named, "/staff/queue?scope=all&status=all")


def test_a_promise_made_by_a_lead_named_by_the_owner_goes_to_a_manager_and_ownership_stays__r10_r8_r6(
    app: Flask, org: Org, login_as: Any, rules: Rules
) -> None:
    """The owner (a responder) names the lead who gave the customer a promised time: the promise
    goes a rung above the lead, to a manager, who is told; the owner keeps the case (R6)."""
    resp_a1, lead_a, mgr_1 = org.users["resp_a1"], org.users["lead_a"], org.users["mgr_1"]
    ticket = claimed(org, "resp_a1")
    due = utcnow() + timedelta(days=2)
    tickets.reply(
        db.session, lead_a, ticket, "I am looking at it.", now=utcnow(), rules=rules, promise_due=due
    )

    assert name_subject(login_as("resp_a1"), ticket.id, lead_a.id).status_code == 303

    assert fresh(ticket.id).owner_id == resp_a1.id
    [promise] = db.session.scalars(select(Promise).where(Promise.ticket_id == ticket.id)).all()
    assert promise.made_by_id == mgr_1.id  # the first manager by name: the namer is no manager
    assert_moves(ticket.id, resp_a1, [("promise_handed_over", "Lead A", "Mgr 1")])
    assert f"Work on a case was handed over to you: {ticket.reference}" in page(
        login_as("mgr_1"), "/staff/notifications"
    )
    assert ticket.reference not in page(login_as("lead_a"), "/staff/notifications")


def test_naming_the_lead_assigned_to_re_check_a_case_unassigns_it_and_tells_the_managers__r18_r10(
    app: Flask, org: Org, login_as: Any
) -> None:
    """Responders never re-check (R18: leads and managers do), so this is a lead's work only."""
    lead_a, mgr_1, mgr_2 = org.users["lead_a"], org.users["mgr_1"], org.users["mgr_2"]
    ticket = new_ticket(app, org, owner="resp_a1", status="resolved")
    ticket.resolved_at = datetime(2026, 8, 10, 3, tzinfo=UTC)
    db.session.commit()
    check = spot_checks.draw(
        db.session, mgr_1, "2026-Q3", percent=100, seed="side-doors", timezone="UTC", now=utcnow()
    )
    [item] = db.session.scalars(select(SpotCheckItem).where(SpotCheckItem.spot_check_id == check.id)).all()
    spot_checks.assign_reviewer(db.session, mgr_1, item, lead_a, now=utcnow())
    lead = login_as("lead_a")
    assert ticket.reference in page(lead, "/manage/spot-checks")  # the control

    assert name_subject(login_as("mgr_2"), ticket.id, lead_a.id).status_code == 303

    db.session.expire_all()
    item = db.session.get(SpotCheckItem, item.id)  # type: ignore[assignment]
    assert item.reviewer_id is None and item.reviewed_at is None
    assert fresh(ticket.id).owner_id == org.users["resp_a1"].id
    assert_moves(ticket.id, mgr_2, [("recheck_unassigned", "Lead A", None)])
    for manager in (mgr_1, mgr_2):
        assert {n.event for n in in_app(ticket.id, manager)} == {"spot_check_unassigned"}
    assert "A spot-check re-check needs another reviewer" in page(login_as("mgr_1"), "/staff/notifications")
    assert ticket.reference not in page(lead, "/manage/spot-checks")
    assert ticket.reference not in page(lead, "/staff/notifications")
    # The head of service picks another reviewer.
    spot_checks.assign_reviewer(db.session, mgr_1, item, mgr_2, now=utcnow())
    assert fresh(ticket.id).id == ticket.id and item.reviewer_id == mgr_2.id


def test_naming_a_manager_leaves_the_proposal_they_would_have_signed_pending_for_another__r12_r10_g6(
    app: Flask, org: Org, login_as: Any, rules: Rules
) -> None:
    resp_a1, mgr_1, mgr_2, lead_a = (org.users[p] for p in ("resp_a1", "mgr_1", "mgr_2", "lead_a"))
    ticket = claimed(org, "resp_a1")
    proposal = resolutions.resolve_or_propose(
        db.session,
        resp_a1,
        ticket,
        resolutions.ProposalInput(
            summary="Goodwill payment.",
            customer_reply="We will pay you.",
            outcome="compensation",
            amount_minor=60_000,
        ),
        now=utcnow(),
        rules=rules,
    )
    assert proposal.status == "pending"
    assert staff_mail(ticket.id, mgr_2, "approval_waiting").status == "pending"

    assert name_subject(login_as("lead_a"), ticket.id, mgr_2.id).status_code == 303

    db.session.expire_all()
    assert db.session.get(ResolutionProposal, proposal.id).status == "pending"  # type: ignore[union-attr]
    assert_moves(ticket.id, lead_a, [("approver_recused", "Mgr 2", None)])
    assert staff_mail(ticket.id, mgr_2, "approval_waiting").status == "dropped"
    dispatch_due(db.session, utcnow())
    assert mails_to(app, mgr_2.email) == [] and len(mails_to(app, mgr_1.email)) == 1
    assert ticket.reference not in page(login_as("mgr_2"), "/manage/approvals")
    assert ticket.reference in page(login_as("mgr_1"), "/manage/approvals")
    resolutions.approve(
        db.session, mgr_1, db.session.get(ResolutionProposal, proposal.id), now=utcnow(), rules=rules
    )  # type: ignore[arg-type]
    assert fresh(ticket.id).status == "resolved"

"""The transactional outbox: who is told of what, written in the same transaction as the change.

Every customer-facing step (R3 acknowledgement, R13 public replies, R15 the outcome, R16 reopening)
leaves exactly one pending row for the customer's preferred channel; staff hear of what needs
them (transfer, escalation, approval) in the portal, by email where they must act at once; the
person a complaint is about never hears of it (R10). A change that rolls back tells nobody.
Nothing is sent here: sending is the dispatcher's job (test_dispatch_and_jobs.py).
"""

from __future__ import annotations

import secrets
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import Notification, Ticket
from portal.services import aftercare, filing, ladder, outbox, resolutions, tickets
from portal.web.context import rules
from tests import factories
from tests.conftest import base_config, post_form
from tests.factories import T0, Org, ticket_via_service

CUSTOMER_EMAIL = "wang@example.org"


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    config = base_config(database_url, tmp_path)
    config.update(MAIL_BACKEND="file", MAIL_DIR=str(tmp_path / "mail"), REDIS_URL="")
    return config


# --- helpers -------------------------------------------------------------------------------

# Filed (and claimed) at T0, with the app's own rules: its SECRET_KEY signs the links.
file = partial(ticket_via_service, now=T0)
claimed = partial(factories.claimed, now=T0)


def rows(**filters: Any) -> list[Notification]:
    db.session.expire_all()
    query = select(Notification).order_by(Notification.id)
    for name, value in filters.items():
        query = query.where(getattr(Notification, name) == value)
    return list(db.session.scalars(query))


def row_count() -> int:
    db.session.expire_all()
    return int(db.session.scalar(select(func.count(Notification.id))) or 0)


def new_rows(before: int) -> list[Notification]:
    return [row for row in rows() if row.id > before]


def last_id() -> int:
    return int(db.session.scalar(select(func.max(Notification.id))) or 0)


def staff_rows(ticket: Ticket, event: str) -> list[Notification]:
    return [row for row in rows(ticket_id=ticket.id, event=event) if row.recipient_user_id is not None]


def recipients(notifications: list[Notification], channel: str) -> set[int | None]:
    return {row.recipient_user_id for row in notifications if row.channel == channel}


def ids(org: Org, *personas: str) -> set[int | None]:
    return {org.users[persona].id for persona in personas}


def mail_files(app: Flask) -> list[Path]:
    folder = Path(app.config["MAIL_DIR"])
    return sorted(folder.glob("*.eml")) if folder.exists() else []


# --- filing --------------------------------------------------------------------------------


def test_filing_on_the_form_writes_one_pending_acknowledgement_in_the_page_language__r3(
    app: Flask, client: Any, org: Org
) -> None:
    data = {
        "name": "Wang Fang",
        "email": CUSTOMER_EMAIL,
        "phone": "",
        "preferred_contact": "email",
        "category": str(org.categories["A"].id),
        "subject": "Kettle broke",
        "description": "It stopped working after a week.",
        "consent": "y",
        "idempotency_key": secrets.token_urlsafe(24),
    }
    response = post_form(client, "/complaints/new?lang=zh", data, page="/complaints/new?lang=zh")
    assert response.status_code == 303, response.get_data(as_text=True)

    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.locale == "zh"
    customer = [row for row in rows(ticket_id=ticket.id) if row.recipient_user_id is None]
    assert len(customer) == 1
    ack = customer[0]
    assert (ack.event, ack.channel, ack.to_address, ack.locale) == ("filed", "email", CUSTOMER_EMAIL, "zh")
    assert (ack.status, ack.attempts, ack.sent_at) == ("pending", 0, None)
    assert ack.ticket_event is not None and ack.ticket_event.kind == "filed"


def test_filing_tells_the_departments_lead_in_the_portal_and_sends_nothing_yet(
    app: Flask, client: Any, org: Org
) -> None:
    ticket = file(org)
    new_ticket = staff_rows(ticket, "new_ticket")
    assert recipients(new_ticket, "in_app") == ids(org, "lead_a")
    assert recipients(new_ticket, "email") == set()  # in the portal only
    assert [row.status for row in rows(channel="email")] == ["pending"]
    assert mail_files(app) == []  # the request that caused it never sends


# --- rollback tells nobody -------------------------------------------------------------------


def test_a_notification_added_to_a_transaction_that_rolls_back_leaves_no_row(app: Flask, org: Org) -> None:
    ticket = file(org)
    before = row_count()
    outbox.notify_customer(db.session, ticket, "reply", now=T0)
    db.session.flush()
    assert db.session.scalar(select(func.count(Notification.id))) == before + 1  # written, in the tx
    db.session.rollback()
    assert row_count() == before


def test_filing_that_fails_after_writing_its_notifications_leaves_none_behind(app: Flask, org: Org) -> None:
    """The service writes the acknowledgement, then its commit fails: nobody is told of a complaint
    that does not exist (issue 4: rollback sends nothing)."""
    first = file(org)
    # The next complaint's reference will be taken: the service fails at its flush, after the
    # acknowledgement and the lead's notice were added to the same transaction.
    first.reference = f"CP-{T0.year}-{first.id + 1:06d}"
    db.session.commit()
    before_rows, before_tickets = row_count(), db.session.scalar(select(func.count(Ticket.id)))

    with pytest.raises(IntegrityError):
        file(org, subject="Second complaint")

    assert row_count() == before_rows
    assert db.session.scalar(select(func.count(Ticket.id))) == before_tickets
    assert rows(event="filed", to_address=CUSTOMER_EMAIL)[0].ticket_id == first.id


def test_a_refused_transfer_writes_no_transferred_notice(app: Flask, org: Org) -> None:
    ticket = file(org)
    before = row_count()
    with pytest.raises(ValueError, match="already with that department"):
        tickets.transfer(db.session, org.users["lead_a"], ticket, org.departments["A"].id, "x", now=T0)
    db.session.rollback()
    assert row_count() == before
    assert rows(event="transferred") == []


# --- the customer hears of every public step (R13, R15, R16) ----------------------------------


def test_a_public_reply_notifies_the_customer_with_the_reply_event__r13(app: Flask, org: Org) -> None:
    ticket = claimed(org)
    before = last_id()
    tickets.reply(db.session, org.users["resp_a1"], ticket, "We are looking at it.", now=T0, rules=rules())
    added = new_rows(before)
    assert [(row.event, row.channel, row.to_address, row.status) for row in added] == [
        ("reply", "email", CUSTOMER_EMAIL, "pending")
    ]
    assert added[0].ticket_event is not None
    assert (added[0].ticket_event.kind, added[0].ticket_event.body) == ("reply", "We are looking at it.")


def test_an_internal_note_notifies_nobody(app: Flask, org: Org) -> None:
    ticket = claimed(org)
    before = row_count()
    tickets.add_note(db.session, org.users["resp_a1"], ticket, "Customer sounded upset.", now=T0)
    assert row_count() == before


def test_the_outcome_and_a_customers_not_resolved_each_notify_the_customer__r15_r16(
    app: Flask, org: Org
) -> None:
    ticket = claimed(org)
    before = last_id()
    resolutions.resolve_or_propose(
        db.session,
        org.users["resp_a1"],
        ticket,
        resolutions.ProposalInput(summary="Faulty unit.", customer_reply="We will replace your kettle."),
        now=T0,
        rules=rules(),
    )
    resolved = [row for row in new_rows(before) if row.recipient_user_id is None]
    assert [(row.event, row.channel, row.to_address) for row in resolved] == [
        ("resolved", "email", CUSTOMER_EMAIL)
    ]
    assert resolved[0].ticket_event is not None and resolved[0].ticket_event.kind == "resolved"

    before = last_id()
    aftercare.customer_answer(
        db.session, ticket, satisfied=False, satisfaction=2, comment="Still broken.", now=T0, rules=rules()
    )
    added = new_rows(before)
    customer = [row for row in added if row.recipient_user_id is None]
    assert [(row.event, row.channel, row.to_address) for row in customer] == [
        ("reopened", "email", CUSTOMER_EMAIL)
    ]
    # R16: reopened one tier up, so the department's lead is told, in the portal and by email.
    escalated = [row for row in added if row.event == "escalated"]
    assert recipients(escalated, "in_app") == recipients(escalated, "email") == ids(org, "lead_a")


def test_a_customer_who_prefers_the_phone_is_notified_by_sms(app: Flask, org: Org) -> None:
    ticket = file(org, customer_phone="+8613800138000", preferred_contact="phone")
    customer = [row for row in rows(ticket_id=ticket.id) if row.recipient_user_id is None]
    assert [(row.event, row.channel, row.to_address) for row in customer] == [
        ("filed", "sms", "+8613800138000")
    ]


def test_anonymous_feedback_without_contact_notifies_no_customer(app: Flask, org: Org) -> None:
    ticket = filing.file_ticket(
        db.session,
        filing.Intake(
            kind="feedback",
            customer_name="Anonymous",
            subject="Praise from the website",
            description="Friendly staff.",
            feedback_kind="praise",
        ),
        [],
        now=T0,
        rules=rules(),
    ).ticket
    assert [row for row in rows(ticket_id=ticket.id) if row.channel != "in_app"] == []


# --- staff hear of what needs them ---------------------------------------------------------


def test_a_transfer_tells_the_new_departments_responders_and_lead_in_the_portal(app: Flask, org: Org) -> None:
    ticket = file(org)
    tickets.transfer(db.session, org.users["lead_a"], ticket, org.departments["B"].id, "Theirs", now=T0)
    transferred = staff_rows(ticket, "transferred")
    assert recipients(transferred, "in_app") == ids(org, "resp_b1", "lead_b")
    assert recipients(transferred, "email") == set()


def test_an_escalation_tells_the_lead_in_the_portal_and_by_email__r9(app: Flask, org: Org) -> None:
    ticket = claimed(org)
    ladder.escalate(db.session, org.users["resp_a1"], ticket, "Too big for me", now=T0)
    escalated = staff_rows(ticket, "escalated")
    assert recipients(escalated, "in_app") == ids(org, "lead_a")
    emails = [row for row in escalated if row.channel == "email"]
    assert [(row.recipient_user_id, row.to_address, row.status) for row in emails] == [
        (org.users["lead_a"].id, "lead_a@example.com", "pending")
    ]


def test_a_proposal_needing_approval_tells_every_manager_but_the_proposer__r12(app: Flask, org: Org) -> None:
    ticket = file(org)
    resolutions.resolve_or_propose(
        db.session,
        org.users["mgr_1"],
        ticket,
        resolutions.ProposalInput(
            summary="Refund above the threshold.",
            customer_reply="We refund you.",
            outcome="compensation",
            amount_minor=90_000,
        ),
        now=T0,
        rules=rules(),
    )
    waiting = staff_rows(ticket, "approval_waiting")
    assert recipients(waiting, "in_app") == recipients(waiting, "email") == ids(org, "mgr_2")
    # The customer hears nothing of a proposal until it is approved (R11).
    assert rows(ticket_id=ticket.id, event="resolved") == []


def test_the_person_a_complaint_is_about_is_never_told_of_a_transfer__r10(app: Flask, org: Org) -> None:
    ticket = file(org)
    ticket.concerns_user_id = org.users["resp_b1"].id
    db.session.commit()
    tickets.transfer(db.session, org.users["lead_a"], ticket, org.departments["B"].id, "Theirs", now=T0)
    assert recipients(staff_rows(ticket, "transferred"), "in_app") == ids(org, "lead_b")


def test_the_person_a_complaint_is_about_is_never_told_of_its_escalation__r10(app: Flask, org: Org) -> None:
    ticket = claimed(org)
    ticket.concerns_user_id = org.users["lead_a"].id
    db.session.commit()
    before = last_id()
    ladder.escalate(db.session, org.users["resp_a1"], ticket, "Needs a lead", now=T0)
    assert ticket.tier == 2  # it did move up: to a tier whose only lead is the person it is about
    assert [row for row in new_rows(before) if row.recipient_user_id is not None] == []


def test_the_manager_a_complaint_is_about_is_never_asked_to_approve_it__r10(app: Flask, org: Org) -> None:
    ticket = claimed(org)
    ticket.concerns_user_id = org.users["mgr_2"].id
    db.session.commit()
    resolutions.resolve_or_propose(
        db.session,
        org.users["resp_a1"],
        ticket,
        resolutions.ProposalInput(summary="Staff member spoken to.", customer_reply="We have acted."),
        now=T0,
        rules=rules(),
    )
    waiting = staff_rows(ticket, "approval_waiting")
    assert recipients(waiting, "in_app") == recipients(waiting, "email") == ids(org, "mgr_1")

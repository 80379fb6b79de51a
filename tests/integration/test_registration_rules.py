"""Registering a complaint for a customer (issue 11, items 1 and 2).

1. R1, R6: the staff member who registers a complaint took it first, so they own it — also when its
   category routes it to another department — and they see the confirmation and the case.
2. R1, R2: a letter or a visit may come with only a postal address; online, an email address or a
   phone number is still required. With nobody to mail, no email or SMS is queued, and the clocks run.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import Flask
from sqlalchemy import select

from portal.extensions import db
from portal.models import Notification, Ticket
from portal.services import outbox
from tests.conftest import complaint_data, post_form
from tests.factories import Org, events, fresh

REGISTERED_LINK = re.compile(r"<code>http://portal\.test(/track/[A-Za-z0-9_-]+)</code>")


def registration(org: Org, department: str = "A", **overrides: str) -> dict[str, str]:
    data = {
        "channel": "phone",
        "name": "Li Lei",
        "email": "",
        "phone": "+86 138 0013 8000",
        "preferred_contact": "phone",
        "address": "",
        "category": str(org.categories[department].id),
        "subject": "Rude delivery driver",
        "description": "Called to say the driver shouted at him.",
        "consent": "y",
        "idempotency_key": secrets.token_urlsafe(24),
    }
    data.update(overrides)
    return data


def the_ticket(subject: str) -> Ticket:
    db.session.expire_all()
    return db.session.scalars(select(Ticket).where(Ticket.subject == subject)).one()


# --- 1. registering into another department (R1, R6) ------------------------------------------


def test_a_responder_registering_into_another_department_owns_it_and_sees_the_confirmation__r6(
    app: Flask, org: Org, login_as: Any
) -> None:
    staff = login_as("resp_a1")
    response = post_form(staff, "/staff/complaints/new", registration(org, "B"))
    assert response.status_code == 303
    ticket = the_ticket("Rude delivery driver")
    assert ticket.department_id == org.departments["B"].id
    assert response.location.endswith(f"/staff/complaints/{ticket.id}/registered")

    confirmation = staff.get(response.location)
    assert confirmation.status_code == 200
    page = confirmation.get_data(as_text=True)
    assert ticket.reference in page
    assert REGISTERED_LINK.search(page), "the confirmation does not show the customer's link"

    # Claimed at registration, as a claim would have done it.
    ticket = fresh(ticket.id)
    me = org.users["resp_a1"].id
    assert ticket.owner_id == me
    assert ticket.status == "in_progress"
    assert ticket.acknowledged_at is not None
    assert ticket.due_at == ticket.resolve_due_at
    assert [(e.kind, e.actor_id) for e in events(ticket.id)] == [("filed", me), ("claimed", me)]
    assert [e.new_value for e in events(ticket.id, "claimed")] == [str(me)]

    # The owner keeps the case; the handling department sees it too.
    assert staff.get(f"/staff/tickets/{ticket.id}").status_code == 200
    queue = login_as("lead_b").get("/staff/queue").get_data(as_text=True)
    assert "Rude delivery driver" in queue


# --- 2. letters with only a postal address (R1, R2) ----------------------------------------------


def test_a_letter_with_only_a_postal_address_is_registered_and_nobody_is_mailed__r2(
    app: Flask, org: Org, login_as: Any
) -> None:
    staff = login_as("resp_a1")
    address = "12 Renmin Road, Room 301, Hangzhou 310000"
    response = post_form(
        staff,
        "/staff/complaints/new",
        registration(
            org,
            channel="letter",
            phone="",
            preferred_contact="email",
            address=address,
            subject="Letter about a broken kettle",
        ),
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    ticket = the_ticket("Letter about a broken kettle")
    assert (ticket.channel, ticket.customer_address) == ("letter", address)
    assert (ticket.customer_email, ticket.customer_phone) == (None, None)
    assert ticket.preferred_contact == "post"
    assert ticket.ack_due_at is not None and ticket.resolve_due_at is not None

    def customer_messages() -> list[Notification]:
        db.session.expire_all()
        return list(
            db.session.scalars(
                select(Notification).where(
                    Notification.ticket_id == ticket.id, Notification.channel.in_(("email", "sms"))
                )
            )
        )

    assert customer_messages() == []
    # The outcome cannot be mailed either: nothing is queued for the customer.
    outbox.notify_customer(db.session, fresh(ticket.id), "resolved", now=ticket.received_at)
    db.session.commit()
    assert customer_messages() == []

    page = staff.get(response.location).get_data(as_text=True)
    assert address in page


def test_a_phone_registration_with_only_a_postal_address_is_still_refused__r2(
    app: Flask, org: Org, login_as: Any
) -> None:
    staff = login_as("resp_a1")
    response = post_form(
        staff,
        "/staff/complaints/new",
        registration(org, phone="", address="12 Renmin Road", subject="Phoned, no number given"),
    )
    assert response.status_code == 422
    assert (
        db.session.scalars(select(Ticket).where(Ticket.subject == "Phoned, no number given")).first() is None
    )


def test_the_online_form_without_email_or_phone_is_still_refused_even_with_an_address__r2(
    app: Flask, org: Org
) -> None:
    customer = app.test_client()
    response = post_form(
        customer,
        "/complaints/new",
        complaint_data(org, email="", phone="", address="12 Renmin Road", subject="No way to reach me"),
    )
    assert response.status_code == 422
    assert "Give an email address or a phone number so we can reply." in response.get_data(as_text=True)
    assert db.session.scalars(select(Ticket).where(Ticket.subject == "No way to reach me")).first() is None

""" "Lost my link" (security.md I5, I8) and the staff notification inbox (R13, R10).

The public page answers the same whether or not a reference and contact match, sends the new
link only to the contact on file, revokes the old one and is rate-limited. Staff see their
in-app notices with an htmx count, mark them read, and never see notices about a complaint
concerning themselves.
"""

from __future__ import annotations

import email
import email.policy
import re
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.models import Notification, Ticket, utcnow
from portal.notifications.dispatch import dispatch_due
from tests.conftest import base_config, post_form
from tests.factories import Org, file_via_service

CUSTOMER_EMAIL = "wang@example.org"
CUSTOMER_PHONE = "+8613800138000"
TRACK_LINK = re.compile(r"http://portal\.test(/track/[A-Za-z0-9_-]+)")
TOKENS = re.compile(
    r'("X-CSRFToken": "|name="csrf_token" type="hidden" value="|name="csrf_token" value=")[^"]+'
)
COUNT_HEADERS = {"HX-Request": "true", "HX-Target": "notification-count"}
UNREAD = re.compile(r'<span class="count unread">(\d+)</span>')


@pytest.fixture
def app_config(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    config = base_config(database_url, tmp_path)
    config.update(MAIL_BACKEND="file", MAIL_DIR=str(tmp_path / "mail"), REDIS_URL="")
    config.update(getattr(request, "param", {}))
    return config


# --- helpers -------------------------------------------------------------------------------

# Filed now with the app's own rules, by a customer who gave a phone number too.
file = partial(file_via_service, subject="Broken kettle", customer_phone=CUSTOMER_PHONE)


def lost_link(client: FlaskClient, reference: str, contact: str) -> Any:
    return post_form(client, "/lost-link", {"reference": reference, "contact": contact}, page="/lost-link")


def without_tokens(html: str) -> str:
    return TOKENS.sub(r"\1", html)


def resent(ticket: Ticket | None = None) -> list[Notification]:
    db.session.expire_all()
    query = select(Notification).where(Notification.event == "link_resent").order_by(Notification.id)
    if ticket is not None:
        query = query.where(Notification.ticket_id == ticket.id)
    return list(db.session.scalars(query))


def link_in_mail(app: Flask, notification_id: int) -> str:
    path = Path(app.config["MAIL_DIR"]) / f"{notification_id:08d}.eml"
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    match = TRACK_LINK.search(body.get_content())
    assert match, "no tracking link in the mail"
    return match.group(1)


def opens_case(path: str, ticket: Ticket, app: Flask) -> bool:
    response = app.test_client().get(path)
    return response.status_code == 303 and response.location.endswith(f"/case/{ticket.reference}")


# --- lost my link ----------------------------------------------------------------------------


def test_lost_link_answers_the_same_whether_or_not_the_pair_matches__i8(
    app: Flask, client: FlaskClient, org: Org
) -> None:
    ticket = file(org).ticket
    other = file(org, customer_email="li@example.org", customer_phone=None).ticket
    attempts = {
        "right pair": (ticket.reference, CUSTOMER_EMAIL),
        "wrong email": (ticket.reference, "attacker@evil.test"),
        "someone else's email": (ticket.reference, "li@example.org"),
        "unknown reference": (f"CP-{utcnow().year}-999999", CUSTOMER_EMAIL),
        "unknown reference and phone": ("CP-0000-000000", "+8613900000000"),
    }
    bodies = {}
    for name, (reference, contact) in attempts.items():
        response = lost_link(client, reference, contact)
        assert response.status_code == 200, name
        bodies[name] = without_tokens(response.get_data(as_text=True))
    assert 'id="lost-link-sent"' in bodies["right pair"]
    assert {body == bodies["right pair"] for body in bodies.values()} == {True}

    [row] = resent()
    assert (row.ticket_id, row.channel, row.to_address, row.status) == (
        ticket.id,
        "email",
        CUSTOMER_EMAIL,
        "pending",
    )
    assert resent(other) == []


def test_the_new_link_goes_to_the_address_on_file_not_the_one_typed__i8(
    app: Flask, client: FlaskClient, org: Org
) -> None:
    ticket = file(org).ticket
    assert lost_link(client, ticket.reference.lower(), "  WANG@Example.ORG ").status_code == 200
    [row] = resent(ticket)
    assert row.to_address == CUSTOMER_EMAIL  # as stored, whatever the requester typed


def test_lost_link_revokes_the_old_link_and_the_mailed_one_opens_the_case__i5(
    app: Flask, client: FlaskClient, org: Org
) -> None:
    filed = file(org)
    ticket = filed.ticket
    old_link = f"/track/{filed.tracking_token}"
    assert opens_case(old_link, ticket, app)

    assert lost_link(client, ticket.reference, CUSTOMER_EMAIL).status_code == 200
    [row] = resent(ticket)
    db.session.commit()
    result = dispatch_due(db.session, utcnow())
    assert result.failed == result.dead == 0
    db.session.expire_all()
    assert db.session.get(Notification, row.id).status == "sent"  # type: ignore[union-attr]

    new_link = link_in_mail(app, row.id)
    assert new_link != old_link
    assert app.test_client().get(old_link).status_code == 404  # I5: the old link stops working
    assert opens_case(new_link, ticket, app)


def test_a_phone_number_in_national_form_matches_the_stored_e164_number(
    app: Flask, client: FlaskClient, org: Org
) -> None:
    ticket = file(org).ticket
    assert lost_link(client, ticket.reference, "138 0013 8000").status_code == 200
    [row] = resent(ticket)
    assert row.to_address == CUSTOMER_EMAIL  # the customer's channel on file, not what was typed


def test_lost_link_for_a_ticket_without_that_phone_sends_nothing(
    app: Flask, client: FlaskClient, org: Org
) -> None:
    ticket = file(org).ticket
    assert lost_link(client, ticket.reference, "139 0000 0000").status_code == 200
    assert resent() == []


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True}], indirect=True)
def test_the_fourth_lost_link_request_within_a_minute_is_refused_with_429(
    app: Flask, client: FlaskClient, org: Org
) -> None:
    ticket = file(org).ticket
    for contact in ("a@example.org", "b@example.org", "c@example.org"):
        assert lost_link(client, ticket.reference, contact).status_code == 200
    assert lost_link(client, ticket.reference, CUSTOMER_EMAIL).status_code == 429
    assert resent() == []  # the refused request did nothing


# --- the staff inbox -------------------------------------------------------------------------


def notices_for(org: Org, persona: str) -> list[Notification]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Notification)
            .where(
                Notification.recipient_user_id == org.users[persona].id,
                Notification.channel == "in_app",
            )
            .order_by(Notification.id)
        )
    )


def unread_shown(client: FlaskClient) -> int:
    response = client.get("/staff/notifications/count", headers=COUNT_HEADERS)
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment and 'id="notification-count"' in fragment
    match = UNREAD.search(fragment)
    return int(match.group(1)) if match else 0


def test_lead_a_sees_the_new_complaint_notice_and_a_count_of_one(app: Flask, org: Org, login_as: Any) -> None:
    ticket = file(org).ticket
    lead = login_as("lead_a")
    page = lead.get("/staff/notifications").get_data(as_text=True)
    assert f"New complaint in your department: {ticket.reference}" in page
    assert unread_shown(lead) == 1
    assert unread_shown(login_as("lead_b")) == 0
    # Every staff page's header loads that count with htmx, into the element the fragment replaces.
    header = lead.get("/staff/queue").get_data(as_text=True)
    assert re.search(r'id="notification-count"[^>]*hx-get="/staff/notifications/count"', header)


def test_reading_a_notice_marks_it_read_and_opens_its_ticket(app: Flask, org: Org, login_as: Any) -> None:
    ticket = file(org).ticket
    lead = login_as("lead_a")
    [notice] = notices_for(org, "lead_a")
    response = post_form(lead, f"/staff/notifications/{notice.id}/read", {}, page="/staff/notifications")
    assert response.status_code == 303
    assert response.location.endswith(f"/staff/tickets/{ticket.id}")
    assert notices_for(org, "lead_a")[0].read_at is not None
    assert unread_shown(lead) == 0


def test_read_all_clears_the_count(app: Flask, org: Org, login_as: Any) -> None:
    for n in range(3):
        file(org, subject=f"Kettle {n}")
    lead = login_as("lead_a")
    assert unread_shown(lead) == 3
    response = post_form(lead, "/staff/notifications/read-all", {}, page="/staff/notifications")
    assert response.status_code == 303
    assert unread_shown(lead) == 0
    assert {notice.read_at is not None for notice in notices_for(org, "lead_a")} == {True}


def test_nobody_can_mark_another_users_notice_read__g1(app: Flask, org: Org, login_as: Any) -> None:
    ticket = file(org).ticket
    [notice] = notices_for(org, "lead_a")
    for persona in ("lead_b", "resp_a1"):
        response = post_form(
            login_as(persona), f"/staff/notifications/{notice.id}/read", {}, page="/staff/notifications"
        )
        assert response.status_code == 303
        assert not response.location.endswith(f"/staff/tickets/{ticket.id}")  # no hint of its ticket
    assert notices_for(org, "lead_a")[0].read_at is None
    assert unread_shown(login_as("lead_a")) == 1


def test_notices_about_a_complaint_concerning_me_are_neither_listed_nor_counted__r10(
    app: Flask, org: Org, login_as: Any
) -> None:
    about_me = file(org, subject="About the lead").ticket
    other = file(org, subject="Ordinary kettle").ticket
    about_me.concerns_user_id = org.users["lead_a"].id
    db.session.commit()
    assert len(notices_for(org, "lead_a")) == 2  # both notices were written before it was known

    lead = login_as("lead_a")
    page = lead.get("/staff/notifications").get_data(as_text=True)
    assert other.reference in page
    assert about_me.reference not in page
    assert unread_shown(lead) == 1

"""A customer files a complaint or feedback and follows it by a private link (R1–R3, R13)."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Attachment, Ticket, TicketEvent
from tests.conftest import fresh_token, post_form

TRACKING_LINK = re.compile(r'id="tracking-link" href="http://portal\.test(/track/[A-Za-z0-9_-]+)"')


def complaint_data(org, **overrides):
    data = {
        "name": "Wang Fang",
        "email": "wang@example.org",
        "phone": "",
        "preferred_contact": "email",
        "category": str(org.categories["A"].id),
        "subject": "Kettle broke",
        "description": "It stopped working after a week.",
        "consent": "y",
        "idempotency_key": "k" * 32,
    }
    data.update(overrides)
    return data


def ticket_count() -> int:
    return db.session.scalar(select(func.count(Ticket.id)))


def test_customer_files_complaint_and_sees_reference_and_private_link(client, org):
    response = post_form(client, "/complaints/new", complaint_data(org))
    assert response.status_code == 303
    page = client.get(response.location).get_data(as_text=True)
    ticket = db.session.scalars(select(Ticket)).one()
    assert re.fullmatch(r"CP-\d{4}-\d{6}", ticket.reference)
    assert ticket.reference in page
    assert ticket.channel == "web" and ticket.status == "new"
    assert ticket.department_id == org.departments["A"].id  # R5: routed by category
    link = TRACKING_LINK.search(page)
    assert link, page
    # The link opens the case in a fresh browser, and the token leaves the address bar (I4).
    other = client.application.test_client()
    opened = other.get(link.group(1))
    assert opened.status_code == 303
    assert opened.location.endswith(f"/case/{ticket.reference}")
    case_page = other.get(opened.location)
    assert case_page.status_code == 200
    assert "Kettle broke" in case_page.get_data(as_text=True)
    assert case_page.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in case_page.headers["Cache-Control"]


def test_reference_alone_never_opens_a_case(client, org):
    post_form(client, "/complaints/new", complaint_data(org))
    reference = db.session.scalars(select(Ticket.reference)).one()
    stranger = client.application.test_client()
    assert stranger.get(f"/case/{reference}").status_code == 404
    assert stranger.get("/track/not-a-real-token").status_code == 404


def test_resubmitted_form_creates_one_complaint(client, org):
    data = complaint_data(org)
    first = post_form(client, "/complaints/new", data)
    second = post_form(client, "/complaints/new", data)
    assert first.status_code == second.status_code == 303
    assert first.location == second.location
    assert ticket_count() == 1


def test_invalid_complaint_keeps_what_was_typed_and_stores_nothing(client, org):
    data = complaint_data(org, email="", phone="", subject="x" * 201)
    response = post_form(client, "/complaints/new", data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Give an email address or a phone number" in html
    assert "at most 200" in html or "longer than 200" in html
    assert "It stopped working after a week." in html
    assert ticket_count() == 0


def test_complaint_without_csrf_token_is_refused_and_text_kept(client, org):
    data = complaint_data(org)
    response = client.post("/complaints/new", data={**data, "csrf_token": "forged"})
    assert response.status_code == 422
    assert "It stopped working after a week." in response.get_data(as_text=True)
    assert ticket_count() == 0


def test_feedback_is_filed_with_its_own_reference(client, org):
    token = fresh_token(client, "/feedback/new")
    response = client.post(
        "/feedback/new",
        data={
            "csrf_token": token,
            "kind": "praise",
            "text": "Lovely service",
            "rating": "5",
            "idempotency_key": "f" * 32,
        },
    )
    assert response.status_code == 303
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.reference.startswith("FB-")
    assert ticket.kind == "feedback" and ticket.rating == 5
    assert ticket.department_id == org.departments["A"].id  # the feedback desk
    assert db.session.scalar(select(func.count(TicketEvent.id))) == 1
    assert db.session.scalar(select(func.count(Attachment.id))) == 0

"""Hostile and odd input on the public form and elsewhere (security.md A1–A14, B1, B4).

Each case checks both sides: the customer gets a clear per-field answer (or the text is cleaned),
and the database holds nothing half-stored. The NUL cases matter most on PostgreSQL, where
psycopg refuses NUL in text parameters: run this file with TEST_DATABASE_URL set too.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from markupsafe import escape
from sqlalchemy import func, select
from werkzeug.test import encode_multipart

from portal.extensions import db
from portal.models import Category, Ticket, TicketEvent
from portal.services import filing
from tests import payloads
from tests.conftest import complaint_data, csrf_token_from, fresh_token, post_form
from tests.conftest import file_via_form as file
from tests.factories import T0, rules_for_tests

ONE_LINE = "Please keep this on one line."
BAD_EMAIL = "Enter a valid email address."
BAD_PHONE = "Enter a phone number we can call"


# --- helpers -------------------------------------------------------------------------------


def ticket_count() -> int:
    return db.session.scalar(select(func.count(Ticket.id)))


def only_ticket() -> Ticket:
    db.session.expire_all()
    return db.session.scalars(select(Ticket)).one()


def assert_refused(response, *messages: str) -> str:
    assert response.status_code == 422, response.status_code
    html = response.get_data(as_text=True)
    for message in messages:
        assert message in html, message
    assert "Please correct the marked fields. Nothing has been saved yet." in html
    assert ticket_count() == 0
    return html


def field_invalid(html: str, name: str) -> bool:
    """The form marks the field itself as invalid (render_field sets aria-invalid)."""
    return (
        re.search(rf'<(?:input|select|textarea)[^>]*aria-invalid="true"[^>]*name="{name}"', html) is not None
    )


def open_case_for(app, client, reference: str):
    """The filing browser already tracks its case; this returns its case page."""
    response = client.get(f"/case/{reference}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


# --- A1: oversized fields ---------------------------------------------------------------------


def test_oversized_fields_get_per_field_messages_and_nothing_is_stored__a1_asvs_5_1_4(app, client, org):
    response = file(client, org, name="A" * 10_000, description="x" * 10_001, subject="s" * 201)
    html = assert_refused(
        response,
        "cannot be longer than 100 characters",
        "cannot be longer than 200 characters",
        "cannot be longer than 10000 characters",
    )
    assert 'value="wang@example.org"' in html  # the rest of what was typed is kept


@pytest.mark.parametrize(
    ("field", "limit"),
    [("about", 200), ("order_number", 64), ("address", 300), ("email", 254), ("phone", 32)],
)
def test_every_optional_field_has_a_length_limit__a1(app, client, org, field, limit):
    value = "1" * (limit + 1) if field == "phone" else "x" * (limit + 1)
    if field == "email":
        value = "x" * (limit - len("@example.org") + 1) + "@example.org"
    response = file(client, org, **{field: value})
    assert response.status_code == 422
    assert ticket_count() == 0


def test_fields_exactly_at_their_limits_are_accepted_and_counted_in_code_points__a1_a4(app, client, org):
    name = "😀" * 100  # 100 code points, 400 bytes in UTF-8
    description = "한" * 10_000
    response = file(client, org, name=name, subject="s" * 200, description=description)
    assert response.status_code == 303
    ticket = only_ticket()
    assert ticket.customer_name == name
    assert ticket.description == description


def test_a_600_kb_form_field_gets_the_413_page_and_nothing_is_stored__a2(app, client, org):
    data = complaint_data(org, description="x" * 600_000)
    data["csrf_token"] = fresh_token(client, "/complaints/new")
    # Encoded in memory: the test client would spool a body this size to a file it never closes.
    boundary, body = encode_multipart(data)
    response = client.post(
        "/complaints/new", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 413
    assert "What you sent is too large" in response.get_data(as_text=True)
    assert ticket_count() == 0


def test_a_form_with_thousands_of_parts_gets_413__a3(app, client, org):
    data: dict[str, Any] = complaint_data(org)
    data["csrf_token"] = fresh_token(client, "/complaints/new")
    data.update({f"junk{n}": "" for n in range(2_000)})
    response = client.post("/complaints/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 413
    assert ticket_count() == 0
    assert client.get("/complaints/new").status_code == 200  # and the app keeps serving


# --- A4, A9: Unicode round trip --------------------------------------------------------------


def test_unicode_names_and_text_round_trip_exactly_into_the_staff_pages__a4_asvs_5_3_2(
    app, client, org, login_as
):
    response = file(client, org, name=payloads.UNICODE_NAME, description=payloads.UNICODE_BODY)
    assert response.status_code == 303
    ticket = only_ticket()
    assert ticket.customer_name == payloads.UNICODE_NAME
    assert ticket.description == payloads.UNICODE_BODY
    staff = login_as("resp_a1")
    shown_name = str(escape(payloads.UNICODE_NAME))
    assert shown_name == "김민준 😀👨‍👩‍👧 ねこ O&#39;Hara"
    page = staff.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    assert f"<bdi>{shown_name}</bdi>" in page
    assert str(escape(payloads.UNICODE_BODY)) in page
    assert f"<bdi>{shown_name}</bdi>" in staff.get("/staff/queue").get_data(as_text=True)


def test_decomposed_accents_are_stored_composed_nfc__a4(app, client, org):
    assert file(client, org, name=payloads.DECOMPOSED, subject=payloads.DECOMPOSED).status_code == 303
    ticket = only_ticket()
    assert ticket.customer_name == payloads.COMPOSED
    assert ticket.subject == payloads.COMPOSED


def test_right_to_left_override_is_kept_but_isolated_in_bdi__a9(app, client, org, login_as):
    assert file(client, org, name=payloads.RTL_SPOOF, subject=payloads.RTL_SPOOF).status_code == 303
    ticket = only_ticket()
    page = login_as("resp_a1").get("/staff/queue").get_data(as_text=True)
    assert page.count(f"<bdi>{payloads.RTL_SPOOF}</bdi>") == 2  # subject and customer, each isolated
    assert ticket.customer_name == payloads.RTL_SPOOF


# --- A5: NUL and control characters ----------------------------------------------------------


def test_nul_and_control_characters_are_stripped_from_free_text__a5_asvs_5_1_3(app, client, org):
    response = file(
        client,
        org,
        name="Wang\x00 Fang\x07",
        subject="Kettle\x00 broke\x1b",
        description=payloads.NUL_TEXT + "\n" + payloads.CONTROL_TEXT + "\ttabbed",
        about="Branch\x00 7",
        order_number="A-\x0012",
        address="1 Road\x00 Street",
    )
    assert response.status_code == 303
    ticket = only_ticket()
    assert ticket.customer_name == "Wang Fang"
    assert ticket.subject == "Kettle broke"
    assert ticket.description == "abcdef\n" + payloads.CONTROL_TEXT_CLEAN + "\ttabbed"
    assert (ticket.about, ticket.order_number, ticket.customer_address) == (
        "Branch 7",
        "A-12",
        "1 Road Street",
    )


def test_a_lone_surrogate_in_the_raw_request_is_never_a_500__a5(app, client, org):
    token = fresh_token(client, "/complaints/new")
    fields = urlencode({**complaint_data(org), "csrf_token": token, "description": "placeholder"})
    body = fields.replace("description=placeholder", "description=abc%ED%A0%80def%00ghi")
    response = client.post("/complaints/new", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 303
    description = only_ticket().description
    assert description.startswith("abc") and description.endswith("defghi")
    assert "\x00" not in description
    assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in description)


@pytest.mark.parametrize("field", ["email", "phone"])
def test_nul_in_an_email_or_phone_is_a_field_error__a5(app, client, org, field):
    value = "wang\x00@example.org" if field == "email" else "+86 138\x00 0013 8000"
    assert file(client, org, **{field: value}).status_code == 422
    assert ticket_count() == 0


def _sign_in_with_nul(s):
    data = {"email": "resp_a1@example.com\x00", "password": "x\x00y"}
    return post_form(s.anonymous, "/auth/login", data, page="/auth/login")


def _feedback_with_nul(s):
    data = {"kind": "praise", "text": "great\x00 service", "idempotency_key": secrets.token_urlsafe(24)}
    return post_form(s.anonymous, "/feedback/new", data, page="/feedback/new")


def _customer_message_with_nul(s):
    case_url = f"/case/{s.ticket.reference}"
    token = csrf_token_from(s.customer.get(case_url).get_data(as_text=True))
    return s.customer.post(f"{case_url}/messages", data={"csrf_token": token, "body": "more\x00 details"})


def _staff_note_with_nul(s):
    url = f"/staff/tickets/{s.ticket.id}"
    return post_form(s.staff, f"{url}/notes", {"body": "note\x00 body"}, page=url)


# where a NUL arrives → the answer a harmless request of that kind gets
NUL_PLACES: dict[str, tuple[Callable[[Any], Any], int]] = {
    "sign-in email": (_sign_in_with_nul, 422),
    "queue search": (lambda s: s.staff.get("/staff/queue", query_string={"q": "ket\x00tle"}), 200),
    "queue category": (lambda s: s.staff.get("/staff/queue", query_string={"category": "1\x00"}), 200),
    "case reference": (lambda s: s.anonymous.get("/case/CP-2026-%00000001"), 404),
    "filed reference": (lambda s: s.anonymous.get("/filed/CP%00"), 404),
    "tracking token": (lambda s: s.anonymous.get("/track/abc%00def"), 404),
    "staff ticket id": (lambda s: s.staff.get("/staff/tickets/1%00"), 404),
    "feedback text": (_feedback_with_nul, 303),
    "customer message": (_customer_message_with_nul, 303),
    "staff note": (_staff_note_with_nul, 303),
}


@pytest.mark.parametrize("place", list(NUL_PLACES))
def test_a_nul_anywhere_in_a_request_is_never_a_500__a5(app, org, login_as, place):
    """psycopg refuses NUL in text parameters: every place a string reaches a query must cope."""
    filed = filing.file_ticket(
        db.session,
        filing.Intake(
            customer_name="Wang Fang",
            customer_email="wang@example.org",
            subject="Kettle broke",
            description="It stopped working.",
            category_id=org.categories["A"].id,
            consent=True,
        ),
        [],
        now=T0,
        rules=rules_for_tests(app.config["UPLOAD_FOLDER"]),
    )
    customer = app.test_client()
    assert customer.get(f"/track/{filed.tracking_token}").status_code == 303
    visitors = SimpleNamespace(
        ticket=filed.ticket,
        customer=customer,
        anonymous=app.test_client(),
        staff=login_as("resp_a1") if place.startswith(("queue", "staff")) else None,
    )
    action, expected = NUL_PLACES[place]
    response = action(visitors)
    assert response.status_code == expected, response.status_code
    bodies = db.session.scalars(select(TicketEvent.body).where(TicketEvent.body.is_not(None))).all()
    assert all("\x00" not in body for body in bodies)


# --- A6: CR/LF in anything that may reach a mail header --------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", payloads.CRLF_NAME), ("email", payloads.CRLF_EMAIL), ("subject", payloads.CRLF_SUBJECT)],
)
def test_line_breaks_in_name_email_or_subject_are_a_field_error__a6_asvs_5_2_3(
    app, client, org, field, value
):
    assert_refused(file(client, org, **{field: value}), ONE_LINE)


@pytest.mark.parametrize(("field", "value"), [("name", "Bob\nBcc: x@y.z"), ("email", "a@b.com\nBcc: x@y.z")])
def test_line_breaks_on_the_feedback_form_are_a_field_error__a6(app, client, field, value):
    data = {"kind": "praise", "text": "Nice", "idempotency_key": secrets.token_urlsafe(24), field: value}
    response = post_form(client, "/feedback/new", data, page="/feedback/new")
    assert response.status_code == 422
    assert ONE_LINE in response.get_data(as_text=True)
    assert ticket_count() == 0


# --- A7, A8: malformed contact details -------------------------------------------------------


@pytest.mark.parametrize("email", payloads.BAD_EMAILS)
def test_malformed_email_is_a_field_error_and_nothing_is_stored__a7(app, client, org, email):
    assert_refused(file(client, org, email=email), BAD_EMAIL)


@pytest.mark.parametrize("phone", payloads.BAD_PHONES)
def test_junk_phone_number_is_a_field_error__a8(app, client, org, phone):
    assert_refused(file(client, org, email="", phone=phone), BAD_PHONE)


@pytest.mark.parametrize(("typed", "stored"), list(payloads.GOOD_PHONES.items()))
def test_valid_phone_numbers_are_stored_in_e164__a8(app, client, org, typed, stored):
    assert file(client, org, email="", phone=typed, preferred_contact="phone").status_code == 303
    assert only_ticket().customer_phone == stored


# --- A13: template injection shown literally -------------------------------------------------


@pytest.mark.parametrize("text", payloads.TEMPLATE_INJECTION)
def test_template_syntax_is_shown_literally_never_evaluated__a13_asvs_5_2_5(app, client, org, login_as, text):
    response = file(client, org, subject=text, description=f"Before {text} after")
    assert response.status_code == 303
    ticket = only_ticket()
    assert ticket.description == f"Before {text} after"
    for page in (
        login_as("resp_a1").get(f"/staff/tickets/{ticket.id}").get_data(as_text=True),
        open_case_for(app, client, ticket.reference),
    ):
        assert f"Before {escape(text)} after" in page
        assert "Before 49 after" not in page and "<Config" not in page


# --- B1 / B4: stored and reflected XSS are escaped ------------------------------------------


@pytest.mark.parametrize("payload", payloads.XSS)
def test_xss_payloads_are_escaped_in_queue_ticket_and_case_pages__b1_asvs_5_3_3(
    app, client, org, login_as, payload
):
    response = file(client, org, name=payload[:100], subject=payload[:200], description=payload)
    assert response.status_code == 303
    ticket = only_ticket()
    staff = login_as("resp_a1")
    pages = {
        "queue": staff.get("/staff/queue").get_data(as_text=True),
        "queue fragment": staff.get(
            "/staff/queue", headers={"HX-Request": "true", "HX-Target": "queue-rows"}
        ).get_data(as_text=True),
        "ticket": staff.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True),
        "case": open_case_for(app, client, ticket.reference),
    }
    escaped = str(escape(payload))
    for name, html in pages.items():
        assert escaped in html, name
        if escaped != payload:
            assert payload not in html, name


def test_payload_in_a_refused_form_is_escaped_when_the_form_comes_back__b4(app, client, org):
    payload = "</textarea><script>alert(document.cookie)</script>"
    html = assert_refused(file(client, org, email="not-an-email", description=payload), BAD_EMAIL)
    assert payload not in html
    assert str(escape(payload)) in html


def test_search_text_is_escaped_when_reflected_in_the_queue__b4(app, org, login_as):
    payload = '"><script>alert(1)</script>'
    html = login_as("resp_a1").get("/staff/queue", query_string={"q": payload}).get_data(as_text=True)
    assert payload not in html
    assert str(escape(payload)) in html


# --- A14: enum tampering ---------------------------------------------------------------------


@pytest.mark.parametrize("category", payloads.BAD_CATEGORIES)
def test_tampered_category_is_a_field_error_and_nothing_is_stored__a14_asvs_5_1_3(app, client, org, category):
    html = assert_refused(file(client, org, category=category))
    assert field_invalid(html, "category")


def test_an_inactive_category_cannot_be_chosen_by_id__a14(app, client, org):
    category = db.session.get(Category, org.categories["B"].id)
    category.active = False
    db.session.commit()
    html = assert_refused(file(client, org, category=str(category.id)))
    assert field_invalid(html, "category")


@pytest.mark.parametrize("value", ["<script>", "fax", ""])
def test_tampered_preferred_contact_is_a_field_error__a14(app, client, org, value):
    html = assert_refused(file(client, org, preferred_contact=value))
    assert field_invalid(html, "preferred_contact")


@pytest.mark.parametrize(("field", "value"), [("kind", "complaint"), ("kind", "<script>"), ("rating", "6")])
def test_tampered_feedback_choices_are_field_errors__a14(app, client, field, value):
    data = {"kind": "praise", "text": "Nice", "idempotency_key": secrets.token_urlsafe(24), field: value}
    response = post_form(client, "/feedback/new", data, page="/feedback/new")
    assert response.status_code == 422
    assert ticket_count() == 0


@pytest.mark.parametrize("channel", ["<script>", "web", "email"])
def test_tampered_channel_on_staff_registration_is_a_field_error__a14(app, org, login_as, channel):
    staff = login_as("resp_a1")
    page = staff.get("/staff/complaints/new").get_data(as_text=True)
    data = complaint_data(org, channel=channel, csrf_token=csrf_token_from(page))
    response = staff.post("/staff/complaints/new", data=data)
    assert response.status_code == 422
    assert field_invalid(response.get_data(as_text=True), "channel")
    assert ticket_count() == 0


# --- A12: odd path ids -----------------------------------------------------------------------


@pytest.mark.parametrize("ticket_id", ["99999999999999999999", "-1", "abc", "1%00", "1.5", "0x1", "%20"])
def test_odd_ticket_ids_in_the_path_are_404_never_500__a12(app, org, login_as, ticket_id):
    assert login_as("resp_a1").get(f"/staff/tickets/{ticket_id}").status_code == 404

"""Issue 12: the customer-side and admin-screen holes.

- A new private link ends every browser session the old one opened (security.md I5).
- A complaint or feedback refused by the rate limit (J1) or a busy database (L1, L2) comes back
  with everything the customer typed, as an expired form does (E4).
- The admin outbox shows delivery facts only, and no log line carries a private link (R20, I4, M4).
- The `/track/<token>` redirect is never cached (I4).

Everything happens for real: requests through the app (and, for the access log, through the
development server on a socket), the rate limiter counting, another process holding SQLite's
lock or PostgreSQL refusing connections.
"""

from __future__ import annotations

import html
import http.client
import logging
import re
import secrets
import threading
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portal.extensions import db
from portal.models import Notification, Ticket, utcnow
from portal.notifications.dispatch import dispatch_due
from portal.queries.case import customer_attachments
from portal.services import filing, tickets, tracking
from portal.services.attachments import IncomingFile, check_file
from portal.web.context import rules
from tests.conftest import base_config, complaint_data, csrf_token_from, post_form
from tests.factories import Org, events, fresh
from tests.outages import database_down

CUSTOMER_EMAIL = "wang@example.org"
CUSTOMER_PHONE = "+8613800138000"
TRACKED_KEY = "tracked_tickets"


@pytest.fixture
def app_config(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    config = base_config(database_url, tmp_path)
    config.update(MAIL_BACKEND="file", MAIL_DIR=str(tmp_path / "mail"), REDIS_URL="")
    config.update(getattr(request, "param", {}))
    return config


# --- helpers -------------------------------------------------------------------------------


def file_with_receipt(org: Org) -> filing.Filed:
    """A complaint with one attachment, through the real intake with the app's own rules."""
    receipt = check_file(IncomingFile("receipt.txt", b"Paid 200 yuan on 3 May."), 10 * 1024 * 1024)
    return filing.file_ticket(
        db.session,
        filing.Intake(
            customer_name="Wang Fang",
            customer_email=CUSTOMER_EMAIL,
            customer_phone=CUSTOMER_PHONE,
            subject="Broken kettle",
            description="It stopped working after a week.",
            category_id=org.categories["A"].id,
            consent=True,
        ),
        [receipt],
        now=utcnow(),
        rules=rules(),
    )


def open_link(app: Flask, token: str) -> FlaskClient:
    browser = app.test_client()
    opened = browser.get(f"/track/{token}")
    assert opened.status_code == 303, opened.status_code
    return browser


def ask_for_a_new_link(app: Flask, ticket: Ticket) -> str:
    """ "Lost my link" from another browser, with the right pair; returns the new link's path."""
    stranger = app.test_client()
    data = {"reference": ticket.reference, "contact": CUSTOMER_EMAIL}
    assert post_form(stranger, "/lost-link", data, page="/lost-link").status_code == 200
    rotated = fresh(ticket.id)
    return f"/track/{tracking.tracking_token(rotated, rules().link_secret)}"


def tracked_ids(browser: FlaskClient) -> list[Any]:
    with browser.session_transaction() as state:
        return [entry[0] if isinstance(entry, list) else entry for entry in state.get(TRACKED_KEY, [])]


def ticket_count() -> int:
    db.session.expire_all()
    return int(db.session.scalar(select(func.count(Ticket.id))) or 0)


def page_text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def selected_option(body: str, value: int) -> bool:
    return (
        re.search(rf'<option selected value="{value}">|<option value="{value}" selected>', body) is not None
    )


# --- 1. a new link ends the sessions the old one opened (I5) -------------------------------

CUSTOMER_REQUESTS = {
    "case page": lambda browser, ref, token, attachment_id: browser.get(f"/case/{ref}"),
    "confirmation page": lambda browser, ref, token, attachment_id: browser.get(f"/filed/{ref}"),
    "attachment": lambda browser, ref, token, attachment_id: browser.get(
        f"/case/{ref}/attachments/{attachment_id}"
    ),
    "message": lambda browser, ref, token, attachment_id: browser.post(
        f"/case/{ref}/messages", data={"csrf_token": token, "body": "Any news?"}
    ),
    "answer": lambda browser, ref, token, attachment_id: browser.post(
        f"/case/{ref}/answer", data={"csrf_token": token, "resolved": "no"}
    ),
}


@pytest.mark.parametrize("request_name", CUSTOMER_REQUESTS)
def test_every_customer_request_of_a_session_opened_by_the_old_link_is_404_after_a_new_link__i5(
    app: Flask, org: Org, request_name: str
) -> None:
    filed = file_with_receipt(org)
    ticket = filed.ticket
    [attachment] = customer_attachments(db.session, ticket.id)
    browser = open_link(app, filed.tracking_token)
    case_page = browser.get(f"/case/{ticket.reference}")
    assert case_page.status_code == 200  # the session works before the link is replaced
    token = csrf_token_from(case_page.get_data(as_text=True))

    ask_for_a_new_link(app, ticket)
    history = len(events(ticket.id))
    response = CUSTOMER_REQUESTS[request_name](browser, ticket.reference, token, attachment.id)
    response.close()

    assert response.status_code == 404
    assert ticket.id not in tracked_ids(browser)  # the session entry is dropped, not kept to retry
    assert browser.get(f"/case/{ticket.reference}").status_code == 404
    assert len(events(ticket.id)) == history  # no message, no answer recorded


def test_a_session_opened_by_filing_the_form_ends_with_a_new_link_and_the_new_link_opens_again__i5(
    app: Flask, org: Org, client: FlaskClient
) -> None:
    filed = post_form(client, "/complaints/new", complaint_data(org))
    assert filed.status_code == 303
    ticket = db.session.scalars(select(Ticket)).one()
    assert client.get(f"/case/{ticket.reference}").status_code == 200

    new_link = ask_for_a_new_link(app, ticket)
    assert client.get(f"/case/{ticket.reference}").status_code == 404
    assert client.get(f"/filed/{ticket.reference}").status_code == 404

    assert client.get(new_link).status_code == 303  # the same browser, with the mailed link
    assert client.get(f"/case/{ticket.reference}").status_code == 200


def test_the_session_keeps_a_mark_of_the_link_never_the_token_or_its_nonce__i4_i5(
    app: Flask, org: Org
) -> None:
    filed = file_with_receipt(org)
    ticket = fresh(filed.ticket.id)
    browser = open_link(app, filed.tracking_token)
    with browser.session_transaction() as state:
        [[ticket_id, mark]] = state[TRACKED_KEY]
    assert ticket_id == ticket.id
    assert mark == tracking.link_fingerprint(ticket)
    assert ticket.tracking_nonce is not None
    assert mark not in filed.tracking_token and mark not in ticket.tracking_nonce
    assert filed.tracking_token not in str(state) and ticket.tracking_nonce not in str(state)


def test_a_case_remembered_without_a_link_mark_opens_nothing__i5(app: Flask, org: Org) -> None:
    """A cookie from before marks existed (a bare ticket id) cannot show which link opened it."""
    ticket = file_with_receipt(org).ticket
    browser = app.test_client()
    with browser.session_transaction() as state:
        state[TRACKED_KEY] = [ticket.id]
    assert browser.get(f"/case/{ticket.reference}").status_code == 404


# --- 4. the /track/<token> redirect is never cached (I4) -----------------------------------


def test_the_tracking_link_redirect_and_its_404_are_never_cached__i4(
    app: Flask, org: Org, client: FlaskClient
) -> None:
    filed = file_with_receipt(org)
    opened = client.get(f"/track/{filed.tracking_token}")
    assert opened.status_code == 303
    assert "no-store" in opened.headers["Cache-Control"]
    unknown = app.test_client().get(f"/track/{secrets.token_urlsafe(32)}")
    assert unknown.status_code == 404
    assert "no-store" in unknown.headers["Cache-Control"]


# --- 2. refused forms come back with what was typed (J1, L1, L2, as E4) --------------------

TYPED_COMPLAINT = {
    "name": "Li Na",
    "email": "li.na@example.org",
    "phone": "138 0013 8001",
    "preferred_contact": "phone",
    "address": "12 Garden Road, Hangzhou",
    "subject": "Refund promised twice, never paid",
    "description": "On 3 May I was promised a refund of 200 yuan by phone. Nothing has arrived.",
    "about": "The branch on Garden Road",
    "order_number": "ORD-77812",
}
TYPED_FEEDBACK = {
    "kind": "suggestion",
    "text": "Please open the Garden Road branch on Saturday mornings.",
    "rating": "4",
    "name": "Li Na",
    "email": "li.na@example.org",
    "phone": "138 0013 8001",
}


def typed_complaint(org: Org) -> dict[str, Any]:
    return complaint_data(org, **TYPED_COMPLAINT)


def typed_feedback() -> dict[str, Any]:
    return {**TYPED_FEEDBACK, "idempotency_key": secrets.token_urlsafe(24)}


def assert_complaint_kept(body: str, data: dict[str, Any], category: tuple[int, str]) -> None:
    for name in ("name", "email", "phone", "address", "subject", "about", "order_number"):
        assert f'value="{data[name]}"' in body, name
    assert data["description"] in body
    assert f'value="{data["idempotency_key"]}"' in body  # sent again, it files one complaint only
    category_id, category_name = category
    assert selected_option(body, category_id)
    assert category_name in body
    assert '<option selected value="phone">' in body or '<option value="phone" selected>' in body
    assert csrf_token_from(body)


def assert_feedback_kept(body: str, data: dict[str, Any]) -> None:
    for name in ("name", "email", "phone"):
        assert f'value="{data[name]}"' in body, name
    assert data["text"] in body
    assert f'value="{data["idempotency_key"]}"' in body
    assert re.search(r'<input checked[^>]*value="suggestion"|value="suggestion"[^>]*checked', body)
    assert selected_option(body, 4)
    assert csrf_token_from(body)


LOW_LIMIT = {"RATELIMIT_ENABLED": True, "RATELIMIT_FILE_COMPLAINT": "1/minute"}


@pytest.mark.parametrize("app_config", [LOW_LIMIT], indirect=True)
def test_a_complaint_refused_by_the_rate_limit_comes_back_with_everything_typed__j1_e4(
    app: Flask, org: Org, client: FlaskClient
) -> None:
    assert post_form(client, "/complaints/new", complaint_data(org)).status_code == 303
    data = typed_complaint(org)
    refused = post_form(client, "/complaints/new", data)

    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    body = page_text(refused)
    assert "Everything you typed is still here: please send it again in" in body
    assert re.search(r"please send it again in \d+ seconds", body)
    assert_complaint_kept(body, data, (org.categories["A"].id, org.categories["A"].name))
    assert ticket_count() == 1  # the refused one stored nothing


@pytest.mark.parametrize("app_config", [LOW_LIMIT], indirect=True)
def test_feedback_refused_by_the_rate_limit_comes_back_with_everything_typed__j1_e4(
    app: Flask, org: Org, client: FlaskClient
) -> None:
    first = post_form(client, "/feedback/new", typed_feedback(), page="/feedback/new")
    assert first.status_code == 303
    data = typed_feedback()
    refused = post_form(client, "/feedback/new", data, page="/feedback/new")

    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    body = page_text(refused)
    assert re.search(r"please send it again in \d+ seconds", body)
    assert_feedback_kept(body, data)
    assert ticket_count() == 1


BUSY = {"SQLITE_BUSY_TIMEOUT_MS": 300}


@pytest.mark.parametrize("app_config", [BUSY], indirect=True)
def test_a_complaint_sent_while_the_database_is_down_comes_back_with_everything_typed__l1_l2(
    app: Flask, org: Org, client: FlaskClient
) -> None:
    data = typed_complaint(org)
    category = (org.categories["A"].id, org.categories["A"].name)  # read now: the outage ends the session
    data["csrf_token"] = csrf_token_from(client.get("/complaints/new").get_data(as_text=True))

    with database_down(app):
        refused = client.post("/complaints/new", data=data)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "5"
        body = page_text(refused)
        assert "please send it again in 5 seconds. It will not be recorded twice." in body
        assert "Traceback" not in body
        assert_complaint_kept(body, data, category)

    assert ticket_count() == 0  # nothing half-stored
    again = client.post("/complaints/new", data={**data, "csrf_token": csrf_token_from(body)})
    assert again.status_code == 303
    assert [t.subject for t in db.session.scalars(select(Ticket))] == [data["subject"]]


@pytest.mark.parametrize("app_config", [BUSY], indirect=True)
def test_a_worker_that_never_read_the_categories_still_keeps_the_customers_choice__l1_l2(
    app: Flask, org: Org, client: FlaskClient
) -> None:
    """Another worker served the empty form: this one has no list to show while the database is down."""
    data = typed_complaint(org)
    category_id = org.categories["A"].id
    data["csrf_token"] = csrf_token_from(client.get("/feedback/new").get_data(as_text=True))

    with database_down(app):
        refused = client.post("/complaints/new", data=data)
    assert refused.status_code == 503
    body = page_text(refused)
    assert re.search(
        rf'<option (selected )?value="{category_id}"( selected)?>The category you chose</option>', body
    )
    assert selected_option(body, category_id)
    assert data["subject"] in body and data["description"] in body

    again = client.post("/complaints/new", data={**data, "csrf_token": csrf_token_from(body)})
    assert again.status_code == 303
    assert ticket_count() == 1


@pytest.mark.parametrize("app_config", [BUSY], indirect=True)
def test_feedback_sent_while_the_database_is_down_comes_back_with_everything_typed__l1_l2(
    app: Flask, org: Org, client: FlaskClient
) -> None:
    data = typed_feedback()
    data["csrf_token"] = csrf_token_from(client.get("/feedback/new").get_data(as_text=True))

    with database_down(app):
        refused = client.post("/feedback/new", data=data)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "5"
        body = page_text(refused)
        assert "please send it again in 5 seconds" in body
        assert_feedback_kept(body, data)

    assert ticket_count() == 0
    again = client.post("/feedback/new", data={**data, "csrf_token": csrf_token_from(body)})
    assert again.status_code == 303
    assert ticket_count() == 1


@pytest.mark.parametrize("app_config", [BUSY], indirect=True)
def test_a_busy_database_on_any_other_customer_page_is_the_plain_503__l1_l2(app: Flask, org: Org) -> None:
    filed = file_with_receipt(org)
    reference = filed.ticket.reference
    browser = open_link(app, filed.tracking_token)
    with database_down(app):
        busy = browser.get(f"/case/{reference}")
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
    assert "The service is busy right now" in page_text(busy)


# --- 3. the outbox shows delivery facts, and no log line a private link (R20, I4, M4) -------


def test_the_outbox_shows_delivery_facts_without_any_message_text_or_link__r20_i4(
    app: Flask, org: Org, login_as: Any
) -> None:
    assert app.config["PORTAL_ENV"] != "production"  # in development too
    filed = file_with_receipt(org)
    ticket = filed.ticket
    tickets.claim(db.session, org.users["resp_a1"], ticket, now=utcnow(), rules=rules())
    reply_text = "Your refund of 200 yuan is approved and will arrive within five days."
    tickets.reply(db.session, org.users["resp_a1"], ticket, reply_text, now=utcnow(), rules=rules())
    dispatch_due(db.session, utcnow())
    db.session.expire_all()
    sent = list(db.session.scalars(select(Notification).where(Notification.channel == "email")))
    reply = next(row for row in sent if row.event == "reply")
    assert reply.status == "sent" and reply.body_text and "/track/" in reply.body_text
    assert reply_text in reply.body_text and reply.subject

    page = login_as("admin").get("/admin/outbox")
    assert page.status_code == 200
    body = page_text(page)
    assert "w***@example.org" in body and "reply" in body and "sent" in body
    assert CUSTOMER_EMAIL not in body
    assert "/track/" not in body and filed.tracking_token not in body
    assert reply_text not in body and "200 yuan" not in body
    for row in sent:
        assert row.subject and row.subject not in body


def test_an_error_text_on_the_outbox_names_no_address_number_or_link__r20(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket = file_with_receipt(org).ticket
    token = tracking.tracking_token(fresh(ticket.id), rules().link_secret)
    now = utcnow()
    db.session.add(
        Notification(
            created_at=now,
            event="reply",
            channel="sms",
            ticket_id=ticket.id,
            to_address=CUSTOMER_PHONE,
            status="failed",
            attempts=2,
            next_attempt_at=now,
            last_error=(
                f"SMTPRecipientsRefused: {{'{CUSTOMER_EMAIL}': (550, b'<{CUSTOMER_EMAIL}> rejected')}}; "
                f"gateway refused {CUSTOMER_PHONE} for http://portal.test/track/{token}"
            ),
            subject="Update on your complaint",
            body_text=f"See http://portal.test/track/{token}",
        )
    )
    db.session.commit()

    body = page_text(login_as("admin").get("/admin/outbox?status=failed"))
    assert "+86 138****8000" in body and "SMTPRecipientsRefused" in body and "w***@example.org" in body
    assert CUSTOMER_EMAIL not in body and CUSTOMER_PHONE not in body
    assert token not in body and "/track/" not in body.replace("/track/<redacted>", "")
    assert "Update on your complaint" not in body


def test_recipients_are_masked_to_the_first_letter_or_the_first_three_and_last_four_digits() -> None:
    from portal.queries.admin import mask_email, mask_phone

    assert mask_email("wang@example.org") == "w***@example.org"
    assert mask_phone("+8613800138000") == "+86 138****8000"
    assert mask_phone("+821012345678") == "+82 101****5678"
    assert mask_email("not-an-address") == "***"


def listen_to(logger_name: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    # The test run's migrations (alembic's fileConfig) disable every logger that existed then.
    monkeypatch.setattr(logging.getLogger(logger_name), "disabled", False)
    caplog.set_level(logging.INFO, logger=logger_name)


def test_the_development_servers_request_line_for_a_tracking_link_carries_no_token__i4_m4(
    app: Flask, org: Org, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    listen_to("werkzeug", caplog, monkeypatch)
    token = file_with_receipt(org).tracking_token
    db.session.commit()
    server = make_server("127.0.0.1", 0, app)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        connection.request("GET", f"/track/{token}")
        response = connection.getresponse()
        response.read()
        connection.close()
    finally:
        server.shutdown()
        serving.join(timeout=10)
        server.server_close()

    assert response.status == 303
    ansi = re.compile(r"\x1b\[[0-9;]*m")  # the development server colours the request line
    lines = [ansi.sub("", record.getMessage()) for record in caplog.records if record.name == "werkzeug"]
    assert any('"GET /track/<redacted> HTTP/1.1" 303' in line for line in lines), lines
    assert token not in caplog.text


def test_a_gunicorn_access_line_for_a_tracking_link_carries_no_token__i4_m4(
    app: Flask, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gunicorn logs `access_log_format` with a dict of atoms on `gunicorn.access`, in this process."""
    listen_to("gunicorn.access", caplog, monkeypatch)
    token = secrets.token_urlsafe(32)
    atoms = {"h": "203.0.113.7", "r": f"GET /track/{token} HTTP/1.1", "s": "303", "U": f"/track/{token}"}
    logging.getLogger("gunicorn.access").info('%(h)s "%(r)s" %(s)s %(U)s', atoms)
    [record] = [record for record in caplog.records if record.name == "gunicorn.access"]
    assert record.getMessage() == '203.0.113.7 "GET /track/<redacted> HTTP/1.1" 303 /track/<redacted>'
    assert token not in caplog.text


def test_the_redaction_filter_is_installed_once_however_many_apps_are_built(
    app: Flask, app_config: dict[str, Any]
) -> None:
    from portal.app import create_app
    from portal.web.request_log import TrackingLinkRedaction

    create_app(app_config)
    for name in ("werkzeug", "gunicorn.access"):
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, TrackingLinkRedaction) for f in filters) == 1

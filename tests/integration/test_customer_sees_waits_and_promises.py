"""Issue 11, items 4 and 5: the customer sees the time they were promised (R8) and that we wait
for them while the clock is paused (R7).

Everything goes through the real routes: staff reply with a promise and pause the clock on the
staff screens, the customer reads `/case/<reference>` in the browser that filed the complaint and
writes back there, and the reply mail is sent by `dispatch_due` into the file mail backend.
"""

from __future__ import annotations

import email
import html
import re
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.models import Ticket, utcnow
from portal.notifications.dispatch import dispatch_due
from tests.conftest import base_config, csrf_token_from, file_via_form, post_signed_in
from tests.factories import Org, fresh

ZONE = "Asia/Shanghai"  # eight hours ahead of UTC all year: the local and UTC times never agree
REASON = "Photos of the label under the kettle"


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    config = base_config(database_url, tmp_path)
    config.update(MAIL_BACKEND="file", MAIL_DIR=str(tmp_path / "mail"), REDIS_URL="", ORG_TIMEZONE=ZONE)
    return config


def case_page(customer: FlaskClient, ticket: Ticket, query: str = "") -> str:
    response = customer.get(f"/case/{ticket.reference}{query}")
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def status_words(page: str) -> str:
    match = re.search(r'id="case-status">([^<]*)<', page)
    assert match, "no status on the case page"
    return match.group(1)


def filed_and_claimed(
    client: FlaskClient, org: Org, login_as: Any, **form: Any
) -> tuple[Ticket, FlaskClient]:
    assert file_via_form(client, org, **form).status_code == 303  # this browser now tracks the case
    ticket = db.session.scalars(select(Ticket)).one()
    staff = login_as("resp_a1")
    assert post_signed_in(staff, f"/staff/tickets/{ticket.id}/claim", {}).status_code == 303
    return ticket, staff


def a_promise() -> tuple[str, str, str]:
    """A time two days ahead typed on the reply form, and how it reads in local time and in UTC."""
    local = (utcnow().astimezone(ZoneInfo(ZONE)) + timedelta(days=2)).replace(
        hour=15, minute=30, second=0, microsecond=0
    )
    in_utc = local.astimezone(ZoneInfo("UTC"))
    return (
        local.strftime("%Y-%m-%dT%H:%M"),
        local.strftime("%Y-%m-%d %H:%M"),
        in_utc.strftime("%Y-%m-%d %H:%M"),
    )


def sent_mails(app: Flask) -> list[EmailMessage]:
    folder = Path(app.config["MAIL_DIR"])
    paths = sorted(folder.glob("*.eml")) if folder.exists() else []
    return [email.message_from_bytes(p.read_bytes(), policy=default_policy) for p in paths]  # type: ignore[misc]


def bodies(mail: EmailMessage) -> tuple[str, str]:
    text = mail.get_body(("plain",))
    markup = mail.get_body(("html",))
    assert text is not None and markup is not None
    return str(text.get_content()), html.unescape(str(markup.get_content()))  # type: ignore[attr-defined]


# --- 4. promises (R8) ----------------------------------------------------------------------


def test_a_promised_update_shows_its_local_time_on_the_case_page_and_in_the_reply_mail__r8(
    app: Flask, client: FlaskClient, org: Org, login_as: Any
) -> None:
    ticket, staff = filed_and_claimed(client, org, login_as)
    typed, local, in_utc = a_promise()
    reply = post_signed_in(
        staff,
        f"/staff/tickets/{ticket.id}/reply",
        {"body": "We are testing the kettle.", "promise_by": typed},
    )
    assert reply.status_code == 303, reply.get_data(as_text=True)
    assert fresh(ticket.id).promise_due_at is not None

    page = case_page(client, ticket)
    assert f"Update promised by {local}" in page  # the timeline line carries its time
    assert f"We will tell you where things stand by {local}." in page
    assert in_utc not in page

    dispatch_due(db.session, utcnow())
    [reply_mail] = [m for m in sent_mails(app) if "An update on your complaint" in str(m["Subject"])]
    text, markup = bodies(reply_mail)
    for body in (text, markup):
        assert "We are testing the kettle." in body
        assert f"We will tell you where things stand by {local}." in body
        assert in_utc not in body


def test_a_reply_without_a_promise_promises_nothing_in_its_mail__r8(
    app: Flask, client: FlaskClient, org: Org, login_as: Any
) -> None:
    ticket, staff = filed_and_claimed(client, org, login_as)
    assert post_signed_in(staff, f"/staff/tickets/{ticket.id}/reply", {"body": "Noted."}).status_code == 303
    dispatch_due(db.session, utcnow())
    [reply_mail] = [m for m in sent_mails(app) if "An update on your complaint" in str(m["Subject"])]
    for body in bodies(reply_mail):
        assert "where things stand" not in body
    assert "where things stand" not in case_page(client, ticket)


def test_the_promised_time_reads_in_the_customers_language__r8(
    app: Flask, client: FlaskClient, org: Org, login_as: Any
) -> None:
    ticket, staff = filed_and_claimed(client, org, login_as)
    typed, local, _in_utc = a_promise()
    post_signed_in(staff, f"/staff/tickets/{ticket.id}/reply", {"body": "测试中。", "promise_by": typed})
    page = case_page(client, ticket, "?lang=zh")
    assert f"已承诺告知进展 {local}" in page


# --- 5. waiting for the customer (R7) ------------------------------------------------------


def test_a_paused_clock_tells_the_customer_we_wait_for_them_until_they_write__r7(
    app: Flask, client: FlaskClient, org: Org, login_as: Any
) -> None:
    ticket, staff = filed_and_claimed(client, org, login_as)
    post_signed_in(staff, f"/staff/tickets/{ticket.id}/reply", {"body": "Could you help us?"})
    assert status_words(case_page(client, ticket)) == "Being handled"

    paused = post_signed_in(staff, f"/staff/tickets/{ticket.id}/pause", {"reason": REASON})
    assert paused.status_code == 303, paused.get_data(as_text=True)
    page = case_page(client, ticket)
    assert status_words(page) == "Waiting for information from you"
    assert f"What we need from you: <bdi>{REASON}</bdi>" in page
    assert "It runs again as soon as you send us a message below." in page

    token = csrf_token_from(page)
    sent = client.post(
        f"/case/{ticket.reference}/messages", data={"csrf_token": token, "body": "Photos attached."}
    )
    assert sent.status_code == 303
    assert fresh(ticket.id).paused_at is None  # writing back resumed the clock
    page = case_page(client, ticket)
    assert status_words(page) == "Being handled"
    assert 'id="waiting-for-you"' not in page

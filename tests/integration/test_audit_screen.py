"""Managers can read the audit trail (R20, issue 11.9): who did what, filtered and exported; the
rows are the facts of each decision, never what a complaint says; nobody else may read it."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditLog, utcnow
from portal.services import audit
from tests.conftest import post_form
from tests.factories import Org, make_ticket


def claim_and_reply(app: Flask, org: Org, login_as: Any) -> int:
    ticket = make_ticket(db.session, org, app.config["UPLOAD_FOLDER"], subject="Secret subject 漏水")
    responder = login_as("resp_a1")
    page = f"/staff/tickets/{ticket.id}"
    assert post_form(responder, f"{page}/claim", page=page).status_code == 303
    reply = {"body": "Private words of the reply"}
    assert post_form(responder, f"{page}/reply", reply, page=page).status_code == 303
    return ticket.id


def test_a_manager_sees_decisions_with_who_what_and_where_but_no_complaint_text(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket_id = claim_and_reply(app, org, login_as)
    page = login_as("mgr_1").get("/manage/audit")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "staff.claim" in html and "staff.reply" in html and f"ticket:{ticket_id}" in html
    assert org.users["resp_a1"].name in html
    assert "Secret subject" not in html and "Private words" not in html


@pytest.mark.parametrize("persona", ["resp_a1", "lead_a", "admin"])
def test_only_managers_may_read_the_audit_trail(app: Flask, org: Org, login_as: Any, persona: str) -> None:
    client = login_as(persona)
    for url in ("/manage/audit", "/manage/audit.csv"):
        assert client.get(url).status_code == 403
    refusals = db.session.scalars(select(AuditLog.target).where(AuditLog.outcome == "denied")).all()
    assert refusals  # the refusal itself is in the trail


def rows_of(html: str) -> str:
    return html.split("<tbody>")[1].split("</tbody>")[0] if "<tbody>" in html else ""


def test_filters_by_person_kind_and_date(app: Flask, org: Org, login_as: Any) -> None:
    claim_and_reply(app, org, login_as)
    manager = login_as("mgr_1")
    responder_id = org.users["resp_a1"].id
    mine = rows_of(
        manager.get(f"/manage/audit?person={responder_id}&action=staff.reply").get_data(as_text=True)
    )
    assert "staff.reply" in mine and "staff.claim" not in mine
    future = manager.get("/manage/audit?start=2099-01-01").get_data(as_text=True)
    assert "Nothing matches this filter." in future
    assert manager.get("/manage/audit?start=not-a-date").status_code == 422


def test_pages_go_back_in_time_without_repeating_a_row(app: Flask, org: Org, login_as: Any) -> None:
    for number in range(105):
        audit.record(db.session, action="login", outcome="failed", now=utcnow(), target=f"probe-{number:03d}")
    manager = login_as("mgr_1")
    first = manager.get("/manage/audit?action=login").get_data(as_text=True)
    # 106 sign-in rows (the manager's own is the newest): the first page ends at probe-006.
    assert "probe-104" in rows_of(first) and "probe-006" in rows_of(first) and "probe-005" not in first
    older = first.split('href="')[1:]
    link = next(part.split('"')[0] for part in older if "before=" in part).replace("&amp;", "&")
    second = rows_of(manager.get(link).get_data(as_text=True))
    assert "probe-005" in second and "probe-000" in second and "probe-006" not in second


def test_the_csv_is_what_the_screen_shows_defused_and_its_download_is_audited(
    app: Flask, org: Org, login_as: Any
) -> None:
    audit.record(db.session, action="login", outcome="failed", now=utcnow(), target="=HYPERLINK(1)")
    manager = login_as("mgr_1")
    download = manager.get("/manage/audit.csv?action=login")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["When", "Who", "What"]
    targets = [row[3] for row in rows[1:]]
    assert "'=HYPERLINK(1)" in targets  # B6: a formula typed into a sign-in box stays text
    exported = db.session.scalars(select(AuditLog).where(AuditLog.action == "audit_exported")).one()
    assert exported.actor_id == org.users["mgr_1"].id
    assert audit.verify(db.session)[1] is None

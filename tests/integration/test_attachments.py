"""Attachments: what is accepted, how it is stored, who may download it and how (security.md C1–C14).

Files go through the real public form (multipart, real CSRF token) or the real intake service;
the upload folder is a per-test temporary directory, so "nothing stored" is checked on disk too.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Attachment, AuditLog, Ticket, TicketEvent
from portal.services import filing
from portal.services.attachments import IncomingFile, check_file
from tests import payloads
from tests.conftest import base_config, csrf_token_from, fresh_token
from tests.factories import T0, rules_for_tests

STORED_NAME = re.compile(r"[0-9a-f]{32}")
INERT_CSP = "default-src 'none'; sandbox"


@pytest.fixture
def app_config(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Per-test overrides through indirect parametrisation, e.g. a 1 KB attachment limit."""
    config = base_config(database_url, tmp_path)
    config.update(getattr(request, "param", {}))
    return config


# --- helpers -------------------------------------------------------------------------------


def complaint_data(org, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Wang Fang",
        "email": "wang@example.org",
        "phone": "",
        "preferred_contact": "email",
        "category": str(org.categories["A"].id),
        "subject": "Kettle broke",
        "description": "It stopped working after a week. Photos attached.",
        "consent": "y",
        "idempotency_key": secrets.token_urlsafe(24),
    }
    data.update(overrides)
    return data


def upload(name: str, content: bytes, mimetype: str | None = None) -> tuple[Any, ...]:
    stream = io.BytesIO(content)
    wire = payloads.multipart_name(name)
    return (stream, wire, mimetype) if mimetype else (stream, wire)


def file_complaint(client, org, files: list[tuple[Any, ...]], **overrides: Any):
    data = complaint_data(org, **overrides)
    data["attachments"] = files
    data["csrf_token"] = fresh_token(client, "/complaints/new")
    return client.post("/complaints/new", data=data, content_type="multipart/form-data")


def counts() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count(Ticket.id))),
        db.session.scalar(select(func.count(Attachment.id))),
    )


def stored_files(app) -> list[Path]:
    folder = Path(app.config["UPLOAD_FOLDER"])
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def assert_nothing_stored(app) -> None:
    assert counts() == (0, 0)
    assert stored_files(app) == []


def filed_with_files(app, org, department: str, files: list[tuple[str, bytes]]) -> filing.Filed:
    """A complaint with attachments, through the real intake service (as the form would file it)."""
    checked = [
        check_file(IncomingFile(name, data), app.config["MAX_ATTACHMENT_BYTES"]) for name, data in files
    ]
    return filing.file_ticket(
        db.session,
        filing.Intake(
            customer_name=f"Customer {department}",
            customer_email=f"customer-{department.lower()}@example.org",
            subject=f"Damaged parcel ({department})",
            description="See the attached receipt.",
            category_id=org.categories[department].id,
            consent=True,
        ),
        checked,
        now=T0,
        rules=rules_for_tests(app.config["UPLOAD_FOLDER"]),
    )


def attachments_of(ticket_id: int) -> list[Attachment]:
    return list(
        db.session.scalars(
            select(Attachment).where(Attachment.ticket_id == ticket_id).order_by(Attachment.id)
        )
    )


def open_case(app, token: str):
    """A customer's browser opening the private link: the token is exchanged for a session (I4)."""
    customer = app.test_client()
    opened = customer.get(f"/track/{token}")
    assert opened.status_code == 303, opened.status_code
    return customer


def download(client, url: str):
    """GET a file and release it: a streamed file response keeps its file open until closed."""
    response = client.get(url)
    response.get_data()
    response.close()
    return response


def assert_inert_download(response, content_type: str) -> None:
    """C6 / ASVS 12.5.2: a download that can never render or run in our origin."""
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Content-Type"] == content_type
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == INERT_CSP
    assert "no-store" in response.headers["Cache-Control"]
    assert "private" in response.headers["Cache-Control"]


# --- accepted files: stored under random names, originals kept (C7, C14, R2) ---------------


def test_allowed_files_are_stored_under_random_names_with_original_name_and_sha256__asvs_12_3_1(
    app, client, org
):
    files = {"report.pdf": payloads.PDF, "photo.png": payloads.PNG, "shot.jpeg": payloads.JPEG}
    files["receipt.txt"] = payloads.TEXT
    response = file_complaint(client, org, [upload(name, data) for name, data in files.items()])
    assert response.status_code == 303, response.get_data(as_text=True)

    ticket = db.session.scalars(select(Ticket)).one()
    rows = attachments_of(ticket.id)
    assert [a.original_name for a in rows] == list(files)
    assert [a.content_type for a in rows] == [
        "application/pdf",
        "image/png",
        "image/jpeg",
        "text/plain; charset=utf-8",
    ]
    on_disk = {p.name: p for p in stored_files(app)}
    assert set(on_disk) == {a.stored_name for a in rows}
    for row in rows:
        data = files[row.original_name]
        assert STORED_NAME.fullmatch(row.stored_name)
        assert row.sha256 == hashlib.sha256(data).hexdigest()
        assert row.size_bytes == len(data)
        assert row.uploaded_by == "customer"
        assert on_disk[row.stored_name].read_bytes() == data  # R2: the original, unaltered
        assert on_disk[row.stored_name].stat().st_mode & 0o007 == 0  # ASVS 12.4.1: not world-readable
    # The filed event carries the files: the timeline shows when they arrived.
    event = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).one()
    assert {a.event_id for a in rows} == {event.id}


def test_staff_download_returns_the_exact_bytes_with_inert_headers__c6_c14(app, client, org, login_as):
    file_complaint(client, org, [upload("report.pdf", payloads.PDF), upload("photo.png", payloads.PNG)])
    ticket = db.session.scalars(select(Ticket)).one()
    staff = login_as("resp_a1")
    page = staff.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    for row, data, mimetype in zip(
        attachments_of(ticket.id), (payloads.PDF, payloads.PNG), ("application/pdf", "image/png"), strict=True
    ):
        url = f"/staff/tickets/{ticket.id}/attachments/{row.id}"
        assert url in page
        response = download(staff, url)
        assert_inert_download(response, mimetype)
        assert response.data == data
        assert hashlib.sha256(response.data).hexdigest() == row.sha256  # C14: recorded at intake
        assert row.original_name in response.headers["Content-Disposition"]


def test_customer_downloads_own_file_through_the_case_page_with_inert_headers__c6_c14(app, org):
    filed = filed_with_files(app, org, "A", [("invoice.pdf", payloads.PDF)])
    row = attachments_of(filed.ticket.id)[0]
    customer = open_case(app, filed.tracking_token)
    url = f"/case/{filed.ticket.reference}/attachments/{row.id}"
    assert url in customer.get(f"/case/{filed.ticket.reference}").get_data(as_text=True)
    response = download(customer, url)
    assert_inert_download(response, "application/pdf")
    assert response.data == payloads.PDF
    assert hashlib.sha256(response.data).hexdigest() == row.sha256


def test_unicode_file_name_is_kept_and_sent_as_rfc_6266_filename_star__asvs_12_3_4(app, org, login_as):
    name = "投诉 발표 ねこ.pdf"
    filed = filed_with_files(app, org, "A", [(name, payloads.PDF)])
    row = attachments_of(filed.ticket.id)[0]
    assert row.original_name == name
    response = download(login_as("resp_a1"), f"/staff/tickets/{filed.ticket.id}/attachments/{row.id}")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%E6%8A%95%E8%AF%89" in disposition
    assert "\r" not in disposition and "\n" not in disposition


# --- refused files: clear message, nothing stored (C2, C3, C4, C5) ---------------------------

REFUSED_CONTENT = {
    "shell.php": payloads.PHP,
    "x.phtml": payloads.PHP,
    "x.phar": payloads.PHP,
    "x.py": b"import os\nos.system('id')\n",
    "x.exe": payloads.EXE,
    "x.jpg.php": payloads.JPEG,  # real JPEG bytes do not make a .php acceptable
    "a.html": payloads.HTML,
    "a.htm": payloads.HTML,
    "a.xhtml": payloads.HTML,
    "a.shtml": payloads.HTML,
    "drawing.svg": payloads.SVG,
    ".htaccess": b"AddType application/x-httpd-php .pdf\n",
}


@pytest.mark.parametrize("name", payloads.REFUSED_NAMES)
def test_executable_html_and_svg_uploads_are_refused_and_nothing_is_stored__c2_c4_c5(app, client, org, name):
    response = file_complaint(client, org, [upload(name, REFUSED_CONTENT[name])])
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "this type of file is not accepted" in html
    assert "It stopped working after a week. Photos attached." in html  # the customer's text is kept
    assert_nothing_stored(app)


@pytest.mark.parametrize(
    ("name", "content", "mimetype"),
    [
        ("photo.jpg", payloads.HTML, "image/jpeg"),
        ("photo.png", payloads.SVG, "image/png"),
        ("report.pdf", payloads.EXE, "application/pdf"),
        ("scan.pdf", payloads.PNG, "application/pdf"),
        ("notes.txt", payloads.PNG, "text/plain"),
        ("notes.txt", payloads.EXE, "text/plain"),
        ("notes.txt", b"caf\xe9 latin-1 text", "text/plain"),
    ],
)
def test_a_file_whose_bytes_disagree_with_its_name_is_refused__c3_asvs_12_2_1(
    app, client, org, name, content, mimetype
):
    response = file_complaint(client, org, [upload(name, content, mimetype)])
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert name in html
    assert "do not match its type" in html or "must be UTF-8 text" in html
    assert_nothing_stored(app)


def test_one_bad_file_among_good_ones_stores_nothing_at_all__v5_2_3_3(app, client, org):
    files = [upload("report.pdf", payloads.PDF), upload("evil.html", payloads.HTML)]
    response = file_complaint(client, org, files)
    assert response.status_code == 422
    assert "please choose your files again" in response.get_data(as_text=True)
    assert_nothing_stored(app)


def test_text_file_containing_script_is_accepted_but_served_as_inert_plain_text__c4_c6(
    app, client, org, login_as
):
    response = file_complaint(client, org, [upload("notes.txt", payloads.SCRIPT_TEXT, "text/html")])
    assert response.status_code == 303
    ticket = db.session.scalars(select(Ticket)).one()
    row = attachments_of(ticket.id)[0]
    assert row.content_type == "text/plain; charset=utf-8"  # the browser's claim was not trusted
    response = download(login_as("resp_a1"), f"/staff/tickets/{ticket.id}/attachments/{row.id}")
    assert_inert_download(response, "text/plain; charset=utf-8")
    assert response.data == payloads.SCRIPT_TEXT


# --- limits (C1, ASVS 12.1.1, 12.1.3) -------------------------------------------------------


def test_more_than_the_allowed_number_of_files_is_refused__c1(app, client, org):
    limit = app.config["MAX_ATTACHMENTS"]
    assert limit == 5
    files = [upload(f"page-{n}.pdf", payloads.PDF) for n in range(limit + 1)]
    response = file_complaint(client, org, files)
    assert response.status_code == 422
    assert "Attach at most 5 files." in response.get_data(as_text=True)
    assert_nothing_stored(app)


def test_exactly_the_allowed_number_of_files_is_accepted__c1(app, client, org):
    files = [upload(f"page-{n}.pdf", payloads.PDF) for n in range(app.config["MAX_ATTACHMENTS"])]
    assert file_complaint(client, org, files).status_code == 303
    assert counts() == (1, 5)
    assert len(stored_files(app)) == 5


@pytest.mark.parametrize("app_config", [{"MAX_ATTACHMENT_BYTES": 1024}], indirect=True)
def test_a_file_over_the_size_limit_is_refused_and_one_at_the_limit_accepted__c1(app, client, org):
    too_big = payloads.PDF + b"%" * (1025 - len(payloads.PDF))
    response = file_complaint(client, org, [upload("big.pdf", too_big)])
    assert response.status_code == 422
    assert "big.pdf: the file is larger than" in response.get_data(as_text=True)
    assert_nothing_stored(app)

    at_limit = payloads.PDF + b"%" * (1024 - len(payloads.PDF))
    assert file_complaint(client, org, [upload("fits.pdf", at_limit)]).status_code == 303
    assert counts() == (1, 1)


def test_an_empty_file_is_refused__c1(app, client, org):
    response = file_complaint(client, org, [upload("empty.pdf", b"")])
    assert response.status_code == 422
    assert "the file is empty" in response.get_data(as_text=True)
    assert_nothing_stored(app)


@pytest.mark.parametrize(
    "app_config", [{"MAX_ATTACHMENT_BYTES": 4096, "MAX_CONTENT_LENGTH": 8192}], indirect=True
)
def test_a_request_over_max_content_length_gets_the_friendly_413_page__c1(app, client, org):
    chunk = payloads.PDF + b"%" * (4000 - len(payloads.PDF))
    response = file_complaint(client, org, [upload(f"part-{n}.pdf", chunk) for n in range(3)])
    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "What you sent is too large" in html
    assert "Traceback" not in html
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert_nothing_stored(app)


# --- hostile names (C7, ASVS 12.3.1/12.3.2) --------------------------------------------------


def test_path_traversal_file_names_are_stored_under_random_names_only__c7(app, client, org, tmp_path):
    names = payloads.TRAVERSAL_NAMES
    for batch in (names[:3], names[3:]):
        response = file_complaint(client, org, [upload(name, payloads.PDF) for name in batch])
        assert response.status_code == 303, response.get_data(as_text=True)
    rows = list(db.session.scalars(select(Attachment).order_by(Attachment.id)))
    assert len(rows) == len(names)
    upload_dir = Path(app.config["UPLOAD_FOLDER"])
    assert [p.parent for p in stored_files(app)] == [upload_dir] * len(names)
    assert {p.name for p in stored_files(app)} == {r.stored_name for r in rows}
    assert all(STORED_NAME.fullmatch(r.stored_name) for r in rows)
    # Nothing was written next to the upload folder or into the instance folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uploads"]
    assert not (Path(app.instance_path) / "evil.pdf").exists()
    for row in rows:
        original = row.original_name
        assert "/" not in original and "\\" not in original and "\x00" not in original
        assert 0 < len(original) <= 200
    assert [r.original_name for r in rows] == [
        "evil.pdf",
        "win.pdf",
        "passwd.pdf",
        "boot.pdf",
        "a.pdf",
        "con.pdf",
    ]


def test_a_very_long_file_name_is_accepted_and_shortened_keeping_its_extension__c7(app, client, org):
    """A 300-character name is cut to at most 200 characters, but stays a .pdf the customer can open."""
    response = file_complaint(client, org, [upload(payloads.LONG_NAME, payloads.PDF)])
    assert response.status_code == 303, "a long but legitimate PDF name was refused"
    row = db.session.scalars(select(Attachment)).one()
    assert len(row.original_name) <= 200
    assert row.original_name.endswith(".pdf")
    assert STORED_NAME.fullmatch(row.stored_name)


def test_stored_files_are_not_reachable_by_any_static_or_guessed_route__c12_asvs_4_3_2(app, org, login_as):
    filed = filed_with_files(app, org, "A", [("invoice.pdf", payloads.PDF)])
    stored = attachments_of(filed.ticket.id)[0].stored_name
    staff = login_as("resp_a1")
    for path in (
        f"/static/{stored}",
        f"/static/uploads/{stored}",
        f"/uploads/{stored}",
        f"/instance/uploads/{stored}",
        f"/static/../instance/uploads/{stored}",
    ):
        assert staff.get(path).status_code == 404, path


# --- who may download (C12, C13, ASVS 4.2.1) -------------------------------------------------


def test_other_department_responder_cannot_download_and_the_refusal_is_audited__c12(app, org, login_as):
    filed = filed_with_files(app, org, "A", [("invoice.pdf", payloads.PDF)])
    row = attachments_of(filed.ticket.id)[0]
    response = login_as("resp_b1").get(f"/staff/tickets/{filed.ticket.id}/attachments/{row.id}")
    assert response.status_code == 404
    assert payloads.PDF not in response.data
    denied = db.session.scalars(select(AuditLog).where(AuditLog.action == "access_denied")).all()
    assert [(a.actor_id, a.outcome) for a in denied] == [(org.users["resp_b1"].id, "denied")]


def test_attachment_of_another_ticket_under_a_visible_tickets_url_is_404__c13(app, org, login_as):
    visible = filed_with_files(app, org, "A", [("mine.pdf", payloads.PDF)])
    same_department = filed_with_files(app, org, "A", [("sibling.png", payloads.PNG)])
    other_department = filed_with_files(app, org, "B", [("secret.jpg", payloads.JPEG)])
    staff = login_as("resp_a1")
    for other in (same_department, other_department):
        foreign = attachments_of(other.ticket.id)[0]
        response = staff.get(f"/staff/tickets/{visible.ticket.id}/attachments/{foreign.id}")
        assert response.status_code == 404
        assert response.headers.get("Content-Disposition") is None
    targets = db.session.scalars(select(AuditLog.target).where(AuditLog.action == "access_denied")).all()
    assert len(targets) == 2
    assert all(t.startswith("attachment:") for t in targets)


@pytest.mark.parametrize("suffix", ["999999", "0", "-1", "abc", "1.0", "%2e%2e%2f%2e%2e%2fportal.db"])
def test_malformed_or_unknown_attachment_ids_are_404__c9(app, org, login_as, suffix):
    filed = filed_with_files(app, org, "A", [("invoice.pdf", payloads.PDF)])
    response = login_as("resp_a1").get(f"/staff/tickets/{filed.ticket.id}/attachments/{suffix}")
    assert response.status_code == 404


def test_anonymous_download_of_a_staff_attachment_url_goes_to_sign_in__c12(app, org):
    filed = filed_with_files(app, org, "A", [("invoice.pdf", payloads.PDF)])
    row = attachments_of(filed.ticket.id)[0]
    response = app.test_client().get(f"/staff/tickets/{filed.ticket.id}/attachments/{row.id}")
    assert response.status_code == 302
    assert response.location.startswith("/auth/login")
    assert payloads.PDF not in response.data


def test_a_customer_session_for_one_case_cannot_fetch_another_cases_file__i7_c12(app, org):
    first = filed_with_files(app, org, "A", [("first.pdf", payloads.PDF)])
    second = filed_with_files(app, org, "A", [("second.png", payloads.PNG)])
    first_file = attachments_of(first.ticket.id)[0]
    second_file = attachments_of(second.ticket.id)[0]
    customer = open_case(app, first.tracking_token)
    assert (
        download(customer, f"/case/{first.ticket.reference}/attachments/{first_file.id}").status_code == 200
    )
    for url in (
        f"/case/{second.ticket.reference}/attachments/{second_file.id}",
        f"/case/{first.ticket.reference}/attachments/{second_file.id}",
        f"/case/{second.ticket.reference}",
    ):
        response = download(customer, url)
        assert response.status_code == 404, url
        assert payloads.PNG not in response.data
    stranger = app.test_client()
    assert stranger.get(f"/case/{first.ticket.reference}/attachments/{first_file.id}").status_code == 404


# --- the customer adds material later (R13) -------------------------------------------------


def test_customer_adds_a_message_with_a_file_on_the_case_page(app, org, login_as):
    filed = filed_with_files(app, org, "A", [])
    customer = open_case(app, filed.tracking_token)
    case_url = f"/case/{filed.ticket.reference}"
    token = csrf_token_from(customer.get(case_url).get_data(as_text=True))
    response = customer.post(
        f"{case_url}/messages",
        data={
            "csrf_token": token,
            "body": "Here is the photo you asked for.",
            "attachments": [upload("kettle.jpg", payloads.JPEG)],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    row = attachments_of(filed.ticket.id)[0]
    event = db.session.get(TicketEvent, row.event_id)
    assert (event.kind, event.body, event.is_public) == (
        "customer_message",
        "Here is the photo you asked for.",
        True,
    )
    assert row.original_name == "kettle.jpg" and row.sha256 == hashlib.sha256(payloads.JPEG).hexdigest()
    page = customer.get(case_url).get_data(as_text=True)
    assert "kettle.jpg" in page and "Here is the photo you asked for." in page
    assert download(customer, f"{case_url}/attachments/{row.id}").data == payloads.JPEG
    staff_copy = download(login_as("resp_a1"), f"/staff/tickets/{filed.ticket.id}/attachments/{row.id}")
    assert staff_copy.data == payloads.JPEG


def test_customer_message_with_a_refused_file_adds_nothing__c2(app, org):
    filed = filed_with_files(app, org, "A", [])
    customer = open_case(app, filed.tracking_token)
    case_url = f"/case/{filed.ticket.reference}"
    events_before = db.session.scalar(select(func.count(TicketEvent.id)))
    token = csrf_token_from(customer.get(case_url).get_data(as_text=True))
    response = customer.post(
        f"{case_url}/messages",
        data={
            "csrf_token": token,
            "body": "Look at this",
            "attachments": [upload("x.jpg.php", payloads.PHP)],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "this type of file is not accepted" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(TicketEvent.id))) == events_before
    assert counts() == (1, 0)
    assert stored_files(app) == []


def test_customer_message_without_csrf_token_is_refused__e3(app, org):
    filed = filed_with_files(app, org, "A", [])
    customer = open_case(app, filed.tracking_token)
    response = customer.post(
        f"/case/{filed.ticket.reference}/messages",
        data={"body": "forged", "attachments": [upload("a.pdf", payloads.PDF)]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert counts() == (1, 0)
    assert stored_files(app) == []

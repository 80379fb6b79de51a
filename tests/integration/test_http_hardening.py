"""HTTP-level hardening: headers on every page type, CSRF, methods, hidden files, production config
(security.md B9, E1, E2, E6, E7, E9, E10; ASVS 4.2.2, 8.2.1, 14.4.x, 14.5.x)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from functools import cached_property
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import IntegerConverter

from portal import create_app
from portal.config import DEV_SECRET_KEY
from portal.extensions import db
from portal.models import Ticket, TicketEvent, User
from tests.conftest import base_config, fresh_token, post_form

EVIL_ORIGIN = "https://evil.example"


@pytest.fixture
def app_config(database_url, tmp_path, request: pytest.FixtureRequest) -> dict[str, Any]:
    config = base_config(database_url, tmp_path)
    config.update(getattr(request, "param", {}))
    return config


def complaint_data(org) -> dict[str, Any]:
    return {
        "name": "Wang Fang",
        "email": "wang@example.org",
        "preferred_contact": "email",
        "category": str(org.categories["A"].id),
        "subject": "Kettle broke",
        "description": "It stopped working after a week.",
        "consent": "y",
        "idempotency_key": secrets.token_urlsafe(24),
    }


class Site:
    """One of each kind of page, reached the way its real visitor reaches it (sign-ins on demand)."""

    def __init__(self, app, org, login_as) -> None:
        self.app = app
        self._login_as = login_as
        self.customer = app.test_client()
        filed = post_form(self.customer, "/complaints/new", complaint_data(org))
        assert filed.status_code == 303
        self.ticket = db.session.scalars(select(Ticket)).one()
        self.reference = self.ticket.reference
        self.ticket_id = self.ticket.id
        self.anonymous = app.test_client()

    @cached_property
    def staff(self):
        return self._login_as("resp_a1")

    @cached_property
    def other_department(self):
        return self._login_as("resp_b1")

    @cached_property
    def admin(self):
        return self._login_as("admin")


@pytest.fixture
def site(app, org, login_as) -> Site:
    return Site(app, org, login_as)


def _boom() -> str:
    raise RuntimeError("secret internal detail: password=hunter2")


PAGES: dict[str, Callable[[Site], Any]] = {
    "home": lambda s: s.anonymous.get("/"),
    "public complaint form": lambda s: s.anonymous.get("/complaints/new"),
    "feedback form": lambda s: s.anonymous.get("/feedback/new"),
    "sign-in page": lambda s: s.anonymous.get("/auth/login"),
    "filed confirmation": lambda s: s.customer.get(f"/filed/{s.reference}"),
    "customer case page": lambda s: s.customer.get(f"/case/{s.reference}"),
    "staff queue": lambda s: s.staff.get("/staff/queue"),
    "staff queue htmx fragment": lambda s: s.staff.get(
        "/staff/queue", headers={"HX-Request": "true", "HX-Target": "queue-rows"}
    ),
    "staff ticket": lambda s: s.staff.get(f"/staff/tickets/{s.ticket_id}"),
    "staff register form": lambda s: s.staff.get("/staff/complaints/new"),
    "password change": lambda s: s.staff.get("/auth/password"),
    "admin users": lambda s: s.admin.get("/admin/users"),
    "404 unknown page": lambda s: s.anonymous.get("/no-such-page"),
    "404 ticket of another department": lambda s: s.other_department.get(f"/staff/tickets/{s.ticket_id}"),
    "404 case without its link": lambda s: s.anonymous.get(f"/case/{s.reference}"),
    "405 wrong method": lambda s: s.staff.get("/auth/logout"),
    "400 missing csrf token": lambda s: s.staff.post(f"/staff/tickets/{s.ticket_id}/claim"),
    "403 staff on admin page": lambda s: s.staff.get("/admin/users"),
}
PERSONAL = {
    "filed confirmation",
    "customer case page",
    "staff queue",
    "staff queue htmx fragment",
    "staff ticket",
    "staff register form",
    "password change",
    "admin users",
    "404 ticket of another department",
}
EXPECTED_STATUS = {
    "404 unknown page": 404,
    "404 ticket of another department": 404,
    "404 case without its link": 404,
    "405 wrong method": 405,
    "400 missing csrf token": 400,
    "403 staff on admin page": 403,
}


def csp_directives(response) -> dict[str, str]:
    header = response.headers.get("Content-Security-Policy", "")
    parts = (p.strip() for p in header.split(";") if p.strip())
    return {p.split(" ", 1)[0]: (p.split(" ", 1)[1] if " " in p else "") for p in parts}


def assert_hardened_headers(response) -> None:
    """E6 / B9: CSP without inline script, no sniffing, no framing, a referrer policy, a charset."""
    csp = csp_directives(response)
    assert csp.get("script-src") == "'self'", csp
    assert csp.get("object-src") == "'none'"
    assert csp.get("frame-ancestors") == "'none'"
    assert csp.get("base-uri") == "'none'"
    assert "default-src" in csp
    header = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in header and "unsafe-eval" not in header
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] in ("same-origin", "no-referrer", "strict-origin")
    assert "charset=utf-8" in response.headers["Content-Type"].lower()
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Werkzeug" not in response.headers.get("Server", "")


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_type_carries_the_security_headers__e6_b9_asvs_14_4(site, page):
    response = PAGES[page](site)
    assert response.status_code == EXPECTED_STATUS.get(page, 200), response.status_code
    assert_hardened_headers(response)
    if page in PERSONAL:
        assert "no-store" in response.headers.get("Cache-Control", ""), page  # ASVS 8.2.1
    if response.status_code >= 400:
        html = response.get_data(as_text=True)
        assert "Traceback" not in html and "werkzeug" not in html.lower()


def test_case_page_sends_no_referrer_so_the_case_url_never_leaks__i4(site):
    response = site.customer.get(f"/case/{site.reference}")
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_public_pages_are_not_marked_personal(site):
    """The no-store flag of a case page must not stick to the next, unrelated request."""
    site.customer.get(f"/case/{site.reference}")
    response = site.customer.get("/complaints/new")
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_unexpected_error_shows_a_generic_page_with_an_incident_id__e9_asvs_7_4_1(app, org):
    app.add_url_rule("/_test/boom", "test_boom", _boom)
    response = app.test_client().get("/_test/boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Something went wrong on our side" in html
    assert "hunter2" not in html and "RuntimeError" not in html and "Traceback" not in html
    incident = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{16}", incident)
    assert incident in html
    assert_hardened_headers(response)


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True}], indirect=True)
def test_the_429_page_is_friendly_and_hardened__e6_j1(app, org):
    guesser = app.test_client()
    statuses = [guesser.get(f"/track/{secrets.token_urlsafe(32)}").status_code for _ in range(11)]
    assert statuses[:10] == [404] * 10
    assert statuses[10] == 429
    response = guesser.get(f"/track/{secrets.token_urlsafe(32)}")
    assert response.status_code == 429
    assert response.headers["Retry-After"].isdigit()
    assert "Too many attempts" in response.get_data(as_text=True)
    assert_hardened_headers(response)


# --- CORS (E7, ASVS 14.5.3) ----------------------------------------------------------------


def test_no_cors_headers_even_when_another_origin_asks__e7_asvs_14_5_3(site):
    origin = {"Origin": EVIL_ORIGIN}
    responses = [
        site.anonymous.get("/complaints/new", headers=origin),
        site.anonymous.post("/complaints/new", data={"name": "x"}, headers=origin),
        site.staff.get(f"/staff/tickets/{site.ticket_id}", headers=origin),
        site.staff.open(
            f"/staff/tickets/{site.ticket_id}",
            method="OPTIONS",
            headers={**origin, "Access-Control-Request-Method": "POST"},
        ),
        site.customer.get(f"/case/{site.reference}", headers=origin),
    ]
    for response in responses:
        assert not [k for k, _v in response.headers.items() if k.lower().startswith("access-control-")]


# --- CSRF on staff actions (E1, ASVS 4.2.2) ------------------------------------------------


def _ticket_state(ticket_id: int) -> tuple[Any, ...]:
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket_id)
    events = db.session.scalar(select(func.count(TicketEvent.id)).where(TicketEvent.ticket_id == ticket_id))
    return ticket.status, ticket.owner_id, ticket.version, events


def test_staff_post_without_a_csrf_token_is_refused_and_changes_nothing__e1_asvs_4_2_2(site):
    before = _ticket_state(site.ticket_id)
    url = f"/staff/tickets/{site.ticket_id}"
    for action, data in (("claim", {}), ("notes", {"body": "forged note"}), ("reply", {"body": "forged"})):
        response = site.staff.post(f"{url}/{action}", data=data)
        assert response.status_code == 400, action
        assert "Your form expired or came from elsewhere" in response.get_data(as_text=True)
    assert _ticket_state(site.ticket_id) == before


def test_a_csrf_token_from_another_session_is_refused__e1(site, login_as):
    before = _ticket_state(site.ticket_id)
    url = f"/staff/tickets/{site.ticket_id}"
    foreign_token = fresh_token(login_as("resp_a2"), url)
    response = site.staff.post(f"{url}/claim", data={"csrf_token": foreign_token})
    assert response.status_code == 400
    assert _ticket_state(site.ticket_id) == before


def test_htmx_post_needs_the_x_csrftoken_header__e1(site):
    url = f"/staff/tickets/{site.ticket_id}"
    htmx = {"HX-Request": "true", "HX-Target": f"ticket-row-{site.ticket_id}"}
    before = _ticket_state(site.ticket_id)
    assert site.staff.post(f"{url}/claim", headers=htmx).status_code == 400
    assert _ticket_state(site.ticket_id) == before
    # The same request with the header the page carries (hx-headers on <body>) goes through.
    token = fresh_token(site.staff, "/staff/queue")
    accepted = site.staff.post(f"{url}/claim", headers={**htmx, "X-CSRFToken": token})
    assert accepted.status_code == 200
    assert _ticket_state(site.ticket_id)[1] is not None


def test_staff_registration_without_a_token_stores_nothing__e1(site, org):
    data = {**complaint_data(org), "channel": "phone"}
    response = site.staff.post("/staff/complaints/new", data=data)
    assert response.status_code == 400
    assert db.session.scalar(select(func.count(Ticket.id))) == 1


# --- methods (E2, E10, ASVS 14.5.1) --------------------------------------------------------


def _example_path(rule, site: Site) -> str:
    values = {}
    for name in rule.arguments:
        numeric = isinstance(rule._converters[name], IntegerConverter)
        values[name] = site.ticket_id if numeric else site.reference
    path = rule.rule
    for name, value in values.items():
        path = re.sub(rf"<(?:[a-z]+:)?{name}>", str(value), path)
    return path


def test_get_on_any_mutating_url_is_405_and_changes_nothing__e2(app, site):
    adapter = app.url_map.bind("localhost")
    checked = []
    before = _ticket_state(site.ticket_id)
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or "GET" in rule.methods:
            continue
        path = _example_path(rule, site)
        try:
            adapter.match(path, method="GET")
        except MethodNotAllowed:
            pass
        except NotFound:
            continue
        else:
            continue  # the same address also serves a page (a GET rule of its own)
        for client in (site.staff, site.customer, site.admin):
            for method in ("GET", "HEAD"):
                response = client.open(path, method=method)
                assert response.status_code == 405, (method, path, response.status_code)
        checked.append(path)
    assert f"/staff/tickets/{site.ticket_id}/claim" in checked
    assert f"/staff/tickets/{site.ticket_id}/close" in checked
    assert "/auth/logout" in checked
    assert f"/case/{site.reference}/messages" in checked
    assert _ticket_state(site.ticket_id) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("TRACE", "/"),
        ("TRACE", "/complaints/new"),
        ("PUT", "/complaints/new"),
        ("DELETE", "/complaints/new"),
        ("PATCH", "/auth/login"),
        ("PUT", "/staff/tickets/{id}"),
        ("DELETE", "/staff/tickets/{id}"),
    ],
)
def test_unused_http_methods_are_405__e10_asvs_14_5_1(site, method, path):
    response = site.staff.open(path.format(id=site.ticket_id), method=method)
    assert response.status_code == 405
    assert_hardened_headers(response)


# --- hidden files and debug endpoints (E9, ASVS 4.3.2, 14.3.2) ------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/instance/portal.db",
        "/portal.db",
        "/.git/HEAD",
        "/.git/config",
        "/.env",
        "/static/../instance/portal.db",
        "/static/../../instance/portal.db",
        "/static/%2e%2e/instance/portal.db",
        "/static/..%2finstance%2fportal.db",
        "/static/../.git/HEAD",
        "/static/../portal/config.py",
        "/migrations/env.py",
        "/console",
        "/instance/uploads/",
        "/static/",
    ],
)
def test_files_outside_the_static_folder_and_debug_consoles_are_404__e9_asvs_4_3_2(site, path):
    for client in (site.anonymous, site.staff):
        response = client.get(path)
        assert response.status_code == 404, (path, response.status_code)
        assert b"SQLite format" not in response.data and b"[core]" not in response.data


def test_the_werkzeug_debugger_is_off(app):
    assert app.debug is False
    assert app.config.get("DEBUG") is not True


# --- production configuration (ASVS 14.3.2, 2.5.4) ------------------------------------------


def _production_overrides(database_url: str, tmp_path, secret_key: str) -> dict[str, Any]:
    return {
        "PORTAL_ENV": "production",
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        "BASE_URL": "https://portal.example",
    }


@pytest.mark.parametrize("secret_key", ["short", "", DEV_SECRET_KEY, "x" * 31])
def test_production_refuses_to_start_without_a_real_secret_key(database_url, tmp_path, secret_key):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(_production_overrides(database_url, tmp_path, secret_key))


def test_production_starts_with_a_40_character_key_and_sends_hsts__asvs_14_4_5(database_url, tmp_path):
    production = create_app(_production_overrides(database_url, tmp_path, secrets.token_hex(20)))
    try:
        assert production.config["LOAD_DEMO_DATA"] is False
        assert production.debug is False
        response = production.test_client().get("/")
        assert response.status_code == 200
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        assert_hardened_headers(response)
    finally:
        with production.app_context():
            db.engine.dispose()


def test_the_demo_command_refuses_to_load_in_production(database_url, tmp_path):
    production = create_app(_production_overrides(database_url, tmp_path, secrets.token_hex(20)))
    try:
        with production.app_context():
            users_before = db.session.scalar(select(func.count(User.id)))
            db.session.remove()
        result = production.test_cli_runner().invoke(args=["demo"])
        assert result.exit_code != 0
        assert "production" in result.output
        with production.app_context():
            assert db.session.scalar(select(func.count(User.id))) == users_before
            assert db.session.scalar(select(func.count(Ticket.id))) == 0
            db.session.remove()
    finally:
        with production.app_context():
            db.engine.dispose()

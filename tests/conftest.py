"""Fixtures shared by the integration and browser tests.

The schema is built once per run by the real migrations, on SQLite (a file under tmp) or on
the database in TEST_DATABASE_URL (PostgreSQL in CI). Each test gets a fresh app and an empty
set of tables; CSRF stays on, and `post_form()` sends the token a browser would.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from portal.app import create_app
from portal.extensions import db
from portal.services.settings import Rules
from tests.factories import Org, make_org, rules_for_tests

CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        _reset_postgres(url)  # fails loudly when PostgreSQL cannot be reached: nothing is skipped
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal-test.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    return url


def base_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        "RATELIMIT_ENABLED": False,
        "BASE_URL": "http://portal.test",
        "SERVER_NAME": None,
    }


def _empty_tables() -> None:
    """Empty every table between tests, past the append-only triggers (migration 0005).

    PostgreSQL: a superuser's `session_replication_role = replica` skips user triggers for this
    transaction only. SQLite has no such switch: the triggers are dropped and created again from
    their own stored SQL. Neither is open to the application's login in production.
    """
    triggers: list[str] = []
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        stored = db.session.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
        for name, sql in stored:
            db.session.execute(text(f'DROP TRIGGER "{name}"'))
            triggers.append(sql)
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    for sql in triggers:
        db.session.execute(text(sql))
    if db.engine.dialect.name == "postgresql":
        # Reset id sequences so references do not depend on the order tests run in.
        for table in db.metadata.sorted_tables:
            db.session.execute(text(f"ALTER SEQUENCE IF EXISTS {table.name}_id_seq RESTART WITH 1"))
    db.session.commit()


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    """Override entries here (in a test module's own fixture) before `app` is built."""
    return base_config(database_url, tmp_path)


class OwnContextClient(FlaskClient):
    """Each request gets its own app context (and database session), as in production.

    The `app` fixture keeps one app context pushed so tests can use db.session between requests;
    Flask would otherwise reuse it for every request, leaking `g` (Flask-Login's cached user,
    Flask-WTF's token) from one client to the next — an anonymous client could act as the last
    user who signed in.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        db.session.commit()  # end the test's own transaction first (SQLite writers lock up front)
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    application = create_app(app_config)
    application.test_client_class = OwnContextClient
    with application.app_context():
        _empty_tables()
    ctx = application.app_context()
    ctx.push()
    try:
        yield application
    finally:
        db.session.remove()
        _empty_tables()
        db.engine.dispose()
        ctx.pop()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def org(app: Flask) -> Org:
    """The personas of security.md §4: departments A and B, their staff, managers, admin."""
    return make_org(db.session)


def csrf_token_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


def fresh_token(client: FlaskClient, page: str = "/auth/login") -> str:
    response = client.get(page)
    return csrf_token_from(response.get_data(as_text=True))


def post_form(
    client: FlaskClient,
    url: str,
    data: dict[str, Any] | None = None,
    *,
    page: str | None = None,
    **kwargs: Any,
) -> Any:
    """POST like a browser: with the CSRF token the rendered form carried."""
    payload = dict(data or {})
    payload.setdefault("csrf_token", fresh_token(client, page or "/complaints/new"))
    return client.post(url, data=payload, **kwargs)


def complaint_data(org: Org, **overrides: Any) -> dict[str, Any]:
    """What a customer types into /complaints/new (a department-A complaint); `overrides` win."""
    data: dict[str, Any] = {
        "name": "Wang Fang",
        "email": "wang@example.org",
        "phone": "",
        "preferred_contact": "email",
        "category": str(org.categories["A"].id),
        "subject": "Kettle broke",
        "description": "It stopped working after a week.",
        "consent": "y",
        "idempotency_key": secrets.token_urlsafe(24),
    }
    data.update(overrides)
    return data


def file_via_form(client: FlaskClient, org: Org, **overrides: Any) -> Any:
    """File a complaint over HTTP as a browser does: the form of `complaint_data(org, **overrides)`."""
    return post_form(client, "/complaints/new", complaint_data(org, **overrides))


@dataclass
class LoggedIn:
    client: FlaskClient
    user_id: int


def login(client: FlaskClient, email: str, password: str = "correct-horse-battery") -> Any:
    return post_form(client, "/auth/login", {"email": email, "password": password}, page="/auth/login")


@pytest.fixture
def login_as(app: Flask, org: Org):  # type: ignore[no-untyped-def]
    """`login_as("resp_a1")` → a fresh client signed in as that persona."""

    def _login(persona: str) -> FlaskClient:
        user_client = app.test_client()
        response = login(user_client, org.users[persona].email)
        assert response.status_code == 303, response.get_data(as_text=True)
        return user_client

    return _login


@pytest.fixture
def rules(app: Flask) -> Rules:
    """The factory's rules: default targets on a plain Monday-to-Friday UTC calendar."""
    return rules_for_tests(app.config["UPLOAD_FOLDER"])


def post_signed_in(client: FlaskClient, url: str, data: dict[str, str], prefix: str | None = None) -> Any:
    """POST as a signed-in staff member; `prefix` for forms whose fields are prefixed (one per row)."""
    token = fresh_token(client, "/staff/callbacks")  # any signed-in page carries the session's token
    payload = {"csrf_token": token, **data}
    if prefix:
        payload[f"{prefix}-csrf_token"] = token
    return client.post(url, data=payload)


def name_subject(client: FlaskClient, ticket_id: int, user_id: int) -> Any:
    """Name (or, with 0, un-name) the person the complaint is about, through the real route (R10)."""
    return post_signed_in(client, f"/staff/tickets/{ticket_id}/concerns", {"user": str(user_id)})


def page_text(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return str(response.get_data(as_text=True))

"""A database outage shows staff a clear 503, never a 500, and the portal comes back by itself
(security.md L2).

The outage is real: on SQLite another process takes the database's exclusive lock and holds it;
on PostgreSQL the database stops accepting connections and its backends are terminated.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.extensions import db
from tests.factories import Org, make_ticket
from tests.outages import database_down


@pytest.fixture
def app_config(app_config: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    return {**app_config, "SQLITE_BUSY_TIMEOUT_MS": 300, **getattr(request, "param", {})}


def assert_busy(response: Any) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code == 503, body[:500]
    assert response.headers["Retry-After"] == "5"
    assert "The service is busy right now" in body
    assert "Traceback" not in body


def test_a_signed_in_lead_gets_503_on_pages_and_fragments_and_the_portal_comes_back(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket_id = make_ticket(db.session, org, app.config["UPLOAD_FOLDER"]).id
    lead_name = org.users["lead_a"].name
    lead: FlaskClient = login_as("lead_a")
    assert lead.get("/staff/queue").status_code == 200

    with database_down(app):
        assert_busy(lead.get("/staff/queue"))
        assert_busy(lead.get(f"/staff/tickets/{ticket_id}"))
        fragment = lead.get("/staff/queue", headers={"HX-Request": "true", "HX-Target": "queue-rows"})
        assert_busy(fragment)
        assert_busy(lead.get("/staff/notifications/count", headers={"HX-Request": "true"}))

    # No restart: the next request after the database is back is served as usual.
    back = lead.get("/staff/queue")
    assert back.status_code == 200
    assert lead_name in back.get_data(as_text=True)  # still signed in
    assert lead.get(f"/staff/tickets/{ticket_id}").status_code == 200


def test_an_anonymous_customer_gets_503_with_retry_after(app: Flask, org: Org, client: FlaskClient) -> None:
    with database_down(app):
        assert_busy(client.get("/complaints/new"))
    assert client.get("/complaints/new").status_code == 200


# --- /healthz/ready (issue 15.6) ------------------------------------------------------------------


def test_ready_says_ok_while_the_database_answers_and_503_while_it_is_down(
    app: Flask, client: FlaskClient
) -> None:
    answer = client.get("/healthz/ready")
    assert (answer.status_code, answer.json) == (200, {"status": "ready", "database": "ok"})
    assert answer.headers["Cache-Control"] == "no-store"
    with database_down(app):
        down = client.get("/healthz/ready")
        assert (down.status_code, down.json) == (503, {"status": "unavailable", "database": "down"})
        assert client.get("/healthz/live").status_code == 200  # the process itself is fine
    assert client.get("/healthz/ready").status_code == 200


@pytest.mark.parametrize("app_config", [{"REDIS_URL": "redis://127.0.0.1:1/0"}], indirect=True)
def test_ready_is_503_when_the_configured_redis_does_not_answer(client: FlaskClient) -> None:
    answer = client.get("/healthz/ready")
    assert answer.status_code == 503
    assert answer.json == {"status": "unavailable", "database": "ok", "redis": "down"}
    assert "127.0.0.1" not in answer.get_data(as_text=True)  # nothing about where things are


@pytest.mark.parametrize("app_config", [{"REDIS_URL": "redis://127.0.0.1:6379/15"}], indirect=True)
def test_ready_checks_redis_when_it_is_configured(client: FlaskClient) -> None:
    answer = client.get("/healthz/ready")
    assert (answer.status_code, answer.json) == (200, {"status": "ready", "database": "ok", "redis": "ok"})

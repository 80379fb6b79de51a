"""A database outage shows staff a clear 503, never a 500, and the portal comes back by itself
(security.md L2).

The outage is real: on SQLite another process takes the database's exclusive lock and holds it;
on PostgreSQL the database stops accepting connections and its backends are terminated.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, make_url, text

from portal.extensions import db
from tests.factories import Org, make_ticket

# Holds SQLite's exclusive lock (WAL without shared memory) until stdin closes.
LOCKER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA locking_mode=EXCLUSIVE")
connection.execute("BEGIN EXCLUSIVE")
connection.execute("CREATE TABLE IF NOT EXISTS outage_probe (id INTEGER)")
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "SQLITE_BUSY_TIMEOUT_MS": 300}


@contextmanager
def sqlite_locked(url: str) -> Iterator[None]:
    path = make_url(url).database
    assert path and Path(path).exists()
    with subprocess.Popen(
        [sys.executable, "-c", LOCKER, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as locker:
        try:
            assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
            yield
        finally:
            locker.kill()  # the lock dies with the process, as when a stuck writer is killed
            locker.wait(timeout=10)


@contextmanager
def postgres_down(url: str) -> Iterator[None]:
    maintenance = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = make_url(url).database
    try:
        with maintenance.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
        yield
    finally:
        with maintenance.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        maintenance.dispose()


@contextmanager
def database_down(app: Flask) -> Iterator[None]:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    db.session.commit()
    db.session.close()
    db.engine.dispose()  # an open SQLite connection keeps others from taking the exclusive lock
    outage = postgres_down(url) if url.startswith("postgresql") else sqlite_locked(url)
    with outage:
        yield
    db.session.remove()  # the test's own connection may have been terminated with the rest


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

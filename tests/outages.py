"""Real outages for fault tests: the database locked by another process or refusing connections.

Nothing is mocked: SQLite's exclusive lock is held by a separate process; PostgreSQL's test
database stops accepting connections and its backends are terminated, then comes back.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask
from sqlalchemy import create_engine, make_url, text

from portal.extensions import db

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

"""A GET that writes an audit row (an export, a refusal) gets its normal answer while other
processes write (security.md 3.2, issue 12 hole 4).

The load is real: a separate process takes the database's write lock (SQLite: BEGIN IMMEDIATE;
PostgreSQL: the audit chain head's row lock) and holds it for about a second, round after round,
while the requests run. On SQLite a read transaction that then writes would fail at once with
SQLITE_BUSY whatever the busy timeout; the audit row's own write transaction waits its turn.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditLog
from portal.services import audit
from tests.factories import Org, make_ticket

# Takes the write lock when told to ("go" on stdin), says so, holds it, then lets go: a worker
# writing an audit row of its own, one round per request of the test.
WRITER = """
import sys, time
from sqlalchemy import create_engine
url, hold = sys.argv[1], float(sys.argv[2])
engine = create_engine(url, isolation_level="AUTOCOMMIT")
begin = "BEGIN IMMEDIATE" if url.startswith("sqlite") else "BEGIN"
with engine.connect() as connection:
    print("ready", flush=True)
    for _line in sys.stdin:
        connection.exec_driver_sql(begin)
        connection.exec_driver_sql("UPDATE audit_chain SET row_count = row_count WHERE id = 1")
        print("holding", flush=True)
        time.sleep(hold)
        connection.exec_driver_sql("COMMIT")
        print("released", flush=True)
"""

ROUNDS = 3
HOLD_SECONDS = 1.0


@contextmanager
def busy_writer(app: Flask) -> Iterator[Callable[[Callable[[], Any]], Any]]:
    """Yield `during_write(request)`: runs `request` while the other process holds the lock."""
    db.session.commit()
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, app.config["SQLALCHEMY_DATABASE_URI"], str(HOLD_SECONDS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as writer:
        assert writer.stdin is not None and writer.stdout is not None
        stdin, stdout = writer.stdin, writer.stdout

        def during_write(request: Callable[[], Any]) -> Any:
            stdin.write("go\n")
            stdin.flush()
            assert stdout.readline().strip() == "holding"
            try:
                return request()
            finally:
                assert stdout.readline().strip() == "released"

        try:
            assert stdout.readline().strip() == "ready"
            yield during_write
        finally:
            writer.kill()
            writer.wait(timeout=10)


def audit_count(action: str, target: str) -> int:
    return db.session.scalar(
        select(func.count(AuditLog.id)).where(AuditLog.action == action, AuditLog.target == target)
    )


def test_exports_and_refusals_answer_normally_and_are_all_audited_while_another_process_writes(
    app: Flask, org: Org, login_as: Any
) -> None:
    hidden = make_ticket(db.session, org, app.config["UPLOAD_FOLDER"], department="B").id
    lead = login_as("lead_a")
    responder = login_as("resp_a1")
    export_target = f"dashboard:summary:{org.departments['A'].id}"

    with busy_writer(app) as during_write:
        for _round in range(ROUNDS):
            export = during_write(lambda: lead.get("/manage/dashboard/summary.csv"))
            assert export.status_code == 200, export.get_data(as_text=True)[:300]
            assert export.mimetype == "text/csv"
            refusal = during_write(lambda: responder.get(f"/staff/tickets/{hidden}"))
            assert refusal.status_code == 404, refusal.get_data(as_text=True)[:300]

    db.session.rollback()
    assert audit_count("report_exported", export_target) == ROUNDS
    assert audit_count("access_denied", f"ticket:{hidden}") == ROUNDS
    checked, broken = audit.verify(db.session)
    assert broken is None and checked > 2 * ROUNDS

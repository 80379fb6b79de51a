"""The audit trail can be trusted (security.md M2, R12, R20): append-only where the data lives,
and chained so that a rewrite shows even where a trigger was dropped.

The tamper tests use the application's own database login, as an attacker with the app's
credentials would; on PostgreSQL the suite's login is a superuser, so "the trigger was dropped"
is played by `session_replication_role = replica` (which skips user triggers), on SQLite by
dropping the trigger itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from portal.extensions import db
from portal.models import AuditChain, AuditLog, EventRedaction, TicketEvent, utcnow
from portal.services import audit
from tests.factories import Org, make_ticket


def audit_rows(org: Org, count: int = 3) -> list[int]:
    for number in range(count):
        audit.record(
            db.session,
            action="login",
            outcome="ok",
            now=utcnow(),
            actor_id=org.users["resp_a1"].id,
            target=f"attempt {number} 漏水",
            request_id=f"req{number}",
            ip="127.0.0.1",
        )
    return list(db.session.scalars(select(AuditLog.id).order_by(AuditLog.id)))


def raw(statement: str, **params: object) -> None:
    db.session.commit()  # end the test's own transaction: SQLite writers take the lock up front
    with db.engine.begin() as connection:
        connection.execute(text(statement), params)


@contextmanager
def triggers_off() -> Iterator[object]:
    """A connection on which the append-only triggers do not fire (an attacker who dropped them)."""
    db.session.commit()
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            yield connection
            return
        stored = connection.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
        for name, _sql in stored:
            connection.execute(text(f'DROP TRIGGER "{name}"'))
        yield connection
        for _name, sql in stored:
            connection.execute(text(sql))


def forbidden(statement: str, **params: object) -> None:
    with pytest.raises(DatabaseError, match="append-only"):
        raw(statement, **params)
    db.session.rollback()


# --- M2: the database itself refuses rewrites ---------------------------------------------------


def test_the_app_login_cannot_update_or_delete_audit_rows(app: Flask, org: Org) -> None:
    [*_, last] = audit_rows(org)
    forbidden("UPDATE audit_log SET outcome = 'tampered' WHERE id = (SELECT max(id) FROM audit_log)")
    forbidden("DELETE FROM audit_log WHERE id = :id", id=last)
    assert db.session.get(AuditLog, last).outcome == "ok"


def test_the_app_login_cannot_rewrite_or_remove_ticket_events(app: Flask, org: Org) -> None:
    ticket = make_ticket(db.session, org, app.config["UPLOAD_FOLDER"])
    event = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).first()
    assert event is not None
    event_id, before = event.id, (event.kind, event.body)
    forbidden("UPDATE ticket_event SET body = 'rewritten' WHERE id = :id", id=event_id)
    forbidden("UPDATE ticket_event SET kind = 'closed' WHERE id = :id", id=event_id)
    forbidden("DELETE FROM ticket_event WHERE id = :id", id=event_id)
    db.session.expire_all()
    kept = db.session.get(TicketEvent, event_id)
    assert kept is not None and (kept.kind, kept.body) == before


def test_emptying_the_tables_at_once_is_refused(app: Flask, org: Org) -> None:
    audit_rows(org, 1)
    make_ticket(db.session, org, app.config["UPLOAD_FOLDER"])
    before = (count_of(AuditLog), count_of(TicketEvent))
    if db.engine.dialect.name == "postgresql":
        forbidden("TRUNCATE audit_log")
        forbidden("TRUNCATE ticket_event CASCADE")
    else:  # SQLite has no TRUNCATE; its whole-table DELETE still fires the row triggers
        forbidden("DELETE FROM audit_log")
        forbidden("DELETE FROM ticket_event")
    assert before[0] >= 1 and before[1] >= 1
    assert (count_of(AuditLog), count_of(TicketEvent)) == before


def count_of(model: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def test_redaction_is_the_one_sanctioned_rewrite_and_is_audited(app: Flask, org: Org) -> None:
    """R19: retention may remove a customer's words from an event — only its texts, recorded."""
    ticket = make_ticket(db.session, org, app.config["UPLOAD_FOLDER"])
    event = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).first()
    assert event is not None
    kind, at = event.kind, event.at
    audit.redact_event(db.session, event.id, reason="retention", now=utcnow(), replacement="[removed]")
    db.session.commit()
    db.session.expire_all()
    redacted = db.session.get(TicketEvent, event.id)
    assert (redacted.body, redacted.new_value, redacted.kind, redacted.at) == ("[removed]", None, kind, at)
    assert db.session.scalar(select(func.count()).select_from(EventRedaction)) == 1
    assert db.session.scalar(select(AuditLog.action).order_by(AuditLog.id.desc())) == "event_redacted"
    # Even a redacted event keeps its kind, time and actor, and the redaction row is itself final.
    forbidden("UPDATE ticket_event SET kind = 'closed' WHERE id = :id", id=event.id)
    forbidden("DELETE FROM event_redaction")
    assert audit.verify(db.session)[1] is None


# --- the chain shows what the triggers could not stop --------------------------------------------


def test_an_untouched_chain_verifies(app: Flask, org: Org) -> None:
    ids = audit_rows(org, 5)
    checked, broken = audit.verify(db.session)
    assert (checked, broken) == (len(ids), None)
    head = db.session.get(AuditChain, 1)
    assert head.row_count == len(ids)


def test_a_changed_row_is_named(app: Flask, org: Org) -> None:
    ids = audit_rows(org, 4)
    with triggers_off() as connection:
        connection.execute(text("UPDATE audit_log SET outcome = 'tampered' WHERE id = :id"), {"id": ids[2]})
    checked, broken = audit.verify(db.session)
    assert broken is not None and broken.row_id == ids[2] and checked == 2
    assert "changed" in broken.reason


def test_a_removed_row_breaks_the_link_to_the_next(app: Flask, org: Org) -> None:
    ids = audit_rows(org, 4)
    with triggers_off() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": ids[1]})
    _checked, broken = audit.verify(db.session)
    assert broken is not None and broken.row_id == ids[2]


def test_rows_cut_off_the_end_are_noticed(app: Flask, org: Org) -> None:
    ids = audit_rows(org, 3)
    with triggers_off() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": ids[-1]})
    _checked, broken = audit.verify(db.session)
    assert broken is not None and broken.row_id is None


def test_refusals_and_sign_ins_chain_onto_each_other(app: Flask, org: Org, login_as: Any) -> None:
    """Rows written by the web layer (a sign-in, a refused page) join the same chain."""
    client = login_as("resp_b1")
    ticket = make_ticket(db.session, org, app.config["UPLOAD_FOLDER"])  # department A: hidden from B
    assert client.get(f"/staff/tickets/{ticket.id}").status_code == 404
    actions = list(db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert actions[-2:] == ["login", "access_denied"]
    assert audit.verify(db.session) == (len(actions), None)


# --- flask audit-verify ---------------------------------------------------------------------------


def test_the_cli_passes_an_intact_chain_and_names_a_tampered_row(app: Flask, org: Org) -> None:
    ids = audit_rows(org, 3)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["audit-verify"])
    assert result.exit_code == 0, result.output
    assert "intact: 3 rows" in result.output

    with triggers_off() as connection:
        connection.execute(
            text("UPDATE audit_log SET target = 'someone else' WHERE id = :id"), {"id": ids[1]}
        )
    result = runner.invoke(args=["audit-verify"])
    assert result.exit_code == 1
    assert f"row {ids[1]}" in result.output

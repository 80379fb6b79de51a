"""The audit trail (ASVS 7.2, R12, R20): sign-ins, every refused access, and every decision.

Rows are append-only where the data lives (triggers from migration 0005) and chained: each row
holds the SHA-256 of the previous row's hash and its own content, written under a lock on the
one-row `audit_chain` head so two writers never fork the chain. `verify()` walks the chain and
names the first row that does not match.

Decisions are audited in the same transaction as the change: the web layer puts an
`AuditContext` (who, what, from where) on the session for each staff request, and
`install_decision_hooks()` adds one `ok` row before a commit that changed anything, unless the
service already wrote an audit row of its own. No Flask here: the context arrives as data.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert, select, update
from sqlalchemy.orm import ORMExecuteState, Session

from portal.models import AuditChain, AuditLog, EventRedaction, TicketEvent

log = logging.getLogger("portal.audit")

CONTEXT_KEY = "audit_context"
# Execution option naming a transaction that will write, whatever the request's method: on
# SQLite the begin hook (portal/app.py `configure_sqlite`) then starts it with BEGIN IMMEDIATE.
WRITES = "portal_writes"
_CHANGED = "audit_changed"
_WRITTEN = "audit_written"


def row_hash(
    prev_hash: str,
    at: datetime,
    actor_id: int | None,
    action: str,
    target: str | None,
    outcome: str,
    request_id: str | None,
    ip: str | None,
) -> str:
    """SHA-256 over the previous row's hash and this row's content (migration 0005 has a copy)."""
    stamp = at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    content = json.dumps(
        [prev_hash, stamp, actor_id, action, target, outcome, request_id, ip],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _append(
    session: Session,
    *,
    action: str,
    outcome: str,
    now: datetime,
    actor_id: int | None,
    target: str | None,
    request_id: str | None,
    ip: str | None,
) -> None:
    """Add one chained row in the session's transaction (the caller commits)."""
    # The UPDATE takes the head's row lock (PostgreSQL) or the write lock (SQLite) before the
    # previous hash is read, so concurrent writers queue instead of chaining onto the same row.
    previous = session.execute(
        update(AuditChain)
        .where(AuditChain.id == 1)
        .values(row_count=AuditChain.row_count + 1)
        .returning(AuditChain.last_hash)
    ).scalar()
    if previous is None:  # an empty database (or a test's emptied tables): start the chain
        previous = ""
        session.execute(insert(AuditChain).values(id=1, row_count=1, last_hash=""))
    at = now.astimezone(UTC)
    digest = row_hash(previous, at, actor_id, action[:40], target, outcome, request_id, ip)
    session.execute(update(AuditChain).where(AuditChain.id == 1).values(last_hash=digest))
    session.add(
        AuditLog(
            at=at,
            actor_id=actor_id,
            action=action[:40],
            target=target,
            outcome=outcome,
            request_id=request_id,
            ip=ip,
            prev_hash=previous,
            row_hash=digest,
        )
    )
    session.info[_WRITTEN] = True
    # %r keeps CR/LF in targets from forging extra log lines (ASVS 7.3.1); the hash anchors the
    # chain outside the database too.
    log.info(
        "audit action=%s outcome=%s actor=%s target=%r request=%s hash=%s",
        action,
        outcome,
        actor_id,
        target,
        request_id,
        digest[:16],
    )


def record(
    session: Session,
    *,
    action: str,
    outcome: str,
    now: datetime,
    actor_id: int | None = None,
    target: str | None = None,
    request_id: str | None = None,
    ip: str | None = None,
) -> None:
    """Append one audit row in a short write transaction of its own and commit it.

    The row must survive the refused request, and a request that only read so far (a GET: a
    refusal, an export) must not turn its read transaction into a write one: on SQLite that
    upgrade fails at once with SQLITE_BUSY whenever another process is writing, whatever the
    busy timeout (security.md 3.2). So whatever the session holds is committed first (what the
    callers do: they have rolled back or only read), and the row's transaction is opened as a
    writer (`WRITES`), which on SQLite waits its turn for the lock like any other write.
    """
    session.commit()  # nothing open: a no-op (a scoped session cannot be asked which it is)
    session.connection(execution_options={WRITES: True})
    _append(
        session,
        action=action,
        outcome=outcome,
        now=now,
        actor_id=actor_id,
        target=target,
        request_id=request_id,
        ip=ip,
    )
    session.commit()


# --- decisions: one row per committed change of a staff request (M1) ------------------------


@dataclass(frozen=True)
class AuditContext:
    """Who is changing things, from where, and what they asked for (the route and its object)."""

    action: str
    target: str | None
    request_id: str | None
    ip: str | None
    actor_id: Callable[[], int | None]  # resolved at commit: the signed-in user, if any
    clock: Callable[[], datetime]


def _note_change(session: Session) -> None:
    if session.info.get(CONTEXT_KEY) is not None:
        session.info[_CHANGED] = True


def _after_flush(session: Session, _context: Any) -> None:
    written = (*session.new, *session.dirty, *session.deleted)
    if any(not isinstance(obj, AuditLog | AuditChain) for obj in written):
        _note_change(session)


def _on_execute(state: ORMExecuteState) -> None:
    # Conditional UPDATEs (claims, decisions) bypass the unit of work; count them as changes.
    if state.is_update or state.is_delete or state.is_insert:
        table = getattr(state.bind_mapper, "local_table", None) if state.bind_mapper else None
        if table is None or table.name not in ("audit_log", "audit_chain"):
            _note_change(state.session)


def _before_commit(session: Session) -> None:
    context: AuditContext | None = session.info.get(CONTEXT_KEY)
    if context is not None and (session.new or session.dirty or session.deleted):
        # commit() fires this hook before its own final flush: flush now to see what changes.
        session.flush()
    changed = session.info.pop(_CHANGED, False)
    written = session.info.pop(_WRITTEN, False)
    if context is None or not changed or written:
        return
    _append(
        session,
        action=context.action,
        outcome="ok",
        now=context.clock(),
        actor_id=context.actor_id(),
        target=context.target,
        request_id=context.request_id,
        ip=context.ip,
    )
    session.flush()
    session.info.pop(_WRITTEN, None)


def _after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)
    session.info.pop(_WRITTEN, None)


_installed: set[int] = set()


def install_decision_hooks(session_or_class: Any) -> None:
    """Listen on a session (class or scoped session) once: later calls are no-ops."""
    if id(session_or_class) in _installed:
        return
    _installed.add(id(session_or_class))
    event.listen(session_or_class, "after_flush", _after_flush)
    event.listen(session_or_class, "do_orm_execute", _on_execute)
    event.listen(session_or_class, "before_commit", _before_commit)
    event.listen(session_or_class, "after_soft_rollback", lambda session, _tx: _after_rollback(session))


# --- verification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainBreak:
    row_id: int | None  # None: the head does not match the last row (rows cut off the end)
    reason: str


def _rows(session: Session, batch: int = 2_000) -> Iterator[AuditLog]:
    last_id = 0
    while True:
        rows = list(
            session.scalars(select(AuditLog).where(AuditLog.id > last_id).order_by(AuditLog.id).limit(batch))
        )
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id
        session.expunge_all()


def verify(session: Session) -> tuple[int, ChainBreak | None]:
    """Walk the chain in id order; return how many rows held and the first break, if any."""
    previous, checked = "", 0
    for row in _rows(session):
        if row.prev_hash != previous:
            return checked, ChainBreak(
                row.id, "does not follow the row before it (a row removed or inserted)"
            )
        expected = row_hash(
            previous, row.at, row.actor_id, row.action, row.target, row.outcome, row.request_id, row.ip
        )
        if row.row_hash != expected:
            return checked, ChainBreak(row.id, "its content does not match its hash (the row was changed)")
        previous, checked = row.row_hash, checked + 1
    head = session.get(AuditChain, 1)
    if checked and (head is None or head.last_hash != previous or head.row_count != checked):
        return checked, ChainBreak(
            None, "the chain head does not match the last row (rows removed from the end)"
        )
    return checked, None


# --- the one sanctioned rewrite of history (R19) --------------------------------------------


def redact_event(
    session: Session,
    event_id: int,
    *,
    reason: str,
    now: datetime,
    actor_id: int | None = None,
    replacement: str | None = None,
) -> None:
    """Remove a ticket event's texts (its kind, time and actor stay), recorded and audited.

    The trigger on `ticket_event` allows this UPDATE only because the redaction row names the
    event; the caller commits, so the redaction, the rewrite and the audit row land together.
    """
    session.add(EventRedaction(event_id=event_id, at=now, actor_id=actor_id, reason=reason[:200]))
    session.flush()
    session.execute(
        update(TicketEvent)
        .where(TicketEvent.id == event_id)
        .values(body=replacement, old_value=None, new_value=None)
        .execution_options(synchronize_session=False)
    )
    _append(
        session,
        action="event_redacted",
        outcome="ok",
        now=now,
        actor_id=actor_id,
        target=f"ticket_event:{event_id}:{reason}"[:200],
        request_id=None,
        ip=None,
    )

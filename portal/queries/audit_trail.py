"""The audit trail as managers read it (R12, R20): who did what, filtered, newest first.

Pages by keyset (`before` an id), so the thousandth page costs what the first does; every filter
is backed by an index (migration 0006).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload

from portal.models import AuditLog, User


@dataclass(frozen=True)
class AuditFilter:
    actor_id: int | None = None
    action: str | None = None
    since: datetime | None = None  # inclusive, UTC
    until: datetime | None = None  # exclusive, UTC
    before_id: int | None = None


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditLog]
    next_before_id: int | None


def _filtered(audit_filter: AuditFilter) -> Select[tuple[AuditLog]]:
    query = select(AuditLog)
    if audit_filter.actor_id is not None:
        query = query.where(AuditLog.actor_id == audit_filter.actor_id)
    if audit_filter.action:
        query = query.where(AuditLog.action == audit_filter.action)
    if audit_filter.since is not None:
        query = query.where(AuditLog.at >= audit_filter.since)
    if audit_filter.until is not None:
        query = query.where(AuditLog.at < audit_filter.until)
    return query


def audit_page(session: Session, audit_filter: AuditFilter, page_size: int) -> AuditPage:
    query = _filtered(audit_filter).options(joinedload(AuditLog.actor))
    if audit_filter.before_id is not None:
        query = query.where(AuditLog.id < audit_filter.before_id)
    rows = list(session.scalars(query.order_by(AuditLog.id.desc()).limit(page_size + 1)))
    more = len(rows) > page_size
    rows = rows[:page_size]
    return AuditPage(rows=rows, next_before_id=rows[-1].id if more and rows else None)


def audit_rows(session: Session, audit_filter: AuditFilter, *, batch: int = 2_000) -> Iterator[AuditLog]:
    """Every matching row, newest first, read in batches (for the CSV export)."""
    before = audit_filter.before_id
    while True:
        page = audit_page(session, AuditFilter(**{**audit_filter.__dict__, "before_id": before}), batch)
        yield from page.rows
        if page.next_before_id is None:
            return
        before = page.next_before_id


def people(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))

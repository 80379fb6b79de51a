"""The staff queue: filters, keyset pages that stay flat as the table grows, and the tab counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, joinedload

from portal.domain.permissions import ActorLike
from portal.domain.workflow import OPEN_STATUS_VALUES, Status
from portal.models import Ticket
from portal.queries.visibility import visibility_clause, visible_tickets

SCOPES = ("all", "mine", "unassigned", "department")


STATUS_FILTERS = ("open", "all", *[s.value for s in Status])


SORTS = ("due", "newest")


@dataclass(frozen=True)
class QueueFilter:
    """A validated queue request; anything unknown has already fallen back to the default."""

    scope: str = "all"
    status: str = "open"
    category_id: int | None = None
    priority: str | None = None
    text: str = ""
    sort: str = "due"
    after: tuple[datetime, int] | None = None  # keyset cursor: (sort key, id) of the last row


@dataclass
class QueuePage:
    tickets: list[Ticket]
    next_cursor: tuple[datetime, int] | None
    filter: QueueFilter
    counts: dict[str, int] = field(default_factory=dict)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(actor: ActorLike, qf: QueueFilter) -> Select[tuple[Ticket]]:
    query = visible_tickets(actor)
    if qf.scope == "mine":
        query = query.where(Ticket.owner_id == actor.id)
    elif qf.scope == "unassigned":
        query = query.where(Ticket.owner_id.is_(None), Ticket.department_id == actor.department_id)
    elif qf.scope == "department":
        query = query.where(Ticket.department_id == actor.department_id)
    if qf.status == "open":
        query = query.where(Ticket.status.in_(OPEN_STATUS_VALUES))
    elif qf.status != "all":
        query = query.where(Ticket.status == qf.status)
    if qf.category_id is not None:
        query = query.where(Ticket.category_id == qf.category_id)
    if qf.priority:
        query = query.where(Ticket.priority == qf.priority)
    if qf.text:
        text = qf.text.strip()
        pattern = f"%{_escape_like(text.lower())}%"
        query = query.where(
            or_(
                Ticket.reference == text.upper(),
                func.lower(Ticket.subject).like(pattern, escape="\\"),
                func.lower(Ticket.customer_name).like(pattern, escape="\\"),
                func.lower(Ticket.description).like(pattern, escape="\\"),
            )
        )
    return query


def queue_page(session: Session, actor: ActorLike, qf: QueueFilter, page_size: int) -> QueuePage:
    """One page of the queue, keyset-paged so page 500 costs what page 1 costs."""
    query = _filtered(actor, qf)
    if qf.sort == "newest":
        key = Ticket.received_at
        if qf.after:
            query = query.where(or_(key < qf.after[0], and_(key == qf.after[0], Ticket.id < qf.after[1])))
        query = query.order_by(key.desc(), Ticket.id.desc())
    else:
        key = Ticket.due_at
        if qf.after:
            query = query.where(or_(key > qf.after[0], and_(key == qf.after[0], Ticket.id > qf.after[1])))
        query = query.order_by(key.asc(), Ticket.id.asc())
    query = query.options(
        joinedload(Ticket.category), joinedload(Ticket.owner), joinedload(Ticket.department)
    ).limit(page_size + 1)
    rows = list(session.scalars(query).unique())
    next_cursor = None
    if len(rows) > page_size:
        rows = rows[:page_size]
        last = rows[-1]
        next_cursor = (last.received_at if qf.sort == "newest" else last.due_at, last.id)
    return QueuePage(tickets=rows, next_cursor=next_cursor, filter=qf)


def queue_counts(session: Session, actor: ActorLike) -> dict[str, int]:
    """Open tickets per tab, in one aggregate query over the visible set."""

    def count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = session.execute(
        select(
            func.count(Ticket.id),
            count_where(Ticket.owner_id == actor.id),
            count_where(and_(Ticket.owner_id.is_(None), Ticket.department_id == actor.department_id)),
            count_where(Ticket.department_id == actor.department_id),
        )
        .where(visibility_clause(actor))
        .where(Ticket.status.in_(OPEN_STATUS_VALUES))
    ).one()
    return {"all": row[0], "mine": row[1], "unassigned": row[2], "department": row[3]}

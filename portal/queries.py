"""Shared, index-backed selects. `visible_tickets()` is THE visibility rule in SQL.

Every list, search, count and download of tickets starts from `visible_tickets(actor)`, the SQL
twin of `permissions.can_view()` (R10, R20), so no screen can forget a restriction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, case, false, func, or_, select, true
from sqlalchemy.orm import Session, joinedload

from portal.domain.permissions import ActorLike, Role, is_staff
from portal.domain.workflow import OPEN_STATUSES, Status
from portal.models import (
    Callback,
    Category,
    Department,
    Escalation,
    Promise,
    ResolutionProposal,
    RootCause,
    Ticket,
    TicketEvent,
    User,
)


def visibility_clause(actor: ActorLike) -> ColumnElement[bool]:
    if not is_staff(actor):
        return false()
    not_about_me = or_(Ticket.concerns_user_id.is_(None), Ticket.concerns_user_id != actor.id)
    if actor.role == Role.MANAGER:
        return and_(true(), not_about_me)
    return and_(
        or_(Ticket.department_id == actor.department_id, Ticket.owner_id == actor.id),
        not_about_me,
    )


def visible_tickets(actor: ActorLike) -> Select[tuple[Ticket]]:
    return select(Ticket).where(visibility_clause(actor))


def visible_ticket(session: Session, actor: ActorLike, ticket_id: int) -> Ticket | None:
    return session.scalars(visible_tickets(actor).where(Ticket.id == ticket_id)).first()


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
        query = query.where(Ticket.status.in_([s.value for s in OPEN_STATUSES]))
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
        .where(Ticket.status.in_([s.value for s in OPEN_STATUSES]))
    ).one()
    return {"all": row[0], "mine": row[1], "unassigned": row[2], "department": row[3]}


def timeline(session: Session, ticket_id: int, *, public_only: bool) -> list[TicketEvent]:
    query = (
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket_id)
        .options(joinedload(TicketEvent.actor))
        .order_by(TicketEvent.at, TicketEvent.id)
    )
    if public_only:
        query = query.where(TicketEvent.is_public.is_(True))
    return list(session.scalars(query))


def active_categories(session: Session) -> list[Category]:
    return list(session.scalars(select(Category).where(Category.active.is_(True)).order_by(Category.name)))


def active_root_causes(session: Session) -> list[RootCause]:
    return list(session.scalars(select(RootCause).where(RootCause.active.is_(True)).order_by(RootCause.name)))


def departments(session: Session) -> list[Department]:
    return list(session.scalars(select(Department).order_by(Department.name)))


def staff_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


@dataclass
class TicketHistory:
    """The ladder, promise, proposal and callback records of one ticket, for its page."""

    escalations: list[Escalation]
    promises: list[Promise]
    proposals: list[ResolutionProposal]
    callbacks: list[Callback]

    @property
    def pending_proposal(self) -> ResolutionProposal | None:
        return next((p for p in self.proposals if p.status == "pending"), None)


def ticket_history(session: Session, ticket_id: int) -> TicketHistory:
    return TicketHistory(
        escalations=list(
            session.scalars(
                select(Escalation)
                .where(Escalation.ticket_id == ticket_id)
                .options(joinedload(Escalation.actor))
                .order_by(Escalation.at, Escalation.id)
            )
        ),
        promises=list(
            session.scalars(select(Promise).where(Promise.ticket_id == ticket_id).order_by(Promise.due_at))
        ),
        proposals=list(
            session.scalars(
                select(ResolutionProposal)
                .where(ResolutionProposal.ticket_id == ticket_id)
                .options(
                    joinedload(ResolutionProposal.proposed_by), joinedload(ResolutionProposal.decided_by)
                )
                .order_by(ResolutionProposal.proposed_at, ResolutionProposal.id)
            )
        ),
        callbacks=list(
            session.scalars(select(Callback).where(Callback.ticket_id == ticket_id).order_by(Callback.due_at))
        ),
    )

"""The leads' and managers' overview (R6, R9): the escalated open work, and reports of departments
not cooperating. Both go through the visibility rule, so nobody is shown a case about themselves (R10).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager, joinedload

from portal.domain.ladder import Tier
from portal.domain.permissions import ActorLike, Role
from portal.domain.workflow import OPEN_STATUS_VALUES
from portal.models import CooperationReport, Ticket
from portal.queries.visibility import visibility_clause

LIMIT = 100


@dataclass(frozen=True)
class Overview:
    escalated: list[Ticket]
    reports: list[CooperationReport]  # a manager's only; empty for a lead


def escalated_tickets(session: Session, actor: ActorLike) -> list[Ticket]:
    """Open tickets at this lead's tier in their department or, for a manager, at the manager tier
    and every serious case (R9), most urgent first."""
    query = (
        select(Ticket)
        .where(visibility_clause(actor))
        .where(Ticket.status.in_(OPEN_STATUS_VALUES))
        .options(joinedload(Ticket.owner), joinedload(Ticket.department))
        .order_by(Ticket.due_at, Ticket.id)
        .limit(LIMIT)
    )
    if actor.role == Role.MANAGER:
        query = query.where((Ticket.tier >= Tier.MANAGER) | Ticket.serious.is_(True))
    else:
        query = query.where(Ticket.tier == Tier.LEAD, Ticket.department_id == actor.department_id)
    return list(session.scalars(query))


def open_cooperation_reports(session: Session, actor: ActorLike) -> list[CooperationReport]:
    """Reports of non-cooperation not yet handled (R6): managers act on them, so only they see them."""
    if actor.role != Role.MANAGER:
        return []
    return list(
        session.scalars(
            select(CooperationReport)
            .join(CooperationReport.ticket)
            .where(visibility_clause(actor))
            .where(CooperationReport.handled_at.is_(None))
            .options(
                contains_eager(CooperationReport.ticket),  # the reference is shown: no query per row
                joinedload(CooperationReport.department),
                joinedload(CooperationReport.reported_by),
            )
            .order_by(CooperationReport.at.desc())
            .limit(LIMIT)
        )
    )


def overview(session: Session, actor: ActorLike) -> Overview:
    return Overview(
        escalated=escalated_tickets(session, actor), reports=open_cooperation_reports(session, actor)
    )

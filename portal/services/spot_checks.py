"""Spot checks (R18): draw a quarter's sample, assign reviewers, record what the re-check found.

The population is the quarter's complaints whose current resolution falls in the quarter and
that the drawing manager may see — a case about the manager is left out of their draw (R10);
another manager's draw would include it. One draw per quarter, so a sample cannot be redrawn
until it looks convenient; the seed and a digest of the population are kept so the draw can be
repeated and checked.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from portal.domain import spot_checks
from portal.domain.errors import Conflict, NotPermitted
from portal.domain.permissions import ActorLike, Role
from portal.domain.reporting import parse_quarter, quarter_label, quarter_period
from portal.domain.text import normalise_text
from portal.models import SpotCheck, SpotCheckItem, Ticket, User
from portal.queries import visibility
from portal.services import outbox
from portal.services.events import record_event

MAX_SEED_LENGTH = 64


@dataclass(frozen=True)
class Redraw:
    """The outcome of repeating a recorded draw against today's data."""

    same_population: bool
    same_sample: bool
    population_size: int


def _population(session: Session, actor: ActorLike, start: datetime, end: datetime) -> list[int]:
    return list(
        session.scalars(
            select(Ticket.id)
            .where(visibility.visibility_clause(actor))
            .where(Ticket.kind == "complaint", Ticket.resolved_at >= start, Ticket.resolved_at < end)
            .order_by(Ticket.id)
        )
    )


def draw(
    session: Session,
    actor: ActorLike,
    quarter: str,
    *,
    percent: int,
    seed: str | None,
    timezone: str,
    now: datetime,
) -> SpotCheck:
    """Draw `percent`% of the quarter's resolved complaints; raise Conflict if already drawn."""
    if actor.role != Role.MANAGER:
        raise NotPermitted("R18: the head of service draws the spot check")
    year, number = parse_quarter(quarter)
    label = quarter_label(year, number)
    if session.scalars(select(SpotCheck.id).where(SpotCheck.quarter == label)).first() is not None:
        raise Conflict("this quarter has been drawn already")
    seed = (seed or "").strip() or secrets.token_hex(8)
    if len(seed) > MAX_SEED_LENGTH:
        raise ValueError("the seed is at most 64 characters")
    start, end = quarter_period(year, number).utc_bounds(timezone)
    population = _population(session, actor, start, end)
    check = SpotCheck(
        quarter=label,
        period_start=start,
        period_end=end,
        percent=percent,
        seed=seed,
        population_size=len(population),
        population_digest=spot_checks.population_digest(population),
        drawn_by_id=actor.id,
        drawn_at=now,
    )
    session.add(check)
    try:
        session.flush()
    except IntegrityError as error:  # two managers drawing the same quarter at once
        session.rollback()
        raise Conflict("this quarter has been drawn already") from error
    for ticket_id in spot_checks.draw(population, percent, seed):
        session.add(SpotCheckItem(spot_check_id=check.id, ticket_id=ticket_id))
    session.commit()
    return check


def redraw(session: Session, check: SpotCheck) -> Redraw:
    """Repeat the recorded draw (same seed, same percentage) over the data as it is now."""
    drawer = session.get(User, check.drawn_by_id)
    assert drawer is not None
    population = _population(session, drawer, check.period_start, check.period_end)
    recorded = sorted(
        session.scalars(select(SpotCheckItem.ticket_id).where(SpotCheckItem.spot_check_id == check.id))
    )
    return Redraw(
        same_population=spot_checks.population_digest(population) == check.population_digest,
        same_sample=spot_checks.draw(population, check.percent, check.seed) == recorded,
        population_size=len(population),
    )


def reviewer_pool(session: Session) -> list[User]:
    """Active leads and managers: everyone who might re-check a case, read once per page."""
    return list(
        session.scalars(
            select(User)
            .where(User.active.is_(True), User.role.in_([Role.LEAD.value, Role.MANAGER.value]))
            .order_by(User.name)
        )
    )


def reviewer_candidates(ticket: Ticket, pool: Sequence[User]) -> list[User]:
    """Those of the pool who may re-check this case (`spot_checks.can_review`)."""
    return [user for user in pool if spot_checks.can_review(user, ticket)]


def assign_reviewer(
    session: Session, actor: ActorLike, item: SpotCheckItem, reviewer: User, *, now: datetime
) -> None:
    if actor.role != Role.MANAGER:
        raise NotPermitted("R18: the head of service assigns the re-checks")
    if item.reviewed_at is not None:
        raise Conflict("this case has been re-checked already")
    if not reviewer.active or not spot_checks.can_review(reviewer, item.ticket):
        raise NotPermitted("this person may not re-check this case")
    item.reviewer_id = reviewer.id
    outbox.notify_staff(session, [reviewer], "spot_check_assigned", item.ticket, now=now)
    session.commit()


def record_review(
    session: Session,
    actor: ActorLike,
    item: SpotCheckItem,
    *,
    recontacted: bool,
    outcome_held: bool,
    findings: str,
    now: datetime,
) -> None:
    """R18: the assigned reviewer records whether the customer was re-contacted and the outcome held."""
    if item.reviewer_id != actor.id or not spot_checks.can_review(actor, item.ticket):
        raise NotPermitted("only the assigned reviewer records the re-check")
    if item.reviewed_at is not None:
        raise Conflict("this case has been re-checked already")
    text = normalise_text(findings)
    if not text:
        raise ValueError("findings are required")
    item.reviewed_at = now
    item.recontacted = recontacted
    item.outcome_held = outcome_held
    item.findings = text
    record_event(
        session,
        item.ticket,
        actor,
        now,
        "spot_checked",
        body=text,
        new="held" if outcome_held else "not held",
    )
    session.commit()


def visible_items(session: Session, actor: ActorLike, check: SpotCheck) -> list[SpotCheckItem]:
    """The check's cases this person may see (R10: never one about themselves)."""
    query = (
        select(SpotCheckItem)
        .join(Ticket, Ticket.id == SpotCheckItem.ticket_id)
        .where(SpotCheckItem.spot_check_id == check.id, visibility.visibility_clause(actor))
        .options(
            joinedload(SpotCheckItem.ticket).joinedload(Ticket.owner),
            joinedload(SpotCheckItem.reviewer),
        )
        .order_by(Ticket.reference)
    )
    if actor.role != Role.MANAGER:
        query = query.where(SpotCheckItem.reviewer_id == actor.id)  # a lead sees their own re-checks
    return list(session.scalars(query))


def open_recheck(session: Session, actor: ActorLike, ticket_id: int) -> SpotCheckItem | None:
    """The re-check of this case waiting for this person, if any (shown on the case's page)."""
    return session.scalars(
        select(SpotCheckItem).where(
            SpotCheckItem.ticket_id == ticket_id,
            SpotCheckItem.reviewer_id == actor.id,
            SpotCheckItem.reviewed_at.is_(None),
        )
    ).first()

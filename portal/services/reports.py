"""The dashboard's figures (R17, R18, R21, R22), counted by aggregate SQL — never by loading tickets.

Each figure has one definition, written beside the query that counts it:

- *intake*: complaints received in the period (by the day they arrived, in the organisation's
  time zone), by category, channel and department;
- *acknowledged within H hours* (R3): of those received, the share acknowledged within H hours of
  arrival; cases still inside their first H hours and not yet acknowledged are not counted yet;
- *time to first response*: arrival → the first written answer (reply, promise or outcome);
- *resolved*: complaints whose current resolution falls in the period, whatever their status now;
  *within target* (R7): resolved by the deadline in force; *root causes* (R21): the cause recorded
  with each;
- *answered*: complaints whose customer answered the outcome in the period (R15), counted in the
  period the answer was given — a "not resolved" reopens the case (R16), so it is no longer among
  the resolved, but it is among the answers. *Satisfaction*: their 1–5 scores and how many said it
  was resolved or not; *reopen rate* (R16): the share of them reopened at least once — by that
  answer or before it (a case answered again counts its latest answer, and its reopening stays);
- *open* and *overdue*: now, whatever the period;
- *escalations* (R9): moves up the ladder made in the period;
- *callbacks* (R17): follow-up calls due in the period and what they found;
- *spot checks* (R18): the quarters' draws that overlap the period.

Aggregates count every complaint in the scope, recused ones included (domain.md "Counts vs.
contents"); the few lists that name customers or cases (warnings) go through the one visibility
rule, `visibility.visibility_clause`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Integer, and_, case, extract, func, literal_column, or_, select
from sqlalchemy.orm import Session

from portal.domain import reporting
from portal.domain.ladder import Tier
from portal.domain.permissions import ActorLike
from portal.domain.reporting import Percentiles, Period, WarningThresholds, percentiles_from_histogram
from portal.domain.workflow import OPEN_STATUS_VALUES, Status
from portal.models import (
    Callback,
    Category,
    Department,
    Escalation,
    Promise,
    RootCause,
    SpotCheck,
    SpotCheckItem,
    Ticket,
    User,
)
from portal.queries import visibility

KINDS = ("complaint", "feedback", "all")
TOP_LIMIT = 10
WARNING_LIMIT = 20


@dataclass(frozen=True)
class ReportScope:
    """Whose figures: one department (a lead's, or a manager's pick) or the whole organisation."""

    department_id: int | None = None
    kind: str = "complaint"

    def clauses(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.department_id is not None:
            where.append(Ticket.department_id == self.department_id)
        if self.kind != "all":
            where.append(Ticket.kind == self.kind)
        return where


class _ResolutionShares:
    """The shares every line reports: resolved within target (R7); answered after being reopened (R16)."""

    resolved: int
    resolved_on_time: int
    answered: int
    reopened: int

    @property
    def on_time_share(self) -> float | None:
        return reporting.share(self.resolved_on_time, self.resolved)

    @property
    def reopen_share(self) -> float | None:
        return reporting.share(self.reopened, self.answered)


@dataclass
class GroupFigures(_ResolutionShares):
    """One department's or one staff member's line of the dashboard."""

    key: int | None
    name: str
    received: int = 0
    open: int = 0
    overdue: int = 0
    resolved: int = 0
    resolved_on_time: int = 0
    answered: int = 0  # customers' answers to an outcome given in the period (R15)
    reopened: int = 0  # of those, cases reopened at least once (R16)
    rated: int = 0
    rating_total: int = 0
    resolution: Percentiles = field(default_factory=Percentiles)

    @property
    def average_rating(self) -> float | None:
        return self.rating_total / self.rated if self.rated else None


@dataclass
class CallbackTheme:
    name: str
    due: int = 0
    completed: int = 0
    reached: int = 0
    satisfied: int = 0
    dissatisfied: int = 0


@dataclass(frozen=True)
class SpotCheckFigures:
    spot_check_id: int
    quarter: str
    population: int
    sampled: int
    reviewed: int
    recontacted: int
    held: int
    not_held: int


@dataclass(frozen=True)
class RepeatCustomer:
    name: str
    contact: str
    complaints: int
    tickets: list[tuple[int, str]]  # (id, reference) of the ones the viewer may open


@dataclass(frozen=True)
class CategorySpike:
    name: str
    this_week: int
    weekly_average: float


@dataclass(frozen=True)
class PromiseDue:
    ticket_id: int
    reference: str
    subject: str
    owner: str | None
    due_at: datetime


@dataclass
class Warnings:
    repeat_customers: list[RepeatCustomer] = field(default_factory=list)
    spikes: list[CategorySpike] = field(default_factory=list)
    promises: list[PromiseDue] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.repeat_customers) + len(self.spikes) + len(self.promises)


@dataclass
class Dashboard(_ResolutionShares):
    period: Period
    scope: ReportScope
    ack_hours: int
    open: int = 0
    overdue: int = 0
    awaiting_approval: int = 0
    open_by_tier: dict[int, int] = field(default_factory=dict)
    received: int = 0
    ack_counted: int = 0
    ack_on_time: int = 0
    first_response: Percentiles = field(default_factory=Percentiles)
    resolved: int = 0
    resolved_on_time: int = 0
    resolution: Percentiles = field(default_factory=Percentiles)
    # The customers' answers given in the period (R15, R16): see `_answers`.
    answered: int = 0
    reopened: int = 0
    satisfaction: dict[int, int] = field(default_factory=dict)
    satisfied_yes: int = 0
    satisfied_no: int = 0
    intake_series: list[tuple[date, int]] = field(default_factory=list)
    # The same series split by category and by channel: {name: [(day or week, count), …]}.
    intake_series_by_category: dict[str, list[tuple[date, int]]] = field(default_factory=dict)
    intake_series_by_channel: dict[str, list[tuple[date, int]]] = field(default_factory=dict)
    by_category: list[tuple[str, int]] = field(default_factory=list)
    by_channel: list[tuple[str, int]] = field(default_factory=list)
    root_causes: list[tuple[str | None, int]] = field(default_factory=list)
    escalations_by_tier: dict[int, int] = field(default_factory=dict)
    escalations_by_cause: list[tuple[str, int]] = field(default_factory=list)
    departments: list[GroupFigures] = field(default_factory=list)
    staff: list[GroupFigures] = field(default_factory=list)
    callbacks: list[CallbackTheme] = field(default_factory=list)
    callback_root_causes: list[CallbackTheme] = field(default_factory=list)
    spot_checks: list[SpotCheckFigures] = field(default_factory=list)
    warnings: Warnings = field(default_factory=Warnings)

    @property
    def ack_share(self) -> float | None:
        return reporting.share(self.ack_on_time, self.ack_counted)

    @property
    def rated(self) -> int:
        return sum(self.satisfaction.values())

    @property
    def average_rating(self) -> float | None:
        total = sum(score * count for score, count in self.satisfaction.items())
        return total / self.rated if self.rated else None

    @property
    def callback_totals(self) -> CallbackTheme:
        total = CallbackTheme(name="")
        for theme in self.callbacks:
            total.due += theme.due
            total.completed += theme.completed
            total.reached += theme.reached
            total.satisfied += theme.satisfied
            total.dissatisfied += theme.dissatisfied
        return total


# --- SQL that differs between SQLite and PostgreSQL ------------------------------------------


def seconds_between(session: Session, start: Any, end: Any) -> ColumnElement[float]:
    """end − start in seconds, computed by the database."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(ColumnElement[float], extract("epoch", end - start))
    # julianday() is a float of days: round away its last digits (86400.00003 s is a day).
    return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3)


def local_day(session: Session, column: Any, timezone: str, at: datetime) -> ColumnElement[Any]:
    """The calendar day of a UTC instant in the organisation's time zone.

    PostgreSQL converts each value exactly. SQLite knows no time zones: it shifts by the zone's
    offset at `at` (the middle of the period), exact for zones without daylight saving (China,
    Korea) and off by an hour around a change elsewhere.
    """
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(timezone, func.timezone("UTC", column)))
    offset = ZoneInfo(timezone).utcoffset(at.replace(tzinfo=None))
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    return func.date(column, f"{minutes:+d} minutes")


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def duration_bucket(session: Session, start: Any, end: Any) -> ColumnElement[float]:
    """end − start in buckets of `reporting.DURATION_BUCKET_SECONDS`, rounded to the nearest."""
    if session.get_bind().dialect.name == "postgresql":
        return func.round(extract("epoch", end - start) / reporting.DURATION_BUCKET_SECONDS, type_=Integer)
    # julianday() counts days: × 240 is 6-minute buckets, in one expression per row.
    return func.round(
        (func.julianday(end) - func.julianday(start)) * (86400 // reporting.DURATION_BUCKET_SECONDS)
    )


def duration_histogram(
    session: Session, start: Any, end: Any, where: Sequence[ColumnElement[bool]], *groups: Any
) -> list[Any]:
    """(group keys…, bucket, count) rows; `reporting.percentiles_from_histogram` ranks them.

    Grouped by the column's alias, so the database works the bucket out once per row.
    """
    bucket = duration_bucket(session, start, end).label("bucket")
    query = select(*groups, bucket, func.count()).where(*where).group_by(*groups, literal_column("bucket"))
    return list(session.execute(query))


# --- the dashboard ------------------------------------------------------------------------------


def dashboard(
    session: Session,
    actor: ActorLike,
    scope: ReportScope,
    period: Period,
    *,
    now: datetime,
    timezone: str,
    ack_hours: int,
    thresholds: WarningThresholds,
    with_warnings: bool = True,
) -> Dashboard:
    """Every figure of the dashboard for `scope` and `period`; `actor` only limits the warnings.

    An export leaves the warnings out (`with_warnings=False`): no table shows them.
    """
    start, end = period.utc_bounds(timezone)
    board = Dashboard(period=period, scope=scope, ack_hours=ack_hours)
    names = _Names(session)
    groups = _Groups()
    _snapshot(session, board, groups, scope, now)
    _intake(session, board, groups, scope, start, end, now=now, timezone=timezone, names=names)
    _resolutions(session, board, groups, scope, start, end, names=names)
    _answers(session, board, groups, scope, start, end)
    _name_groups(board, groups, names)
    _escalations(session, board, scope, start, end)
    _callbacks(session, board, scope, start, end, names=names)
    board.spot_checks = spot_check_figures(session, scope, period, timezone)
    if with_warnings:
        board.warnings = warnings(session, actor, scope, now=now, thresholds=thresholds, names=names)
    board.departments.sort(key=lambda row: row.name)
    board.staff.sort(key=lambda row: row.name)
    return board


class _Names:
    """Names of the small lookup tables, each read once per dashboard."""

    def __init__(self, session: Session) -> None:
        self.departments = dict(session.execute(select(Department.id, Department.name)).all())
        self.categories = dict(session.execute(select(Category.id, Category.name)).all())
        self.root_causes = dict(session.execute(select(RootCause.id, RootCause.name)).all())
        self._session = session
        self._users: dict[int, str] = {}

    def users(self, ids: Iterable[int | None]) -> dict[int, str]:
        wanted = {i for i in ids if i is not None} - self._users.keys()
        if wanted:
            rows = self._session.execute(select(User.id, User.name).where(User.id.in_(wanted)))
            self._users.update(rows.all())
        return self._users


class _Groups:
    """The per-department and per-owner lines, filled by several queries in turn."""

    def __init__(self) -> None:
        self.departments: dict[Any, GroupFigures] = {}
        self.staff: dict[Any, GroupFigures] = {}

    def department(self, key: Any) -> GroupFigures:
        return self.departments.setdefault(key, GroupFigures(key=key, name=""))

    def person(self, key: Any) -> GroupFigures:
        return self.staff.setdefault(key, GroupFigures(key=key, name=""))


def _snapshot(session: Session, board: Dashboard, groups: _Groups, scope: ReportScope, now: datetime) -> None:
    """Open and overdue now, per department and per owner, in one grouped query."""
    overdue = and_(Ticket.due_at < now, Ticket.paused_at.is_(None))
    rows: Sequence[Any] = session.execute(
        select(
            Ticket.department_id,
            Ticket.owner_id,
            Ticket.tier,
            Ticket.status,
            func.count(),
            _count_if(overdue),
        )
        .where(Ticket.status.in_(OPEN_STATUS_VALUES), *scope.clauses())
        .group_by(Ticket.department_id, Ticket.owner_id, Ticket.tier, Ticket.status)
    ).all()
    board.open_by_tier = dict.fromkeys((t.value for t in Tier), 0)
    for department_id, owner_id, tier, status, count, late in rows:
        board.open += count
        board.overdue += late
        board.open_by_tier[tier] = board.open_by_tier.get(tier, 0) + count
        if status == Status.AWAITING_APPROVAL.value:
            board.awaiting_approval += count
        group = groups.department(department_id)
        group.open += count
        group.overdue += late
        if owner_id is not None:
            person = groups.person(owner_id)
            person.open += count
            person.overdue += late


def _intake(
    session: Session,
    board: Dashboard,
    groups: _Groups,
    scope: ReportScope,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    timezone: str,
    names: _Names,
) -> None:
    """Received in the period: by day, category, channel and department, in one grouped query."""
    day = local_day(session, Ticket.received_at, timezone, start + (end - start) / 2)
    limit = board.ack_hours * 3600
    acknowledged_in_time = and_(
        Ticket.acknowledged_at.is_not(None),
        seconds_between(session, Ticket.received_at, Ticket.acknowledged_at) <= limit,
    )
    # Still inside its first H hours and not yet acknowledged: neither on time nor late yet.
    not_due_yet = and_(
        Ticket.acknowledged_at.is_(None), Ticket.received_at > now - timedelta(hours=board.ack_hours)
    )
    in_period = [Ticket.received_at >= start, Ticket.received_at < end, *scope.clauses()]
    rows: Sequence[Any] = session.execute(
        select(
            day.label("day"),
            Ticket.category_id,
            Ticket.channel,
            Ticket.department_id,
            func.count(),
            _count_if(acknowledged_in_time),
            _count_if(not_due_yet),
        )
        .where(*in_period)
        .group_by(literal_column("day"), Ticket.category_id, Ticket.channel, Ticket.department_id)
    ).all()
    by_day: dict[date, int] = defaultdict(int)
    by_category: dict[int | None, int] = defaultdict(int)
    by_channel: dict[str, int] = defaultdict(int)
    category_days: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    channel_days: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for day_value, category_id, channel, department_id, count, on_time, pending in rows:
        board.received += count
        board.ack_on_time += on_time
        board.ack_counted += count - pending
        day_of = _as_date(day_value)
        by_day[day_of] += count
        by_category[category_id] += count
        by_channel[channel] += count
        category_days[names.categories.get(category_id, "") if category_id is not None else ""][day_of] += (
            count
        )
        channel_days[channel][day_of] += count
        groups.department(department_id).received += count
    board.intake_series = reporting.intake_series(by_day, board.period)
    board.intake_series_by_category = {
        name: reporting.intake_series(days, board.period) for name, days in sorted(category_days.items())
    }
    board.intake_series_by_channel = {
        name: reporting.intake_series(days, board.period) for name, days in sorted(channel_days.items())
    }
    board.by_category = reporting.top(
        ((names.categories.get(c, "") if c is not None else "", n) for c, n in by_category.items()), TOP_LIMIT
    )
    board.by_channel = reporting.top(by_channel.items(), len(by_channel))
    answered = [*in_period, Ticket.first_response_at.is_not(None)]
    board.first_response = percentiles_from_histogram(
        duration_histogram(session, Ticket.received_at, Ticket.first_response_at, answered)
    )


def _resolutions(
    session: Session,
    board: Dashboard,
    groups: _Groups,
    scope: ReportScope,
    start: datetime,
    end: datetime,
    *,
    names: _Names,
) -> None:
    """Resolved in the period: on time and by cause — per department and owner."""
    in_period = [Ticket.resolved_at >= start, Ticket.resolved_at < end, *scope.clauses()]
    rows: Sequence[Any] = session.execute(
        select(
            Ticket.department_id,
            Ticket.owner_id,
            Ticket.root_cause_id,
            func.count(),
            _count_if(Ticket.resolved_at <= Ticket.resolve_due_at),
        )
        .where(*in_period)
        .group_by(Ticket.department_id, Ticket.owner_id, Ticket.root_cause_id)
    ).all()
    causes: dict[str | None, int] = defaultdict(int)
    for department_id, owner_id, cause_id, count, on_time in rows:
        board.resolved += count
        board.resolved_on_time += on_time
        causes[names.root_causes.get(cause_id) if cause_id is not None else None] += count
        lines = [groups.department(department_id)]
        if owner_id is not None:
            lines.append(groups.person(owner_id))
        for group in lines:
            group.resolved += count
            group.resolved_on_time += on_time
    board.root_causes = sorted(causes.items(), key=lambda item: (-item[1], item[0] is None, item[0] or ""))[
        :TOP_LIMIT
    ]
    # One histogram per (department, owner) serves the organisation's, each department's and each
    # owner's median and 90th percentile.
    overall: dict[int, int] = defaultdict(int)
    by_department: dict[Any, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    by_owner: dict[Any, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for department_id, owner_id, bucket, count in duration_histogram(
        session, Ticket.received_at, Ticket.resolved_at, in_period, Ticket.department_id, Ticket.owner_id
    ):
        overall[bucket] += count
        by_department[department_id][bucket] += count
        if owner_id is not None:
            by_owner[owner_id][bucket] += count
    board.resolution = percentiles_from_histogram(overall.items())
    for key, histogram in by_department.items():
        groups.department(key).resolution = percentiles_from_histogram(histogram.items())
    for key, histogram in by_owner.items():
        groups.person(key).resolution = percentiles_from_histogram(histogram.items())


def _answers(
    session: Session, board: Dashboard, groups: _Groups, scope: ReportScope, start: datetime, end: datetime
) -> None:
    """R15, R16: the customers' answers to an outcome given in the period, in one grouped query.

    Counted by when the customer answered, not by when the case was resolved: a "not resolved"
    reopens the case (its resolution is undone), so the resolved cohort never holds it. Each case
    keeps its latest answer (`customer_answered_at`, `customer_satisfied`, `satisfaction`); a case
    whose customer said "no" and later "yes" still counts as reopened (`reopen_count`).
    """
    in_period = [Ticket.customer_answered_at >= start, Ticket.customer_answered_at < end, *scope.clauses()]
    rows: Sequence[Any] = session.execute(
        select(
            Ticket.department_id,
            Ticket.owner_id,
            Ticket.satisfaction,
            func.count(),
            _count_if(Ticket.reopen_count > 0),
            _count_if(Ticket.customer_satisfied.is_(True)),
            _count_if(Ticket.customer_satisfied.is_(False)),
        )
        .where(*in_period)
        .group_by(Ticket.department_id, Ticket.owner_id, Ticket.satisfaction)
    ).all()
    board.satisfaction = {score: 0 for score in range(1, 6)}
    for department_id, owner_id, score, count, reopened, yes, no in rows:
        board.answered += count
        board.reopened += reopened
        board.satisfied_yes += yes
        board.satisfied_no += no
        if score is not None:
            board.satisfaction[score] = board.satisfaction.get(score, 0) + count
        lines = [groups.department(department_id)]
        if owner_id is not None:
            lines.append(groups.person(owner_id))
        for group in lines:
            group.answered += count
            group.reopened += reopened
            if score is not None:
                group.rated += count
                group.rating_total += score * count


def _name_groups(board: Dashboard, groups: _Groups, names: _Names) -> None:
    """Name the departments and people the cohorts found, and list their lines."""
    for key, group in groups.departments.items():
        group.name = names.departments.get(key, "")
    users = names.users(groups.staff.keys())
    for key, group in groups.staff.items():
        group.name = users.get(key, "")
    board.departments = list(groups.departments.values())
    board.staff = list(groups.staff.values())


def _escalations(
    session: Session, board: Dashboard, scope: ReportScope, start: datetime, end: datetime
) -> None:
    rows: Sequence[Any] = session.execute(
        select(Escalation.to_tier, Escalation.cause, func.count())
        .join(Ticket, Ticket.id == Escalation.ticket_id)
        .where(Escalation.at >= start, Escalation.at < end, Escalation.to_tier > Escalation.from_tier)
        .where(*scope.clauses())
        .group_by(Escalation.to_tier, Escalation.cause)
    ).all()
    board.escalations_by_tier = {Tier.LEAD.value: 0, Tier.MANAGER.value: 0}
    causes: dict[str, int] = defaultdict(int)
    for tier, cause, count in rows:
        board.escalations_by_tier[tier] = board.escalations_by_tier.get(tier, 0) + count
        causes[cause] += count
    board.escalations_by_cause = reporting.top(causes.items(), len(causes))


def _callbacks(
    session: Session, board: Dashboard, scope: ReportScope, start: datetime, end: datetime, *, names: _Names
) -> None:
    """R17's monthly summary: calls due in the period, reached, satisfied — by category and cause."""
    rows: Sequence[Any] = session.execute(
        select(
            Ticket.category_id,
            Ticket.root_cause_id,
            func.count(),
            _count_if(Callback.completed_at.is_not(None)),
            _count_if(Callback.reached.is_(True)),
            _count_if(Callback.satisfied.is_(True)),
            _count_if(Callback.satisfied.is_(False)),
        )
        .join(Ticket, Ticket.id == Callback.ticket_id)
        .where(Callback.due_at >= start, Callback.due_at < end, *scope.clauses())
        .group_by(Ticket.category_id, Ticket.root_cause_id)
    ).all()
    by_category: dict[str, CallbackTheme] = {}
    by_cause: dict[str, CallbackTheme] = {}
    for category_id, cause_id, due, completed, reached, satisfied, dissatisfied in rows:
        category = names.categories.get(category_id, "") if category_id is not None else ""
        cause = names.root_causes.get(cause_id, "") if cause_id is not None else ""
        for themes, name in ((by_category, category), (by_cause, cause)):
            theme = themes.setdefault(name, CallbackTheme(name=name))
            theme.due += due
            theme.completed += completed
            theme.reached += reached
            theme.satisfied += satisfied
            theme.dissatisfied += dissatisfied
    board.callbacks = sorted(by_category.values(), key=lambda t: (-t.due, t.name))
    board.callback_root_causes = sorted(by_cause.values(), key=lambda t: (-t.due, t.name))


def spot_check_figures(
    session: Session, scope: ReportScope, period: Period, timezone: str
) -> list[SpotCheckFigures]:
    """R18's results for the quarters that overlap the period, counted over the scope's cases."""
    start, end = period.utc_bounds(timezone)
    overlapping = list(
        session.scalars(
            select(SpotCheck.id).where(SpotCheck.period_start < end, SpotCheck.period_end > start)
        )
    )
    if not overlapping:
        return []  # and the planner never gets to scan tickets for an empty join
    rows: Sequence[Any] = session.execute(
        select(
            SpotCheck.id,
            SpotCheck.quarter,
            SpotCheck.population_size,
            func.count(SpotCheckItem.id),
            _count_if(SpotCheckItem.reviewed_at.is_not(None)),
            _count_if(SpotCheckItem.recontacted.is_(True)),
            _count_if(SpotCheckItem.outcome_held.is_(True)),
            _count_if(SpotCheckItem.outcome_held.is_(False)),
        )
        .join(SpotCheckItem, SpotCheckItem.spot_check_id == SpotCheck.id)
        .join(Ticket, Ticket.id == SpotCheckItem.ticket_id)
        .where(SpotCheck.id.in_(overlapping), *scope.clauses())
        .group_by(SpotCheck.id, SpotCheck.quarter, SpotCheck.population_size)
        .order_by(SpotCheck.quarter)
    ).all()
    return [SpotCheckFigures(*row) for row in rows]


def warnings(
    session: Session,
    actor: ActorLike,
    scope: ReportScope,
    *,
    now: datetime,
    thresholds: WarningThresholds,
    names: _Names | None = None,
) -> Warnings:
    """R22: patterns for someone to look into, as of now.

    Repeat customers and promises name people and cases, so they list only what the viewer may
    open (R10, R20); a spike is a count per category and covers the whole scope.
    """
    names = names or _Names(session)
    found = Warnings()
    visible = visibility.visibility_clause(actor)
    contact = func.coalesce(func.lower(Ticket.customer_email), Ticket.customer_phone)
    recent = [Ticket.received_at >= now - timedelta(days=thresholds.repeat_days), *scope.clauses(), visible]
    has_contact = or_(Ticket.customer_email.is_not(None), Ticket.customer_phone.is_not(None))
    repeaters: Sequence[Any] = session.execute(
        select(contact.label("contact"), func.max(Ticket.customer_name), func.count().label("complaints"))
        .where(*recent, has_contact)
        .group_by(literal_column("contact"))
        .having(func.count() >= thresholds.repeat_complaints)
        .order_by(literal_column("complaints").desc(), literal_column("contact"))
        .limit(WARNING_LIMIT)
    ).all()
    if repeaters:
        cases: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for who, ticket_id, reference in session.execute(
            select(contact, Ticket.id, Ticket.reference)
            .where(*recent, contact.in_([row[0] for row in repeaters]))
            .order_by(Ticket.received_at)
        ):
            cases[who].append((ticket_id, reference))
        found.repeat_customers = [
            RepeatCustomer(name=name, contact=who, complaints=count, tickets=cases[who])
            for who, name, count in repeaters
        ]

    week_ago = now - timedelta(days=7)
    window_start = week_ago - timedelta(weeks=thresholds.spike_weeks)
    spikes: Sequence[Any] = session.execute(
        select(
            Ticket.category_id,
            _count_if(Ticket.received_at >= week_ago),
            _count_if(Ticket.received_at < week_ago),
        )
        .where(Ticket.received_at >= window_start, Ticket.received_at < now, Ticket.category_id.is_not(None))
        .where(*scope.clauses())
        .group_by(Ticket.category_id)
    ).all()
    found.spikes = sorted(
        (
            CategorySpike(
                name=names.categories.get(category_id, ""),
                this_week=this_week,
                weekly_average=before / thresholds.spike_weeks,
            )
            for category_id, this_week, before in spikes
            if reporting.is_spike(this_week, before, thresholds)
        ),
        key=lambda spike: (-spike.this_week, spike.name),
    )

    soon = now + timedelta(hours=thresholds.promise_hours)
    promises: Sequence[Any] = session.execute(
        select(Ticket.id, Ticket.reference, Ticket.subject, Ticket.owner_id, func.min(Promise.due_at))
        .join(Ticket, Ticket.id == Promise.ticket_id)
        .where(Promise.kept_at.is_(None), Promise.missed_at.is_(None))
        .where(Promise.due_at >= now, Promise.due_at <= soon)
        .where(Ticket.status.in_(OPEN_STATUS_VALUES), *scope.clauses(), visible)
        .group_by(Ticket.id, Ticket.reference, Ticket.subject, Ticket.owner_id)
        .order_by(func.min(Promise.due_at), Ticket.id)
        .limit(WARNING_LIMIT)
    ).all()
    owners = names.users(row[3] for row in promises)
    found.promises = [
        PromiseDue(
            ticket_id=ticket_id,
            reference=reference,
            subject=subject,
            owner=owners.get(owner_id) if owner_id is not None else None,
            due_at=due_at,
        )
        for ticket_id, reference, subject, owner_id, due_at in promises
    ]
    return found

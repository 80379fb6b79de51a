"""Report arithmetic (R17, R18, R21, R22): periods in the organisation's calendar, percentiles by
rank, shares, and the early-warning tests.

The figures themselves are counted by SQL (`services/reports.py`); this module holds the rules a
reader must be able to check by hand: which instants a period covers, which row is the median,
when a category counts as spiking. Imports nothing from Flask or SQLAlchemy; takes `today`/`now`
as arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# A period longer than a year makes neither a readable chart nor a cheap query.
MAX_PERIOD_DAYS = 366
# Up to this many days the intake chart has a bar a day; beyond it, a bar a week.
DAILY_BUCKETS_UP_TO = 62


class PeriodError(ValueError):
    """The dates asked for do not make a period (end before start, too long)."""


@dataclass(frozen=True)
class Period:
    """Whole days in the organisation's calendar, both ends included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise PeriodError("the period ends before it starts")
        if self.days > MAX_PERIOD_DAYS:
            raise PeriodError("the period is longer than a year")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def utc_bounds(self, timezone: str) -> tuple[datetime, datetime]:
        """The instants [first midnight, midnight after the last day) in UTC."""
        zone = ZoneInfo(timezone)
        start = datetime.combine(self.start, time(), zone).astimezone(UTC)
        end = datetime.combine(self.end + timedelta(days=1), time(), zone).astimezone(UTC)
        return start, end

    @property
    def weekly(self) -> bool:
        return self.days > DAILY_BUCKETS_UP_TO

    def overlaps(self, other: Period) -> bool:
        return self.start <= other.end and other.start <= self.end


def last_days(today: date, days: int) -> Period:
    return Period(today - timedelta(days=days - 1), today)


def month_of(day: date) -> Period:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period(first, following - timedelta(days=1))


def previous_month(today: date) -> Period:
    return month_of(today.replace(day=1) - timedelta(days=1))


def quarter_of(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def quarter_period(year: int, quarter: int) -> Period:
    if not 1 <= quarter <= 4:
        raise PeriodError("a quarter is 1 to 4")
    first = date(year, 3 * quarter - 2, 1)
    return Period(first, month_of(date(year, 3 * quarter, 1)).end)


def quarter_label(year: int, quarter: int) -> str:
    return f"{year}-Q{quarter}"


def parse_quarter(label: str) -> tuple[int, int]:
    """ "2026-Q3" → (2026, 3); anything else is a PeriodError."""
    year_text, sep, quarter_text = label.partition("-Q")
    if not sep or not year_text.isdigit() or quarter_text not in {"1", "2", "3", "4"}:
        raise PeriodError("a quarter looks like 2026-Q3")
    return int(year_text), int(quarter_text)


def recent_quarters(today: date, count: int = 4) -> list[tuple[int, int]]:
    """This quarter and the ones before it, newest first."""
    year, quarter = quarter_of(today)
    quarters = []
    for _ in range(count):
        quarters.append((year, quarter))
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    return quarters


def preset_period(preset: str | None, today: date) -> Period:
    """The dashboard's quick periods; anything unknown is the last 30 days."""
    year, quarter = quarter_of(today)
    if preset == "month":
        return Period(today.replace(day=1), today)
    if preset == "last_month":
        return previous_month(today)
    if preset == "quarter":
        return Period(quarter_period(year, quarter).start, today)
    if preset == "last_quarter":
        return quarter_period(*recent_quarters(today, 2)[1])
    return last_days(today, 30)


def nearest_rank(percent: int, count: int) -> int:
    """The 1-based rank of the `percent`th percentile among `count` sorted values.

    Nearest-rank method: the smallest value with at least `percent`% of the values at or below
    it, so the answer is always a value that really occurred (a median of 2 h, not 2.5 h of two
    cases). SQL computes the same rank as (percent * n + 99) / 100 in integer arithmetic.
    """
    if count <= 0:
        raise ValueError("no values")
    if not 0 < percent <= 100:
        raise ValueError("percent is 1 to 100")
    return (percent * count + 99) // 100


# Durations are counted into buckets of this many seconds and ranked by bucket: the screen shows
# hours to one decimal (6 minutes), so a bucket's centre is the figure shown, exactly.
DURATION_BUCKET_SECONDS = 360


@dataclass(frozen=True)
class Percentiles:
    count: int = 0
    median_seconds: float | None = None
    p90_seconds: float | None = None


def percentiles_from_histogram(histogram: Iterable[tuple[int, int]]) -> Percentiles:
    """Median and 90th percentile (nearest rank) from (bucket, count) pairs of durations.

    SQL counts the durations per bucket (`round(seconds / DURATION_BUCKET_SECONDS)`), one row per
    bucket rather than per case, so ranking costs one grouped query however many cases there are.
    """
    buckets = sorted((int(bucket), count) for bucket, count in histogram if count)
    total = sum(count for _bucket, count in buckets)
    if not total:
        return Percentiles()
    wanted = {50: nearest_rank(50, total), 90: nearest_rank(90, total)}
    found: dict[int, float] = {}
    running = 0
    for bucket, count in buckets:
        running += count
        for percent, rank in wanted.items():
            if percent not in found and running >= rank:
                found[percent] = float(bucket * DURATION_BUCKET_SECONDS)
    return Percentiles(count=total, median_seconds=found[50], p90_seconds=found[90])


def share(part: int, whole: int) -> float | None:
    """part / whole as a fraction, or None when there is nothing to divide (shown as "—")."""
    return part / whole if whole else None


@dataclass(frozen=True)
class WarningThresholds:
    """R22's early warnings; each number is an administrator's setting."""

    repeat_complaints: int = 3  # a customer with this many complaints ...
    repeat_days: int = 30  # ... within this many days
    spike_factor: float = 2.0  # a category whose last 7 days exceed this × its weekly average
    spike_weeks: int = 8  # ... over this many weeks before
    spike_min_count: int = 3  # ... and at least this many complaints (1 against 0.2 is no spike)
    promise_hours: int = 2  # a promised update due within this many hours


def is_spike(this_week: int, weeks_before_total: int, thresholds: WarningThresholds) -> bool:
    """R22: this week's intake is more than `spike_factor` × the average week before it."""
    if this_week < thresholds.spike_min_count:
        return False
    average = weeks_before_total / thresholds.spike_weeks
    return this_week > thresholds.spike_factor * average


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def intake_series(counts: Mapping[date, int], period: Period) -> list[tuple[date, int]]:
    """Every day (or every week, from its Monday) of the period with its count, zeros included."""
    days = [period.start + timedelta(days=offset) for offset in range(period.days)]
    if not period.weekly:
        return [(day, counts.get(day, 0)) for day in days]
    weeks: dict[date, int] = {}
    for day in days:
        weeks[week_start(day)] = weeks.get(week_start(day), 0) + counts.get(day, 0)
    return sorted(weeks.items())


def top(items: Iterable[tuple[str, int]], limit: int) -> list[tuple[str, int]]:
    """The largest counts first; ties by name, so the same data always gives the same table."""
    return sorted(items, key=lambda item: (-item[1], item[0]))[:limit]

"""Working-day arithmetic for service clocks (R3, R7).

The calendar arrives as data (weekend days, public holidays, make-up working days such as
China's 调休 Saturdays, closure days, time zone, close of business) built by a service from the
database and the `holidays` package; this module never imports that package, Flask or
SQLAlchemy, and never reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class WorkingCalendar:
    timezone: str = "UTC"
    weekend: frozenset[int] = frozenset({5, 6})  # Monday is 0
    holidays: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = field(default_factory=frozenset)
    closures: frozenset[date] = field(default_factory=frozenset)
    close_of_business: time = time(18, 0)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_working_day(self, day: date) -> bool:
        if day in self.closures or day in self.holidays:
            return False
        if day in self.extra_working_days:
            return True
        return day.weekday() not in self.weekend


def add_working_days(day: date, working_days: int, calendar: WorkingCalendar) -> date:
    """Return the `working_days`-th working day after `day` (not counting `day` itself)."""
    if working_days < 0:
        raise ValueError("working_days must not be negative")
    current = day
    remaining = working_days
    while remaining:
        current += timedelta(days=1)
        if calendar.is_working_day(current):
            remaining -= 1
    return current


def working_deadline(start: datetime, working_days: int, calendar: WorkingCalendar) -> datetime:
    """Return the close of business, in UTC, on the N-th working day after `start`'s local date.

    R7 counts whole working days from the day after receipt, so a complaint filed late on Friday
    or on a public holiday is not penalised for the days the office is shut.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    local_day = start.astimezone(calendar.zone).date()
    due_day = add_working_days(local_day, working_days, calendar)
    local_due = datetime.combine(due_day, calendar.close_of_business, tzinfo=calendar.zone)
    return local_due.astimezone(UTC)


def working_days_between(start: date, end: date, calendar: WorkingCalendar) -> int:
    """Count the working days after `start` up to and including `end` (0 if end <= start)."""
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if calendar.is_working_day(current):
            count += 1
    return count

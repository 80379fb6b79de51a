"""Build the organisation's WorkingCalendar from settings and the `holidays` package (R7)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays

from portal.domain.calendar import WorkingCalendar


@lru_cache(maxsize=16)
def build_calendar(country: str, timezone: str, first_year: int, last_year: int) -> WorkingCalendar:
    """Return the calendar for `country`, holidays and make-up working days included (调休)."""
    years = list(range(first_year, last_year + 1))
    country_days = holidays.country_holidays(country, years=years)
    holiday_dates: frozenset[date] = frozenset(country_days.keys())
    extra = frozenset(
        d for d in getattr(country_days, "weekend_workdays", set()) if first_year <= d.year <= last_year
    )
    weekend = frozenset(getattr(country_days, "weekend", {5, 6}))
    return WorkingCalendar(
        timezone=timezone, weekend=weekend, holidays=holiday_dates, extra_working_days=extra
    )


def calendar_for(country: str, timezone: str, year: int) -> WorkingCalendar:
    """Return a calendar wide enough for any deadline that starts in `year`."""
    return build_calendar(country, timezone, year - 1, year + 1)

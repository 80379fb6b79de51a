"""Report arithmetic (R17, R18, R21, R22): periods, percentile ranks, shares, spikes, buckets."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from portal.domain import reporting
from portal.domain.reporting import Period, PeriodError, WarningThresholds


@pytest.mark.parametrize(
    ("percent", "count", "rank"),
    [
        pytest.param(50, 1, 1, id="one-value-is-its-own-median"),
        pytest.param(50, 4, 2, id="median-of-four-is-the-second"),
        pytest.param(50, 5, 3, id="median-of-five-is-the-third"),
        pytest.param(90, 4, 4, id="p90-of-four-is-the-fourth"),
        pytest.param(90, 10, 9, id="p90-of-ten-is-the-ninth"),
        pytest.param(90, 11, 10, id="p90-of-eleven-is-the-tenth"),
        pytest.param(100, 7, 7, id="p100-is-the-largest"),
    ],
)
def test_nearest_rank(percent: int, count: int, rank: int) -> None:
    assert reporting.nearest_rank(percent, count) == rank


@pytest.mark.parametrize(("percent", "count"), [(50, 0), (0, 5), (101, 5)])
def test_nearest_rank_refuses_nonsense(percent: int, count: int) -> None:
    with pytest.raises(ValueError):
        reporting.nearest_rank(percent, count)


def test_share_of_nothing_is_none_not_zero() -> None:
    assert reporting.share(0, 0) is None
    assert reporting.share(3, 4) == 0.75


def test_a_period_covers_whole_local_days() -> None:
    """Shanghai is UTC+8: 1–30 November local is 31 Oct 16:00 UTC to 30 Nov 16:00 UTC."""
    start, end = Period(date(2026, 11, 1), date(2026, 11, 30)).utc_bounds("Asia/Shanghai")
    assert start == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert end == datetime(2026, 11, 30, 16, tzinfo=UTC)


def test_a_period_across_a_daylight_saving_change_keeps_local_midnights() -> None:
    start, end = Period(date(2026, 3, 1), date(2026, 3, 31)).utc_bounds("Europe/London")
    assert start == datetime(2026, 3, 1, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 31, 23, tzinfo=UTC)  # BST began on 29 March


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param(date(2026, 11, 30), date(2026, 11, 1), id="ends-before-it-starts"),
        pytest.param(date(2025, 1, 1), date(2026, 11, 30), id="longer-than-a-year"),
    ],
)
def test_impossible_periods_are_refused(start: date, end: date) -> None:
    with pytest.raises(PeriodError):
        Period(start, end)


def test_months_and_quarters() -> None:
    assert reporting.month_of(date(2026, 2, 14)) == Period(date(2026, 2, 1), date(2026, 2, 28))
    assert reporting.previous_month(date(2026, 1, 5)) == Period(date(2025, 12, 1), date(2025, 12, 31))
    assert reporting.quarter_of(date(2026, 12, 1)) == (2026, 4)
    assert reporting.quarter_period(2026, 3) == Period(date(2026, 7, 1), date(2026, 9, 30))
    assert reporting.recent_quarters(date(2026, 2, 1), 3) == [(2026, 1), (2025, 4), (2025, 3)]
    assert reporting.parse_quarter("2026-Q3") == (2026, 3)


@pytest.mark.parametrize("label", ["2026-Q5", "2026Q3", "Q3-2026", "", "abcd-Q1"])
def test_a_quarter_label_must_look_like_one(label: str) -> None:
    with pytest.raises(PeriodError):
        reporting.parse_quarter(label)


def test_short_periods_have_a_bar_a_day_with_zeros_filled_in() -> None:
    period = Period(date(2026, 11, 1), date(2026, 11, 3))
    assert reporting.intake_series({date(2026, 11, 2): 4}, period) == [
        (date(2026, 11, 1), 0),
        (date(2026, 11, 2), 4),
        (date(2026, 11, 3), 0),
    ]


def test_long_periods_have_a_bar_a_week_from_its_monday() -> None:
    period = Period(date(2026, 9, 2), date(2026, 11, 30))  # starts on a Wednesday
    series = dict(
        reporting.intake_series({date(2026, 9, 2): 1, date(2026, 9, 6): 2, date(2026, 9, 7): 5}, period)
    )
    assert series[date(2026, 8, 31)] == 3  # Wed 2 and Sun 6 September share the week of Mon 31 August
    assert series[date(2026, 9, 7)] == 5
    assert sum(series.values()) == 8 and len(series) == 14


@pytest.mark.parametrize(
    ("this_week", "before", "spike"),
    [
        pytest.param(5, 8, True, id="five-against-one-a-week"),
        pytest.param(4, 16, False, id="four-against-two-a-week-is-not-more-than-double"),
        pytest.param(5, 16, True, id="five-against-two-a-week"),
        pytest.param(2, 0, False, id="below-the-minimum-count"),
        pytest.param(3, 0, True, id="three-against-nothing"),
    ],
)
def test_r22_category_spike(this_week: int, before: int, spike: bool) -> None:
    thresholds = WarningThresholds(spike_factor=2.0, spike_weeks=8, spike_min_count=3)
    assert reporting.is_spike(this_week, before, thresholds) is spike


def test_top_breaks_ties_by_name() -> None:
    assert reporting.top([("b", 2), ("a", 2), ("c", 5)], 2) == [("c", 5), ("a", 2)]


def test_percentiles_from_a_histogram_of_durations() -> None:
    """Buckets of 6 minutes (the 0.1 h the screen shows): 1 h is bucket 10, 4 h bucket 40, …"""
    result = reporting.percentiles_from_histogram([(40, 1), (10, 1), (300, 1), (60, 1)])
    assert result == reporting.Percentiles(count=4, median_seconds=4 * 3600, p90_seconds=30 * 3600)


def test_a_bucket_holding_several_cases_counts_each_of_them() -> None:
    # 9 cases at 1 h and 1 at 10 h: the 90th percentile (9th of 10) is still 1 h.
    result = reporting.percentiles_from_histogram([(10, 9), (100, 1)])
    assert (result.count, result.median_seconds, result.p90_seconds) == (10, 3600, 3600)


def test_an_empty_histogram_has_no_percentiles() -> None:
    assert reporting.percentiles_from_histogram([]) == reporting.Percentiles()
    assert reporting.percentiles_from_histogram([(10, 0)]) == reporting.Percentiles()


@pytest.mark.parametrize(
    ("preset", "period"),
    [
        pytest.param("month", Period(date(2026, 1, 1), date(2026, 1, 15)), id="this-month-so-far"),
        pytest.param(
            "last_month", Period(date(2025, 12, 1), date(2025, 12, 31)), id="last-month-across-new-year"
        ),
        pytest.param("quarter", Period(date(2026, 1, 1), date(2026, 1, 15)), id="this-quarter-so-far"),
        pytest.param("last_quarter", Period(date(2025, 10, 1), date(2025, 12, 31)), id="last-quarter"),
        pytest.param("30d", Period(date(2025, 12, 17), date(2026, 1, 15)), id="thirty-days-including-today"),
        pytest.param(
            "nonsense", Period(date(2025, 12, 17), date(2026, 1, 15)), id="unknown-means-thirty-days"
        ),
    ],
)
def test_preset_periods(preset: str, period: Period) -> None:
    assert reporting.preset_period(preset, date(2026, 1, 15)) == period

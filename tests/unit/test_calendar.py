"""Working-day arithmetic (R7) and the two service clocks built on it (R3, R7).

Hand-built WorkingCalendars pin the pure cases; the China calendar comes from the real `holidays`
package through `business_calendar.calendar_for`, and its 2026 dates are asserted first so a change
in that package shows up as a calendar failure, not as a puzzling deadline.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.domain import calendar, sla
from portal.domain.calendar import WorkingCalendar
from portal.services.business_calendar import calendar_for

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
RIYADH = ZoneInfo("Asia/Riyadh")

PLAIN_SHANGHAI = WorkingCalendar(timezone="Asia/Shanghai")  # Mon–Fri, no holidays, 18:00
PLAIN_NEW_YORK = WorkingCalendar(timezone="America/New_York")
CHINA = calendar_for("CN", "Asia/Shanghai", 2026)


def cst(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- the China calendar the cases below rely on ----------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        pytest.param(date(2026, 1, 1), False, id="new-year"),
        pytest.param(date(2026, 1, 4), True, id="new-year-makeup-sunday"),
        pytest.param(date(2026, 2, 14), True, id="spring-festival-makeup-saturday"),
        pytest.param(date(2026, 2, 15), False, id="spring-festival-sunday"),
        *[pytest.param(date(2026, 2, d), False, id=f"spring-festival-02-{d}") for d in range(16, 24)],
        pytest.param(date(2026, 2, 24), True, id="spring-festival-back-to-work"),
        pytest.param(date(2026, 2, 28), True, id="spring-festival-second-makeup-saturday"),
        pytest.param(date(2026, 9, 30), True, id="national-day-eve"),
        *[pytest.param(date(2026, 10, d), False, id=f"national-day-10-0{d}") for d in range(1, 8)],
        pytest.param(date(2026, 10, 8), True, id="national-day-back-to-work"),
        pytest.param(date(2026, 10, 10), True, id="national-day-makeup-saturday"),
        pytest.param(date(2026, 10, 11), False, id="ordinary-sunday"),
    ],
)
def test_china_2026_calendar_has_the_official_holidays_and_makeup_days(day: date, working: bool) -> None:
    assert CHINA.is_working_day(day) is working


def test_china_calendar_is_in_shanghai_time_and_covers_the_neighbouring_years() -> None:
    assert CHINA.timezone == "Asia/Shanghai"
    assert CHINA.weekend == {5, 6}
    assert date(2025, 10, 1) in CHINA.holidays
    assert date(2027, 1, 1) in CHINA.holidays


# --- working_deadline -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cal", "start", "days", "expected"),
    [
        # Pure calendars built by hand.
        pytest.param(
            PLAIN_SHANGHAI,
            cst(2026, 3, 6, 23, 59),
            3,
            cst(2026, 3, 11, 18),
            id="R7-friday-2359-skips-weekend",
        ),
        pytest.param(
            PLAIN_SHANGHAI,
            cst(2026, 3, 9, 9, 0),
            3,
            cst(2026, 3, 12, 18),
            id="R7-monday-morning-counts-from-tuesday",
        ),
        pytest.param(
            PLAIN_SHANGHAI,
            cst(2026, 3, 7, 10, 0),
            3,
            cst(2026, 3, 11, 18),
            id="R7-filed-on-saturday-counts-from-monday",
        ),
        pytest.param(
            PLAIN_SHANGHAI,
            cst(2026, 3, 8, 23, 0),
            1,
            cst(2026, 3, 9, 18),
            id="R7-filed-sunday-night-due-monday",
        ),
        pytest.param(
            WorkingCalendar(timezone="Asia/Shanghai", holidays=frozenset({date(2026, 3, 7)})),
            cst(2026, 3, 6, 12, 0),
            3,
            cst(2026, 3, 11, 18),
            id="R7-holiday-on-a-weekend-costs-no-extra-day",
        ),
        pytest.param(
            WorkingCalendar(timezone="Asia/Shanghai", holidays=frozenset({date(2026, 3, 9)})),
            cst(2026, 3, 6, 15, 0),
            3,
            cst(2026, 3, 12, 18),
            id="R7-holiday-monday-is-skipped",
        ),
        pytest.param(
            WorkingCalendar(timezone="Asia/Shanghai", holidays=frozenset({date(2026, 3, 9)})),
            cst(2026, 3, 9, 10, 0),
            3,
            cst(2026, 3, 12, 18),
            id="R7-filed-on-a-holiday-counts-from-the-next-working-day",
        ),
        pytest.param(
            WorkingCalendar(timezone="Asia/Shanghai", extra_working_days=frozenset({date(2026, 3, 14)})),
            cst(2026, 3, 12, 10, 0),
            3,
            cst(2026, 3, 16, 18),
            id="R7-makeup-saturday-counts-as-a-working-day",
        ),
        pytest.param(
            WorkingCalendar(timezone="Asia/Shanghai", closures=frozenset({date(2026, 3, 10)})),
            cst(2026, 3, 9, 10, 0),
            3,
            cst(2026, 3, 13, 18),
            id="R7-admin-closure-day-is-skipped",
        ),
        pytest.param(
            WorkingCalendar(
                timezone="Asia/Shanghai",
                extra_working_days=frozenset({date(2026, 3, 14)}),
                closures=frozenset({date(2026, 3, 14)}),
            ),
            cst(2026, 3, 12, 10, 0),
            3,
            cst(2026, 3, 17, 18),
            id="R7-closure-beats-a-makeup-working-day",
        ),
        pytest.param(
            WorkingCalendar(timezone="Asia/Shanghai", close_of_business=time(17, 30)),
            cst(2026, 3, 9, 9, 0),
            3,
            cst(2026, 3, 12, 17, 30),
            id="R7-custom-close-of-business",
        ),
        pytest.param(
            WorkingCalendar(timezone="Asia/Riyadh", weekend=frozenset({4, 5})),
            datetime(2026, 3, 5, 12, 0, tzinfo=RIYADH),
            3,
            datetime(2026, 3, 10, 18, 0, tzinfo=RIYADH),
            id="R7-friday-saturday-weekend",
        ),
        # The same UTC instant is Friday morning in Shanghai but Thursday afternoon in New York.
        pytest.param(
            PLAIN_SHANGHAI,
            utc(2026, 3, 5, 20, 0),
            3,
            utc(2026, 3, 11, 10, 0),
            id="R7-same-instant-is-friday-in-shanghai",
        ),
        pytest.param(
            PLAIN_NEW_YORK,
            utc(2026, 3, 5, 20, 0),
            3,
            utc(2026, 3, 10, 22, 0),
            id="R7-same-instant-is-thursday-in-new-york-edt-after-dst",
        ),
        # The real China calendar from the `holidays` package.
        pytest.param(
            CHINA,
            cst(2026, 9, 30, 15, 0),
            3,
            cst(2026, 10, 10, 18),
            id="R7-cn-national-day-eve-ends-on-makeup-saturday",
        ),
        pytest.param(
            CHINA, cst(2026, 9, 30, 15, 0), 1, cst(2026, 10, 8, 18), id="R7-cn-national-day-eve-one-day"
        ),
        pytest.param(CHINA, cst(2026, 10, 1, 9, 0), 3, cst(2026, 10, 10, 18), id="R7-cn-filed-on-a-holiday"),
        pytest.param(
            CHINA, cst(2026, 10, 3, 11, 0), 3, cst(2026, 10, 10, 18), id="R7-cn-filed-on-a-holiday-saturday"
        ),
        pytest.param(
            CHINA,
            cst(2026, 2, 13, 10, 0),
            3,
            cst(2026, 2, 25, 18),
            id="R7-cn-spring-festival-eve-counts-working-saturday",
        ),
        pytest.param(
            CHINA, cst(2026, 2, 14, 9, 0), 3, cst(2026, 2, 26, 18), id="R7-cn-filed-on-working-saturday"
        ),
        pytest.param(
            CHINA, cst(2026, 2, 18, 9, 0), 3, cst(2026, 2, 26, 18), id="R7-cn-filed-during-spring-festival"
        ),
        pytest.param(
            CHINA, cst(2026, 2, 27, 9, 0), 3, cst(2026, 3, 3, 18), id="R7-cn-second-makeup-saturday-counts"
        ),
        pytest.param(
            CHINA,
            cst(2025, 12, 31, 14, 0),
            3,
            cst(2026, 1, 6, 18),
            id="R7-cn-new-year-makeup-sunday-across-years",
        ),
        pytest.param(
            CHINA,
            utc(2026, 2, 12, 17, 0),
            3,
            cst(2026, 2, 25, 18),
            id="R7-cn-utc-thursday-evening-is-shanghai-friday",
        ),
    ],
)
def test_working_deadline_is_close_of_business_on_the_nth_working_day_after_receipt(
    cal: WorkingCalendar, start: datetime, days: int, expected: datetime
) -> None:
    due = calendar.working_deadline(start, days, cal)
    assert due == expected
    assert due.tzinfo is UTC


def test_same_instant_gives_different_deadlines_in_shanghai_and_new_york() -> None:
    instant = utc(2026, 3, 5, 20, 0)
    assert instant.astimezone(SHANGHAI).date() == date(2026, 3, 6)
    assert instant.astimezone(NEW_YORK).date() == date(2026, 3, 5)
    in_shanghai = calendar.working_deadline(instant, 3, PLAIN_SHANGHAI)
    in_new_york = calendar.working_deadline(instant, 3, PLAIN_NEW_YORK)
    assert in_shanghai.astimezone(SHANGHAI) == cst(2026, 3, 11, 18)
    assert in_new_york.astimezone(NEW_YORK) == datetime(2026, 3, 10, 18, 0, tzinfo=NEW_YORK)


def test_the_offset_the_start_is_written_in_does_not_matter() -> None:
    as_utc = utc(2026, 3, 6, 15, 59)
    as_shanghai = as_utc.astimezone(SHANGHAI)
    as_new_york = as_utc.astimezone(NEW_YORK)
    due = calendar.working_deadline(as_utc, 3, PLAIN_SHANGHAI)
    assert calendar.working_deadline(as_shanghai, 3, PLAIN_SHANGHAI) == due
    assert calendar.working_deadline(as_new_york, 3, PLAIN_SHANGHAI) == due


def test_working_deadline_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.working_deadline(datetime(2026, 3, 6, 12, 0), 3, PLAIN_SHANGHAI)


def test_working_deadline_refuses_negative_days() -> None:
    with pytest.raises(ValueError, match="negative"):
        calendar.working_deadline(cst(2026, 3, 6, 12, 0), -1, PLAIN_SHANGHAI)


# --- add_working_days -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cal", "day", "days", "expected"),
    [
        pytest.param(
            PLAIN_SHANGHAI, date(2026, 3, 6), 1, date(2026, 3, 9), id="R7-friday-plus-one-is-monday"
        ),
        pytest.param(PLAIN_SHANGHAI, date(2026, 3, 9), 5, date(2026, 3, 16), id="R7-a-working-week"),
        pytest.param(PLAIN_SHANGHAI, date(2026, 3, 7), 0, date(2026, 3, 7), id="zero-days-is-the-same-day"),
        pytest.param(
            PLAIN_SHANGHAI, date(2026, 3, 6), 7, date(2026, 3, 17), id="R7-extended-maximum-seven-days"
        ),
        pytest.param(CHINA, date(2026, 9, 30), 1, date(2026, 10, 8), id="R7-cn-national-day-week-is-skipped"),
        pytest.param(CHINA, date(2026, 9, 30), 3, date(2026, 10, 10), id="R7-cn-makeup-saturday-counts"),
        pytest.param(
            CHINA, date(2026, 9, 30), 7, date(2026, 10, 15), id="R7-cn-seven-days-over-national-day"
        ),
        pytest.param(CHINA, date(2026, 2, 13), 2, date(2026, 2, 24), id="R7-cn-spring-festival-is-skipped"),
        pytest.param(CHINA, date(2026, 9, 24), 1, date(2026, 9, 28), id="R7-cn-mid-autumn-friday-is-skipped"),
    ],
)
def test_add_working_days_counts_from_the_day_after(
    cal: WorkingCalendar, day: date, days: int, expected: date
) -> None:
    assert calendar.add_working_days(day, days, cal) == expected


def test_add_working_days_refuses_negative_days() -> None:
    with pytest.raises(ValueError, match="negative"):
        calendar.add_working_days(date(2026, 3, 6), -1, PLAIN_SHANGHAI)


# --- sla: the acknowledge and resolve clocks ----------------------------------------------------


@pytest.mark.parametrize(
    "received_at",
    [
        pytest.param(cst(2026, 3, 6, 23, 59), id="R3-friday-night-due-saturday-night"),
        pytest.param(cst(2026, 9, 30, 10, 0), id="R3-national-day-is-not-skipped"),
        pytest.param(utc(2026, 3, 7, 12, 0), id="R3-utc-saturday-noon"),
        # 2026-03-08 02:00 New York springs forward: 24 elapsed hours end at 13:00 local, not 12:00.
        pytest.param(datetime(2026, 3, 7, 12, 0, tzinfo=NEW_YORK), id="R3-across-new-york-dst-change"),
    ],
)
def test_acknowledge_is_due_24_clock_hours_after_receipt_r3(received_at: datetime) -> None:
    due = sla.acknowledge_due(received_at, sla.SlaPolicy())
    assert due.astimezone(UTC) - received_at.astimezone(UTC) == timedelta(hours=24)


def test_acknowledge_clock_follows_the_policy_hours_r23() -> None:
    received_at = cst(2026, 3, 6, 23, 59)
    assert sla.acknowledge_due(received_at, sla.SlaPolicy(acknowledge_hours=4)) == cst(2026, 3, 7, 3, 59)


@pytest.mark.parametrize(
    ("cal", "received_at", "expected"),
    [
        pytest.param(
            PLAIN_SHANGHAI, cst(2026, 3, 6, 23, 59), cst(2026, 3, 11, 18), id="R7-friday-night-due-wednesday"
        ),
        pytest.param(
            PLAIN_SHANGHAI, cst(2026, 3, 9, 9, 0), cst(2026, 3, 12, 18), id="R7-monday-due-thursday"
        ),
        pytest.param(CHINA, cst(2026, 9, 30, 15, 0), cst(2026, 10, 10, 18), id="R7-cn-national-day-eve"),
        pytest.param(CHINA, cst(2026, 2, 13, 10, 0), cst(2026, 2, 25, 18), id="R7-cn-spring-festival-eve"),
    ],
)
def test_resolve_is_due_three_working_days_after_receipt_at_close_of_business_r7(
    cal: WorkingCalendar, received_at: datetime, expected: datetime
) -> None:
    due = sla.resolve_due(received_at, sla.SlaPolicy(), cal)
    assert due == expected
    assert due.astimezone(cal.zone).time() == cal.close_of_business


def test_resolve_clock_follows_the_policy_working_days_r23() -> None:
    received_at = cst(2026, 3, 9, 9, 0)
    assert sla.resolve_due(received_at, sla.SlaPolicy(resolve_working_days=1), PLAIN_SHANGHAI) == cst(
        2026, 3, 10, 18
    )


def test_default_policy_is_24_hours_and_3_to_7_working_days_r3_r7() -> None:
    policy = sla.SlaPolicy()
    assert (policy.acknowledge_hours, policy.resolve_working_days, policy.max_working_days) == (24, 3, 7)

"""Service clocks on hand-built calendars: acknowledge (R3), resolve and extend (R7), pause and
resume (R8: the customer is waited for, not penalised), clock states, and tier policies (R23).

March 2026: Monday 2, Thursday 5, Friday 6, Saturday 7, Monday 9. Every calendar here is written
out in the test, so no holiday package or database is involved.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.domain import sla
from portal.domain.calendar import WorkingCalendar
from portal.domain.sla import ClockState, SlaPolicy

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")

PLAIN = WorkingCalendar()  # UTC, Mon–Fri, close of business 18:00
POLICY = SlaPolicy()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def cst(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def test_the_calendar_dates_these_tests_rely_on() -> None:
    assert date(2026, 3, 2).strftime("%A") == "Monday"
    assert date(2026, 3, 7).strftime("%A") == "Saturday"


# --- R3: acknowledge within 24 hours ------------------------------------------------------------


@pytest.mark.parametrize(
    ("received_at", "expected"),
    [
        pytest.param(utc(2026, 3, 2, 10, 0), utc(2026, 3, 3, 10, 0), id="R3-monday-morning"),
        pytest.param(utc(2026, 3, 6, 17, 0), utc(2026, 3, 7, 17, 0), id="R3-weekend-is-not-skipped"),
        pytest.param(cst(2026, 3, 7, 23, 30), utc(2026, 3, 8, 15, 30), id="R3-shanghai-input"),
        # New York springs forward at 02:00 on 2026-03-08: 24 elapsed hours end at 13:00 local.
        pytest.param(
            datetime(2026, 3, 7, 12, 0, tzinfo=NEW_YORK),
            datetime(2026, 3, 8, 13, 0, tzinfo=NEW_YORK),
            id="R3-elapsed-hours-across-dst",
        ),
    ],
)
def test_acknowledgement_is_due_24_elapsed_hours_after_receipt_r3(
    received_at: datetime, expected: datetime
) -> None:
    due = sla.acknowledge_due(received_at, POLICY)
    assert due == expected
    assert due.tzinfo is UTC
    assert due - received_at == timedelta(hours=24)


def test_a_faster_tier_gets_a_shorter_acknowledgement_clock_r23() -> None:
    vip = SlaPolicy(acknowledge_hours=4)
    assert sla.acknowledge_due(utc(2026, 3, 6, 22, 0), vip) == utc(2026, 3, 7, 2, 0)


# --- R7: resolve within 3 working days ----------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "received_at", "expected"),
    [
        pytest.param(PLAIN, utc(2026, 3, 2, 10), utc(2026, 3, 5, 18), id="R7-monday-due-thursday"),
        pytest.param(PLAIN, utc(2026, 3, 2, 23, 59), utc(2026, 3, 5, 18), id="R7-late-monday-same-due"),
        pytest.param(PLAIN, utc(2026, 3, 6, 10), utc(2026, 3, 11, 18), id="R7-friday-skips-weekend"),
        pytest.param(PLAIN, utc(2026, 3, 7, 10), utc(2026, 3, 11, 18), id="R7-saturday-counts-from-monday"),
        pytest.param(
            WorkingCalendar(holidays=frozenset({date(2026, 3, 3)})),
            utc(2026, 3, 2, 10),
            utc(2026, 3, 6, 18),
            id="R7-public-holiday-skipped",
        ),
        pytest.param(
            WorkingCalendar(holidays=frozenset({date(2026, 3, 2)})),
            utc(2026, 3, 2, 10),
            utc(2026, 3, 5, 18),
            id="R7-received-on-a-holiday",
        ),
        pytest.param(
            WorkingCalendar(extra_working_days=frozenset({date(2026, 3, 7)})),
            utc(2026, 3, 6, 10),
            utc(2026, 3, 10, 18),
            id="R7-makeup-saturday-counts",
        ),
        pytest.param(
            WorkingCalendar(closures=frozenset({date(2026, 3, 4)})),
            utc(2026, 3, 2, 10),
            utc(2026, 3, 6, 18),
            id="R7-closure-day-skipped",
        ),
        pytest.param(
            WorkingCalendar(weekend=frozenset({4, 5})),
            utc(2026, 3, 5, 10),
            utc(2026, 3, 10, 18),
            id="R7-friday-saturday-weekend",
        ),
        pytest.param(
            WorkingCalendar(close_of_business=time(17, 30)),
            utc(2026, 3, 2, 10),
            utc(2026, 3, 5, 17, 30),
            id="R7-configured-close-of-business",
        ),
        # 17:00 UTC Friday is 01:00 Saturday in Shanghai: counting starts after the local Saturday.
        pytest.param(
            WorkingCalendar(timezone="Asia/Shanghai"),
            utc(2026, 3, 6, 17),
            cst(2026, 3, 11, 18),
            id="R7-local-date-decides",
        ),
    ],
)
def test_resolution_is_due_at_close_of_business_on_the_third_working_day_r7(
    calendar: WorkingCalendar, received_at: datetime, expected: datetime
) -> None:
    due = sla.resolve_due(received_at, POLICY, calendar)
    assert due == expected
    assert due.tzinfo is UTC


def test_a_faster_tier_gets_fewer_working_days_r23() -> None:
    vip = SlaPolicy(resolve_working_days=1)
    assert sla.resolve_due(utc(2026, 3, 6, 10), vip, PLAIN) == utc(2026, 3, 9, 18)


# --- R7: special cases may take up to 7 working days --------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "working_days", "expected"),
    [
        pytest.param(PLAIN, 4, utc(2026, 3, 6, 18), id="R7-extension-to-4-days"),
        pytest.param(PLAIN, 7, utc(2026, 3, 11, 18), id="R7-extension-to-the-7-day-maximum"),
        pytest.param(
            WorkingCalendar(holidays=frozenset({date(2026, 3, 9), date(2026, 3, 10)})),
            7,
            utc(2026, 3, 13, 18),
            id="R7-extension-skips-holidays",
        ),
        pytest.param(
            WorkingCalendar(extra_working_days=frozenset({date(2026, 3, 7)})),
            7,
            utc(2026, 3, 10, 18),
            id="R7-extension-counts-makeup-saturday",
        ),
    ],
)
def test_an_extension_is_counted_in_working_days_from_receipt_r7(
    calendar: WorkingCalendar, working_days: int, expected: datetime
) -> None:
    assert sla.extended_due(utc(2026, 3, 2, 10), working_days, POLICY, calendar) == expected


@pytest.mark.parametrize(
    ("policy", "working_days"),
    [
        pytest.param(POLICY, 8, id="R7-extension-beyond-7-days-refused"),
        pytest.param(POLICY, 30, id="R7-extension-of-a-month-refused"),
        pytest.param(POLICY, 3, id="R7-extension-equal-to-the-normal-target-refused"),
        pytest.param(POLICY, 2, id="R7-extension-shorter-than-the-target-refused"),
        pytest.param(POLICY, 0, id="R7-zero-day-extension-refused"),
        pytest.param(POLICY, -1, id="R7-negative-extension-refused"),
        pytest.param(SlaPolicy(max_working_days=5), 6, id="R7-configured-maximum-enforced"),
        pytest.param(SlaPolicy(resolve_working_days=1), 1, id="R23-vip-extension-must-exceed-vip-target"),
    ],
)
def test_an_extension_outside_the_allowed_range_is_refused_r7(policy: SlaPolicy, working_days: int) -> None:
    with pytest.raises(ValueError, match="extension"):
        sla.extended_due(utc(2026, 3, 2, 10), working_days, policy, PLAIN)


def test_a_vip_case_may_be_extended_beyond_its_shorter_target_r7_r23() -> None:
    vip = SlaPolicy(resolve_working_days=1)
    assert sla.extended_due(utc(2026, 3, 2, 10), 2, vip, PLAIN) == utc(2026, 3, 4, 18)


# --- pausing for the customer and resuming ------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "paused_at", "due_at", "now", "expected"),
    [
        # Paused Monday with Tue/Wed/Thu left; resumed Wednesday → Thu, Fri, Mon.
        pytest.param(
            PLAIN,
            utc(2026, 3, 2, 10),
            utc(2026, 3, 5, 18),
            utc(2026, 3, 4, 9),
            utc(2026, 3, 9, 18),
            id="R7-pause-monday-resume-wednesday-due-next-monday",
        ),
        pytest.param(
            PLAIN,
            utc(2026, 3, 2, 10),
            utc(2026, 3, 5, 18),
            utc(2026, 3, 2, 15),
            utc(2026, 3, 5, 18),
            id="R7-resumed-the-same-day-keeps-the-due",
        ),
        # Paused Friday with Mon/Tue left; the weekend costs nothing; resumed Monday → Tue, Wed.
        pytest.param(
            PLAIN,
            utc(2026, 3, 6, 12),
            utc(2026, 3, 10, 18),
            utc(2026, 3, 9, 8),
            utc(2026, 3, 11, 18),
            id="R7-weekend-pause-resumed-monday",
        ),
        # Three days left; a holiday on Friday 6 is skipped when they are counted again.
        pytest.param(
            WorkingCalendar(holidays=frozenset({date(2026, 3, 6)})),
            utc(2026, 3, 2, 10),
            utc(2026, 3, 5, 18),
            utc(2026, 3, 4, 9),
            utc(2026, 3, 10, 18),
            id="R7-holiday-after-resume-skipped",
        ),
        # Paused on the due day: no whole working day left, so the case is due at close of the
        # day it resumes.
        pytest.param(
            PLAIN,
            utc(2026, 3, 5, 10),
            utc(2026, 3, 5, 18),
            utc(2026, 3, 6, 9),
            utc(2026, 3, 6, 18),
            id="R7-paused-on-due-day-due-close-of-resume-day",
        ),
        # Dates are local: 17:00 UTC Monday is 01:00 Tuesday in Shanghai, so Wed/Thu are left;
        # resumed Wednesday 10:00 Shanghai → Thu, Fri.
        pytest.param(
            WorkingCalendar(timezone="Asia/Shanghai"),
            utc(2026, 3, 2, 17),
            cst(2026, 3, 5, 18),
            cst(2026, 3, 4, 10),
            cst(2026, 3, 6, 18),
            id="R7-remaining-days-counted-in-local-dates",
        ),
        # A due that is not at close of business (20:00) is never pulled earlier by resuming.
        pytest.param(
            PLAIN,
            utc(2026, 3, 5, 10),
            utc(2026, 3, 5, 20),
            utc(2026, 3, 5, 11),
            utc(2026, 3, 5, 20),
            id="R7-resume-never-moves-the-due-earlier",
        ),
    ],
)
def test_a_resumed_clock_keeps_the_working_days_it_had_left(
    calendar: WorkingCalendar, paused_at: datetime, due_at: datetime, now: datetime, expected: datetime
) -> None:
    new_due = sla.resumed_due(paused_at, due_at, now, calendar)
    assert new_due == expected
    assert new_due >= due_at


@pytest.mark.parametrize(
    ("paused_at", "due_at", "now"),
    [
        # Paused on the due day with hours (not whole days) left, the customer answers after close.
        pytest.param(
            utc(2026, 3, 5, 10),
            utc(2026, 3, 5, 18),
            utc(2026, 3, 5, 20),
            id="R7-resumed-after-close-of-business",
        ),
        # Paused on Friday, the due day; the customer answers on Saturday.
        pytest.param(
            utc(2026, 3, 6, 10), utc(2026, 3, 6, 18), utc(2026, 3, 7, 9), id="R7-resumed-on-a-saturday"
        ),
    ],
)
def test_a_resumed_clock_is_due_in_the_future_on_a_working_day_r7(
    paused_at: datetime, due_at: datetime, now: datetime
) -> None:
    """Waiting for the customer must not turn into an instant breach (the sweep would escalate)."""
    new_due = sla.resumed_due(paused_at, due_at, now, PLAIN)
    assert new_due > now
    assert PLAIN.is_working_day(new_due.astimezone(PLAIN.zone).date())


# --- clock states ---------------------------------------------------------------------------------

START = utc(2026, 3, 2, 0)
DUE = START + timedelta(hours=100)


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


@pytest.mark.parametrize(
    ("now", "stopped_at", "paused_at", "expected"),
    [
        pytest.param(at(10), None, None, ClockState.RUNNING, id="running-early"),
        pytest.param(at(-1), None, None, ClockState.RUNNING, id="running-before-start"),
        pytest.param(at(75), None, None, ClockState.RUNNING, id="running-at-exactly-75-percent"),
        pytest.param(at(76), None, None, ClockState.AT_RISK, id="R22-at-risk-past-75-percent"),
        pytest.param(at(100), None, None, ClockState.AT_RISK, id="R22-at-risk-at-the-due-instant"),
        pytest.param(
            DUE + timedelta(seconds=1), None, None, ClockState.BREACHED, id="R7-breached-running-past-due"
        ),
        pytest.param(at(200), at(50), None, ClockState.MET, id="R7-met-stopped-before-due"),
        pytest.param(at(200), DUE, None, ClockState.MET, id="R7-met-stopped-at-the-due-instant"),
        pytest.param(at(80), at(50), None, ClockState.MET, id="R7-met-is-not-at-risk"),
        pytest.param(at(200), at(101), None, ClockState.BREACHED, id="R7-breached-stopped-after-due"),
        pytest.param(at(200), at(50), at(40), ClockState.MET, id="R7-stopped-wins-over-paused"),
        pytest.param(at(10), None, at(5), ClockState.PAUSED, id="R7-paused"),
        pytest.param(at(90), None, at(80), ClockState.PAUSED, id="R7-paused-is-not-at-risk"),
        pytest.param(
            at(150), None, at(101), ClockState.BREACHED, id="R7-paused-after-it-was-already-breached"
        ),
        # A paused clock does not run out while the customer is awaited (the sweep skips paused
        # tickets and resuming moves the due after `now`), so it must not show as breached.
        pytest.param(at(150), None, at(80), ClockState.PAUSED, id="R7-paused-clock-does-not-run-out"),
    ],
)
def test_clock_state(
    now: datetime, stopped_at: datetime | None, paused_at: datetime | None, expected: ClockState
) -> None:
    state = sla.clock_state(now, started_at=START, due_at=DUE, stopped_at=stopped_at, paused_at=paused_at)
    assert state == expected


def test_every_clock_state_is_reachable() -> None:
    seen = {
        sla.clock_state(at(h), started_at=START, due_at=DUE, stopped_at=stop, paused_at=pause)
        for h, stop, pause in [
            (10, None, None),
            (90, None, None),
            (10, None, at(5)),
            (200, at(50), None),
            (200, None, None),
        ]
    }
    assert seen == set(ClockState)


def test_clock_state_takes_times_keyword_only() -> None:
    with pytest.raises(TypeError):
        sla.clock_state(at(10), START, DUE)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("now", "started_at", "due_at", "expected"),
    [
        pytest.param(at(0), START, DUE, 0.0, id="at-start"),
        pytest.param(at(50), START, DUE, 0.5, id="halfway"),
        pytest.param(at(75), START, DUE, 0.75, id="three-quarters"),
        pytest.param(at(100), START, DUE, 1.0, id="at-due"),
        pytest.param(at(150), START, DUE, 1.5, id="past-due-not-clamped"),
        pytest.param(at(-10), START, DUE, 0.0, id="before-start-is-zero"),
        pytest.param(at(5), START, START, 1.0, id="zero-length-window-is-used-up"),
        pytest.param(at(-5), START, START, 1.0, id="zero-length-window-before-start"),
        pytest.param(at(5), START, START - timedelta(hours=1), 1.0, id="due-before-start-is-used-up"),
    ],
)
def test_share_used(now: datetime, started_at: datetime, due_at: datetime, expected: float) -> None:
    assert sla.share_used(now, started_at, due_at) == pytest.approx(expected)


def test_a_zero_length_window_is_at_risk_until_it_is_breached() -> None:
    assert sla.clock_state(START, started_at=START, due_at=START) == ClockState.AT_RISK
    assert sla.clock_state(at(1), started_at=START, due_at=START) == ClockState.BREACHED

"""Service clocks: the deadlines a ticket gets and the state of each clock (R3, R7, R8, R23).

Acknowledge within 24 clock hours (R3); resolve within 3 working days, extendable once to at most
7 (R7); a VIP tier may get faster targets (R23). A clock is running, paused (only while waiting
for the customer), met or breached. Pure: takes `now` and times as arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from portal.domain.calendar import WorkingCalendar, working_days_between, working_deadline

AT_RISK_SHARE = 0.75


@dataclass(frozen=True)
class SlaPolicy:
    acknowledge_hours: int = 24
    resolve_working_days: int = 3
    max_working_days: int = 7


class ClockState(StrEnum):
    RUNNING = "running"
    AT_RISK = "at_risk"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"


def acknowledge_due(received_at: datetime, policy: SlaPolicy) -> datetime:
    """R3: the registration confirmation is due 24 clock hours after receipt."""
    return received_at.astimezone(UTC) + timedelta(hours=policy.acknowledge_hours)


def resolve_due(received_at: datetime, policy: SlaPolicy, calendar: WorkingCalendar) -> datetime:
    """R7: handling may not exceed N working days, counted from receipt."""
    return working_deadline(received_at, policy.resolve_working_days, calendar)


def extended_due(
    received_at: datetime, working_days: int, policy: SlaPolicy, calendar: WorkingCalendar
) -> datetime:
    """R7: a special case may take longer, but never more than the maximum working days."""
    if not policy.resolve_working_days < working_days <= policy.max_working_days:
        raise ValueError(
            f"an extension must be more than {policy.resolve_working_days} and at most "
            f"{policy.max_working_days} working days"
        )
    return working_deadline(received_at, working_days, calendar)


def resumed_due(paused_at: datetime, due_at: datetime, now: datetime, calendar: WorkingCalendar) -> datetime:
    """A paused clock keeps the working days it had left when it stopped."""
    zone = calendar.zone
    remaining = working_days_between(
        paused_at.astimezone(zone).date(), due_at.astimezone(zone).date(), calendar
    )
    resumed = working_deadline(now, remaining, calendar)
    if resumed <= now or not calendar.is_working_day(resumed.astimezone(zone).date()):
        # Paused on its last day: the customer's answer still leaves a working day to act on it.
        resumed = working_deadline(now, max(remaining, 1), calendar)
    return max(resumed, due_at)


def clock_state(
    now: datetime,
    *,
    started_at: datetime,
    due_at: datetime,
    stopped_at: datetime | None = None,
    paused_at: datetime | None = None,
) -> ClockState:
    """The state of one clock: stopped clocks are met or breached, running ones may be at risk."""
    if stopped_at is not None:
        return ClockState.MET if stopped_at <= due_at else ClockState.BREACHED
    if paused_at is not None:  # a paused clock does not run out, unless it was already late
        return ClockState.BREACHED if paused_at > due_at else ClockState.PAUSED
    if now > due_at:
        return ClockState.BREACHED
    if share_used(now, started_at, due_at) > AT_RISK_SHARE:
        return ClockState.AT_RISK
    return ClockState.RUNNING


def share_used(now: datetime, started_at: datetime, due_at: datetime) -> float:
    total = (due_at - started_at).total_seconds()
    if total <= 0:
        return 1.0
    return max(0.0, (now - started_at).total_seconds() / total)

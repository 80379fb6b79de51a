"""Service targets and the deadlines they give a ticket (R3: acknowledge in 24 hours;
R7: resolve within 3 working days). Pure: takes `now`/times as arguments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.domain.calendar import WorkingCalendar, working_deadline


@dataclass(frozen=True)
class SlaPolicy:
    acknowledge_hours: int = 24
    resolve_working_days: int = 3


def acknowledge_due(received_at: datetime, policy: SlaPolicy) -> datetime:
    """R3: the registration confirmation is due 24 clock hours after receipt."""
    return received_at + timedelta(hours=policy.acknowledge_hours)


def resolve_due(received_at: datetime, policy: SlaPolicy, calendar: WorkingCalendar) -> datetime:
    """R7: handling may not exceed N working days, counted from receipt."""
    return working_deadline(received_at, policy.resolve_working_days, calendar)

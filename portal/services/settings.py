"""Run-time settings an administrator can change, and the Rules the services work by.

Environment variables give the defaults (portal/config.py); rows in `setting`, `service_target`
and `closure_day` override them without a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.domain import sla
from portal.domain.calendar import WorkingCalendar
from portal.domain.reporting import WarningThresholds
from portal.domain.sla import SlaPolicy
from portal.models import ClosureDay, ServiceTarget, Setting
from portal.services.business_calendar import calendar_for


@dataclass(frozen=True)
class Rules:
    """What the services need to know about the organisation's clocks and thresholds."""

    policy: sla.SlaPolicy
    calendar: WorkingCalendar
    upload_dir: str
    reference_prefix: str = "CP"
    # (category id or None, customer tier) → targets (R23); falls back to `policy`.
    targets: Mapping[tuple[int | None, str], sla.SlaPolicy] = field(default_factory=dict)
    # Signs tracking links (the app's SECRET_KEY); changing it invalidates every link.
    link_secret: str = ""
    approval_threshold_minor: int = 50_000
    feedback_window_days: int = 7
    callback_within_hours: int = 24

    def policy_for(self, category_id: int | None, customer_tier: str = "regular") -> sla.SlaPolicy:
        return (
            self.targets.get((category_id, customer_tier))
            or self.targets.get((None, customer_tier))
            or self.policy
        )


# key → (config name holding the default, type)
SETTINGS: dict[str, tuple[str, type]] = {
    "holiday_country": ("HOLIDAY_COUNTRY", str),
    "approval_threshold_minor": ("APPROVAL_THRESHOLD_MINOR", int),
    "feedback_window_days": ("FEEDBACK_WINDOW_DAYS", int),
    "callback_within_hours": ("CALLBACK_WITHIN_HOURS", int),
    "spot_check_percent": ("SPOT_CHECK_PERCENT", int),
    "warn_repeat_complaints": ("WARN_REPEAT_COMPLAINTS", int),
    "warn_repeat_days": ("WARN_REPEAT_DAYS", int),
    "warn_spike_factor": ("WARN_SPIKE_FACTOR", float),
    "warn_spike_weeks": ("WARN_SPIKE_WEEKS", int),
    "warn_spike_min_count": ("WARN_SPIKE_MIN_COUNT", int),
    "warn_promise_hours": ("WARN_PROMISE_HOURS", int),
}


def current_settings(session: Session, config: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {key: config[name] for key, (name, _kind) in SETTINGS.items()}
    for row in session.scalars(select(Setting)):
        if row.key in SETTINGS:
            kind = SETTINGS[row.key][1]
            values[row.key] = kind(row.value)
    return values


def save_settings(session: Session, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if key not in SETTINGS:
            raise ValueError(f"unknown setting {key}")
        row = session.get(Setting, key)
        if row is None:
            session.add(Setting(key=key, value=str(value)))
        else:
            row.value = str(value)
    session.commit()


def warning_thresholds(session: Session, config: Mapping[str, Any]) -> WarningThresholds:
    """R22's thresholds as configured now."""
    values = current_settings(session, config)
    return WarningThresholds(
        repeat_complaints=values["warn_repeat_complaints"],
        repeat_days=values["warn_repeat_days"],
        spike_factor=values["warn_spike_factor"],
        spike_weeks=values["warn_spike_weeks"],
        spike_min_count=values["warn_spike_min_count"],
        promise_hours=values["warn_promise_hours"],
    )


def load_rules(session: Session, config: Mapping[str, Any], now: datetime) -> Rules:
    """Everything the services need to know about the organisation's clocks and thresholds."""
    values = current_settings(session, config)
    default = SlaPolicy(
        acknowledge_hours=config["ACKNOWLEDGE_WITHIN_HOURS"],
        resolve_working_days=config["RESOLVE_WITHIN_WORKING_DAYS"],
        max_working_days=config["MAX_WORKING_DAYS"],
    )
    targets = {
        (t.category_id, t.customer_tier): SlaPolicy(
            acknowledge_hours=t.acknowledge_hours,
            resolve_working_days=t.resolve_working_days,
            max_working_days=t.max_working_days,
        )
        for t in session.scalars(select(ServiceTarget))
    }
    calendar = calendar_for(values["holiday_country"], config["ORG_TIMEZONE"], now.year)
    closures = frozenset(session.scalars(select(ClosureDay.day)))
    if closures:
        calendar = replace(calendar, closures=closures)
    return Rules(
        policy=default,
        calendar=calendar,
        upload_dir=config["UPLOAD_FOLDER"],
        reference_prefix=config["REFERENCE_PREFIX"],
        link_secret=config["SECRET_KEY"],
        targets=targets,
        approval_threshold_minor=values["approval_threshold_minor"],
        feedback_window_days=values["feedback_window_days"],
        callback_within_hours=values["callback_within_hours"],
    )

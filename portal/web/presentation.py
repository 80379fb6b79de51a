"""Template helpers: labels in the user's language, local times, and `can` for showing buttons.

Hiding a button is never the check — services refuse on their own — but showing only what a
user may do keeps the screen honest.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.domain import permissions, sla
from portal.domain.workflow import OPEN_STATUS_VALUES, Action

STATUS_LABELS = {
    "new": _l("New"),
    "acknowledged": _l("Acknowledged"),
    "in_progress": _l("In progress"),
    "awaiting_approval": _l("Awaiting approval"),
    "resolved": _l("Resolved"),
    "closed": _l("Closed"),
}
# What the customer reads on the tracking page: plain words, not workflow jargon.
CUSTOMER_STATUS = {
    "new": _l("Received — waiting to be looked at"),
    "acknowledged": _l("Received and acknowledged"),
    "in_progress": _l("Being handled"),
    "awaiting_approval": _l("Being handled"),  # R11: nothing of a proposal before the decision
    "resolved": _l("Resolved"),
    "closed": _l("Closed"),
    "waiting": _l("Waiting for information from you"),  # R7: the clock is paused for the customer
}
PRIORITY_LABELS = {
    "low": _l("Low"),
    "normal": _l("Normal"),
    "high": _l("High"),
    "urgent": _l("Urgent"),
}
CHANNEL_LABELS = {
    "web": _l("Web form"),
    "phone": _l("Phone"),
    "letter": _l("Letter"),
    "visit": _l("Visit"),
    "transfer": _l("Transferred from another body"),
}
CONTACT_LABELS = {"email": _l("Email"), "phone": _l("Phone"), "post": _l("Post")}
FEEDBACK_KINDS = {
    "suggestion": _l("Suggestion"),
    "praise": _l("Praise"),
    "question": _l("Question"),
}
EVENT_LABELS = {
    "filed": _l("Registered"),
    "claimed": _l("Taken on by"),
    "acknowledged": _l("Acknowledged"),
    "reply": _l("Reply"),
    "note": _l("Internal note"),
    "recategorised": _l("Category changed"),
    "reprioritised": _l("Priority changed"),
    "transferred": _l("Transferred"),
    "resolved": _l("Resolved"),
    "reopened": _l("Reopened"),
    "closed": _l("Closed"),
    "customer_message": _l("Message from the customer"),
    "promised": _l("Update promised by"),
    "promise_missed": _l("Promised update missed"),
    "escalated": _l("Escalated"),
    "sent_back": _l("Sent back down"),
    "marked_serious": _l("Marked serious"),
    "noncooperation_reported": _l("Department reported as not cooperating"),
    "staff_linked": _l("Staff member concerned"),
    "owner_recused": _l("Owner recused"),
    "callback_handed_over": _l("Callback handed over"),
    "promise_handed_over": _l("Promised update handed over"),
    "recheck_unassigned": _l("Re-check unassigned"),
    "approver_recused": _l("Approver recused"),
    "deadline_extended": _l("Deadline extended"),
    "clock_paused": _l("Waiting for your reply"),
    "clock_resumed": _l("Clock running again"),
    "customer_tier_changed": _l("Customer tier changed"),
    "proposed": _l("Resolution proposed"),
    "approved": _l("Resolution approved"),
    "rejected": _l("Resolution rejected"),
    "customer_confirmed": _l("Customer confirmed it is resolved"),
    "customer_reopened": _l("Customer says it is not resolved"),
    "closed_without_answer": _l("Closed (no answer to the outcome)"),
    "callback_recorded": _l("Callback recorded"),
    "callback_rescheduled": _l("Callback rescheduled"),
    "deadline_breached": _l("Deadline passed at the manager tier"),
    "spot_checked": _l("Re-checked in a spot check"),
}


CLOCK_LABELS = {
    "running": _l("On time"),
    "at_risk": _l("At risk"),
    "paused": _l("Paused"),
    "met": _l("Met"),
    "breached": _l("Breached"),
}
TIER_LABELS = {1: _l("Responder"), 2: _l("Department lead"), 3: _l("Manager")}
OUTCOME_LABELS = {
    "explanation": _l("Explanation"),
    "repair_or_replacement": _l("Repair or replacement"),
    "compensation": _l("Refund or compensation"),
    "staff_action": _l("Action concerning staff"),
    "other": _l("Other"),
}
APPROVAL_REASON_LABELS = {
    "compensation_above_threshold": _l("compensation above the threshold"),
    "serious": _l("marked serious"),
    "concerns_staff": _l("concerns a staff member"),
    "manager_tier": _l("at the manager tier"),
}
ESCALATION_CAUSES = {
    "manual": _l("escalated by hand"),
    "acknowledgement_breached": _l("not acknowledged within 24 hours"),
    "resolution_breached": _l("resolution deadline passed"),
    "promise_missed": _l("a promised update was missed"),
    "serious": _l("marked serious"),
    "customer_dissatisfied": _l("the customer was not satisfied"),
    "sent_back": _l("sent back down"),
    "no_lead": _l("transferred to a department without a lead"),
}


ACTION_STATUS_LABELS = {
    "planned": _l("Planned"),
    "in_progress": _l("In progress"),
    "done": _l("Done"),
    "dropped": _l("Dropped"),
}

PROPOSAL_STATUS = {
    "pending": _l("waiting for approval"),
    "approved": _l("approved"),
    "rejected": _l("rejected"),
    "not_required": _l("no approval needed"),
}


def from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def time_left(due: datetime | None, now: datetime) -> str:
    """ "2d 4h left" or "overdue 3h": the words a responder scans a queue for."""
    if due is None:
        return ""
    seconds = int((due - now).total_seconds())
    days, rest = divmod(abs(seconds), 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    amount = f"{days}d {hours}h" if days else (f"{hours}h {minutes}m" if hours else f"{minutes}m")
    return str(
        _l("%(amount)s left", amount=amount) if seconds >= 0 else _l("overdue %(amount)s", amount=amount)
    )


def queue_clock(ticket: Any, now: datetime) -> str:
    """The state of the clock that is running now: acknowledgement first, then resolution."""
    if ticket.status not in OPEN_STATUS_VALUES:
        return "met"
    if ticket.acknowledged_at is None:
        return sla.clock_state(now, started_at=ticket.received_at, due_at=ticket.ack_due_at).value
    return sla.clock_state(
        now, started_at=ticket.received_at, due_at=ticket.resolve_due_at, paused_at=ticket.paused_at
    ).value


def customer_status(ticket: Any) -> str:
    """The key of the customer's status words: an open case whose clock waits for them says so."""
    if ticket.paused_at is not None and ticket.status in OPEN_STATUS_VALUES:
        return "waiting"
    return str(ticket.status)


def money(amount_minor: int | None) -> str:
    if amount_minor is None:
        return ""
    return f"{current_app.config['CURRENCY']} {amount_minor / 100:,.2f}"


# Numeric, ISO-like times read the same in every language, and strftime is far cheaper than
# Babel's formatter on a queue of fifty rows.
TIME_FORMATS = {"full": "%Y-%m-%d %H:%M", "short": "%m-%d %H:%M"}


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_time(value: datetime | None, fmt: str = "full") -> str:
    """A UTC time shown in the organisation's time zone."""
    if value is None:
        return ""
    local = value.astimezone(_zone(current_app.config["ORG_TIMEZONE"]))
    return local.strftime(TIME_FORMATS[fmt])


def from_local(value: datetime) -> datetime:
    """A naive date and time typed in the organisation's zone, as aware UTC."""
    zone = ZoneInfo(current_app.config["ORG_TIMEZONE"])
    return value.replace(tzinfo=zone).astimezone(UTC)


def label(mapping: dict[Any, Any], key: Any) -> str:
    """The translated word for a stored value, worked out once per request (a queue repeats them)."""
    memo = g.setdefault("_labels", {})
    memo_key = (get_locale(), id(mapping), key)  # force_locale (mail) must not reuse screen words
    if memo_key not in memo:
        memo[memo_key] = str(mapping.get(key if key is not None else "", key or ""))
    return str(memo[memo_key])


def queue_labels() -> dict[str, str]:
    """The words every queue row repeats, translated once per request rather than fifty times."""
    memo = g.setdefault("_queue_labels", {})
    locale = get_locale()
    if locale not in memo:
        memo[locale] = {
            "due": _("Due"),
            "reference": _("Reference"),
            "subject": _("Subject"),
            "customer": _("Customer"),
            "category": _("Category"),
            "status": _("Status"),
            "owner": _("Owner"),
            "unassigned": _("Unassigned"),
            "claim": _("Claim"),
            "at_risk": _("At risk"),
            "breached": _("Breached"),
            "paused": _("Paused"),
            "promised": _("Update promised"),
            "serious": _("Serious"),
            "vip": _("VIP"),
        }
    return dict(memo[locale])


def can_act(action: str, ticket: Any) -> bool:
    if not current_user.is_authenticated:
        return False
    return permissions.can_act(current_user, Action(action), ticket)


def register(app: Flask) -> None:
    app.jinja_env.filters["localtime"] = local_time
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["from_iso"] = from_iso
    app.jinja_env.globals.update(
        can_act=can_act,
        queue_labels=queue_labels,
        time_left=time_left,
        queue_clock=queue_clock,
        customer_status=customer_status,
        CLOCK_LABELS=CLOCK_LABELS,
        TIER_LABELS=TIER_LABELS,
        OUTCOME_LABELS=OUTCOME_LABELS,
        APPROVAL_REASON_LABELS=APPROVAL_REASON_LABELS,
        ESCALATION_CAUSES=ESCALATION_CAUSES,
        PROPOSAL_STATUS=PROPOSAL_STATUS,
        ACTION_STATUS_LABELS=ACTION_STATUS_LABELS,
        label=label,
        OPEN_STATUS_VALUES=OPEN_STATUS_VALUES,
        STATUS_LABELS=STATUS_LABELS,
        CUSTOMER_STATUS=CUSTOMER_STATUS,
        PRIORITY_LABELS=PRIORITY_LABELS,
        CHANNEL_LABELS=CHANNEL_LABELS,
        FEEDBACK_KINDS=FEEDBACK_KINDS,
        CONTACT_LABELS=CONTACT_LABELS,
        EVENT_LABELS=EVENT_LABELS,
    )
    app.jinja_env.globals["org_name"] = lambda: current_app.config["ORG_NAME"]

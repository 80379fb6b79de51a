"""Template helpers: labels in the user's language, local times, and `can` for showing buttons.

Hiding a button is never the check — services refuse on their own — but showing only what a
user may do keeps the screen honest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.domain import permissions
from portal.domain.workflow import Action

STATUS_LABELS = {
    "new": _l("New"),
    "acknowledged": _l("Acknowledged"),
    "in_progress": _l("In progress"),
    "resolved": _l("Resolved"),
    "closed": _l("Closed"),
}
# What the customer reads on the tracking page: plain words, not workflow jargon.
CUSTOMER_STATUS = {
    "new": _l("Received — waiting to be looked at"),
    "acknowledged": _l("Received and acknowledged"),
    "in_progress": _l("Being handled"),
    "resolved": _l("Resolved"),
    "closed": _l("Closed"),
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
}


def local_time(value: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    if value is None:
        return ""
    zone = ZoneInfo(current_app.config["ORG_TIMEZONE"])
    return format_datetime(value.astimezone(zone).replace(tzinfo=None), fmt)


def label(mapping: dict[str, Any], key: str | None) -> Any:
    return mapping.get(key or "", key or "")


def can_act(action: str, ticket: Any) -> bool:
    if not current_user.is_authenticated:
        return False
    return permissions.can_act(current_user, Action(action), ticket)


def register(app: Flask) -> None:
    app.jinja_env.filters["localtime"] = local_time
    app.jinja_env.globals.update(
        can_act=can_act,
        label=label,
        STATUS_LABELS=STATUS_LABELS,
        CUSTOMER_STATUS=CUSTOMER_STATUS,
        PRIORITY_LABELS=PRIORITY_LABELS,
        CHANNEL_LABELS=CHANNEL_LABELS,
        FEEDBACK_KINDS=FEEDBACK_KINDS,
        EVENT_LABELS=EVENT_LABELS,
    )
    app.jinja_env.globals["org_name"] = lambda: current_app.config["ORG_NAME"]

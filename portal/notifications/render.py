"""Words for each notification, in the recipient's language, with the right link (R13)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import object_session

from portal.models import Notification
from portal.queries.case import promise_made_with
from portal.services.tracking import tracking_token

SUBJECTS = {
    "filed": _l("We have received your complaint %(reference)s"),
    "filed_feedback": _l("Thank you for your feedback %(reference)s"),
    "reply": _l("An update on your complaint %(reference)s"),
    "resolved": _l("The outcome of your complaint %(reference)s"),
    "reopened": _l("Your complaint %(reference)s is open again"),
    "link_resent": _l("Your private link for %(reference)s"),
    "escalated": _l("Escalated to you: %(reference)s"),
    "approval_waiting": _l("A resolution waits for your approval: %(reference)s"),
}
# One line per in-app notice, shown in the staff notification list.
IN_APP_TEXT = {
    "new_ticket": _l("New complaint in your department: %(reference)s"),
    "transferred": _l("Transferred to your department: %(reference)s"),
    "escalated": _l("Escalated to you: %(reference)s"),
    "sent_back": _l("Sent back to you: %(reference)s"),
    "approval_waiting": _l("Waiting for your approval: %(reference)s"),
    "proposal_rejected": _l("Your proposed resolution was rejected: %(reference)s"),
    "promise_due": _l("A promised update is due soon: %(reference)s"),
    "callback_due": _l("A callback is due: %(reference)s"),
    "deadline_breached": _l("A deadline passed on a case at the manager tier: %(reference)s"),
    "spot_check_assigned": _l("A spot-check re-check is assigned to you: %(reference)s"),
    # R10: the person named may no longer handle the case; their work on it moved (services/recusal).
    "handed_over": _l("Work on a case was handed over to you: %(reference)s"),
    "spot_check_unassigned": _l("A spot-check re-check needs another reviewer: %(reference)s"),
}
CUSTOMER_EVENTS = frozenset({"filed", "reply", "resolved", "reopened", "link_resent"})


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


def _links(notification: Notification) -> dict[str, str]:
    base = current_app.config["BASE_URL"].rstrip("/")
    ticket = notification.ticket
    if ticket is None:
        return {}
    if notification.event in CUSTOMER_EVENTS:
        token = tracking_token(ticket, current_app.config["SECRET_KEY"])
        return {"tracking_url": f"{base}/track/{token}"}
    return {"staff_url": f"{base}/staff/tickets/{ticket.id}"}


def _promised_by(notification: Notification) -> datetime | None:
    """The time promised with this reply (R8), for the mail that carries the promise."""
    event = notification.ticket_event
    session = object_session(event) if event is not None else None
    if notification.event != "reply" or event is None or session is None:
        return None
    return promise_made_with(session, event)


def render(notification: Notification) -> Rendered:
    """Render in the recipient's language; must run inside an app context."""
    ticket = notification.ticket
    reference = ticket.reference if ticket else ""
    with force_locale(notification.locale or "en"):
        key = notification.event
        if key == "filed" and ticket is not None and ticket.kind == "feedback":
            key = "filed_feedback"
        subject = str(SUBJECTS.get(key, IN_APP_TEXT.get(key, "")))
        subject = subject % {"reference": reference}
        audience = "customer" if notification.event in CUSTOMER_EVENTS else "staff"
        context = {
            "notification": notification,
            "ticket": ticket,
            "event": notification.ticket_event,
            "org": current_app.config["ORG_NAME"],
            "promised_by": _promised_by(notification),
            **_links(notification),
        }
        text = render_template(f"email/{audience}.txt", **context)
        html = (
            render_template(f"email/{audience}.html", **context) if notification.channel == "email" else None
        )
    return Rendered(subject=subject, text=text, html=html)


def in_app_text(notification: Notification) -> str:
    reference = notification.ticket.reference if notification.ticket else ""
    return str(IN_APP_TEXT.get(notification.event, notification.event)) % {"reference": reference}

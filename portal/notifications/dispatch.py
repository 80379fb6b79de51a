"""Send what the outbox holds: claim a row, render, send, record — with retries and back-off.

A row is claimed (pending → sending) by a conditional UPDATE before anything leaves, so two
dispatchers never send the same row at once. A row found still "sending" long after its claim
was interrupted mid-send (a killed worker): it may or may not have gone out, and losing a
customer's acknowledgement is worse than a duplicate, so it is sent again — at least once, with
the same Message-ID, which lets a receiving server drop the copy. "dead" is only for messages the
far side refused for good, or that failed every attempt.

Who may read a message is decided again when it leaves, not only when it was queued (R10, R20):
a staff member named as the person a complaint is about, moved away from its department or
deactivated in between must not hear of the case. Such a row is "dropped" — never sent, never
retried — with an audit row that names the message and the ticket, not the address.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from portal.domain import permissions
from portal.models import Notification, User
from portal.notifications import render as renderer
from portal.notifications.senders import (
    DeliveryError,
    MailSender,
    OutgoingMail,
    SmsSender,
    mail_sender_for,
    sms_sender_for,
)
from portal.services import audit
from portal.services.outbox import DROPPED

log = logging.getLogger("portal.notifications")
STALE_CLAIM = timedelta(minutes=10)
INTERRUPTED = "interrupted while sending; sent again with the same Message-ID"
NOT_VISIBLE = "not sent: the recipient may no longer see this ticket (R10, R20)"


@dataclass
class DispatchResult:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    resumed: int = 0  # interrupted sends picked up again
    dropped: int = 0  # for a recipient who may no longer see the ticket (R10, R20)


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8 … minutes, at most an hour."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


def _claim(session: Session, notification_id: int, now: datetime) -> bool:
    claimed = session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.status.in_(("pending", "failed")),
            Notification.next_attempt_at <= now,
        )
        .values(status="sending", claimed_at=now, attempts=Notification.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]


def _resume_interrupted(session: Session, now: datetime) -> int:
    """Claims older than STALE_CLAIM were cut off mid-send: make them due again, now."""
    resumed = session.execute(
        update(Notification)
        .where(Notification.status == "sending", Notification.claimed_at < now - STALE_CLAIM)
        .values(status="failed", next_attempt_at=now, last_error=INTERRUPTED)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return resumed.rowcount  # type: ignore[attr-defined,no-any-return]


def recipient_may_not_see(session: Session, notification: Notification) -> bool:
    """R10, R20: a staff recipient must still be allowed to see the ticket when the message leaves.

    Customer messages (no recipient user) are about the customer's own case and are not asked.
    """
    if notification.recipient_user_id is None or notification.ticket is None:
        return False
    recipient = session.get(User, notification.recipient_user_id)
    if recipient is None or not recipient.active:
        return True  # nobody is left to read it; a deactivated account reads nothing
    return not permissions.can_view(recipient, notification.ticket)


def _drop(session: Session, notification: Notification, now: datetime) -> str:
    """Never send it and never try again; the audit row names the message and the ticket only."""
    notification.status = DROPPED
    notification.last_error = NOT_VISIBLE
    target = f"notification:{notification.id} ticket:{notification.ticket_id}"
    # "ok": withholding it is what was decided (the audit screen reads it as "Notification withheld").
    audit.record(session, action="notification_dropped", outcome="ok", now=now, target=target)
    log.info("notification %s dropped: %s", notification.id, NOT_VISIBLE)
    return DROPPED


def send_one(
    session: Session,
    notification: Notification,
    now: datetime,
    mail: MailSender,
    sms: SmsSender,
    max_attempts: int,
) -> str:
    """Send a claimed row and record the outcome; returns the new status."""
    try:
        # Checked inside the try: if the check itself fails, nothing is sent and the row is retried.
        if recipient_may_not_see(session, notification):
            return _drop(session, notification, now)
        rendered = renderer.render(notification)
        notification.subject = rendered.subject[:250]
        notification.body_text = rendered.text
        if notification.channel == "email":
            mail.send(
                OutgoingMail(
                    to=notification.to_address or "",
                    subject=rendered.subject,
                    text=rendered.text,
                    html=rendered.html,
                    message_id_seed=str(notification.id),
                    sent_at=now,
                    thread_seed=str(notification.ticket_id) if notification.ticket_id else None,
                )
            )
        elif notification.channel == "sms":
            sms.send(notification.to_address or "", f"{rendered.subject}\n{rendered.text}"[:600])
        notification.status = "sent"
        notification.sent_at = now
        notification.last_error = None
    except Exception as error:  # any failure keeps the row for a later try; never lost
        session.rollback()
        notification = session.get(Notification, notification.id)  # type: ignore[assignment]
        notification.last_error = f"{error.__class__.__name__}: {error}"[:500]
        permanent = isinstance(error, DeliveryError) and error.permanent
        if permanent or notification.attempts >= max_attempts:
            notification.status = "dead"
        else:
            notification.status = "failed"
            notification.next_attempt_at = now + backoff(notification.attempts)
        log.warning("notification %s %s: %s", notification.id, notification.status, notification.last_error)
    session.commit()
    return notification.status


def dispatch_due(session: Session, now: datetime, *, limit: int = 200) -> DispatchResult:
    """Send every email and SMS that is due; safe to run in several workers at once."""
    config = current_app.config
    mail, sms = mail_sender_for(config), sms_sender_for(config)
    result = DispatchResult(resumed=_resume_interrupted(session, now))
    due_ids = list(
        session.scalars(
            select(Notification.id)
            .where(
                Notification.channel.in_(("email", "sms")),
                or_(Notification.status == "pending", Notification.status == "failed"),
                Notification.next_attempt_at <= now,
            )
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(limit)
        )
    )
    session.commit()
    for notification_id in due_ids:
        if not _claim(session, notification_id, now):
            continue  # another dispatcher took it
        notification = session.get(Notification, notification_id)
        if notification is None:
            continue
        status = send_one(session, notification, now, mail, sms, config["NOTIFY_MAX_ATTEMPTS"])
        if status == "sent":
            result.sent += 1
        elif status == "dead":
            result.dead += 1
        elif status == DROPPED:
            result.dropped += 1
        else:
            result.failed += 1
    return result


def retry(session: Session, notification: Notification, now: datetime) -> None:
    """An administrator sends a failed or dead message again."""
    if notification.status not in ("failed", "dead"):
        raise ValueError("only failed messages can be retried")
    notification.status = "pending"
    notification.next_attempt_at = now
    notification.attempts = 0
    session.commit()

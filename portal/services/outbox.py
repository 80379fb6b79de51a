"""Record notifications in the outbox, inside the caller's transaction (R13, R15).

Nothing is sent here: a row is added to the session that is about to commit the change it is
about. If that transaction rolls back, nobody is told; if it commits, the dispatcher will send.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from portal.domain.permissions import Role
from portal.models import Notification, Ticket, TicketEvent, User

# Events the customer hears of (R3 acknowledgement, R13 every public step, R15 the outcome).
CUSTOMER_EVENTS = ("filed", "reply", "resolved", "reopened", "link_resent")
# Events staff hear of by email as well as in the portal.
STAFF_EMAIL_EVENTS = ("escalated", "approval_waiting")
# A staff message about a ticket its recipient may no longer see is never delivered (R10, R20):
# withdrawn when the person is named, or dropped by the dispatcher when it finds out at send time.
# A dropped row is final: not sent, not retried, not listed in anyone's inbox.
DROPPED = "dropped"


def customer_channel(ticket: Ticket) -> tuple[str, str] | None:
    """The customer's preferred channel when we have the address for it, else the other one."""
    if ticket.preferred_contact == "phone" and ticket.customer_phone:
        return "sms", ticket.customer_phone
    if ticket.customer_email:
        return "email", ticket.customer_email
    if ticket.customer_phone:
        return "sms", ticket.customer_phone
    return None


def notify_customer(
    session: Session, ticket: Ticket, event: str, *, now: datetime, ticket_event: TicketEvent | None = None
) -> None:
    target = customer_channel(ticket)
    if target is None:
        return  # anonymous feedback: nobody to tell
    channel, address = target
    session.add(
        Notification(
            created_at=now,
            event=event,
            channel=channel,
            ticket=ticket,
            ticket_event=ticket_event,
            to_address=address,
            locale=ticket.locale or "en",
            status="pending",
            attempts=0,
            next_attempt_at=now,
        )
    )


def notify_staff(
    session: Session,
    users: Iterable[User],
    event: str,
    ticket: Ticket | None,
    *,
    now: datetime,
    exclude: Iterable[int | None] = (),
) -> None:
    """In-app for everyone named; email too for the events that need someone to act at once."""
    skip = {user_id for user_id in exclude if user_id is not None}
    if ticket is not None and ticket.concerns_user_id is not None:
        skip.add(ticket.concerns_user_id)  # R10: the person complained about is never told
    for user in users:
        if user.id in skip or not user.active:
            continue
        session.add(
            Notification(
                created_at=now,
                event=event,
                channel="in_app",
                ticket=ticket,
                recipient_user_id=user.id,
                locale="en",
                status="sent",
                attempts=0,
                next_attempt_at=now,
                sent_at=now,
            )
        )
        if event in STAFF_EMAIL_EVENTS:
            session.add(
                Notification(
                    created_at=now,
                    event=event,
                    channel="email",
                    ticket=ticket,
                    recipient_user_id=user.id,
                    to_address=user.email,
                    locale="en",
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                )
            )


def department_staff(session: Session, department_id: int, roles: tuple[Role, ...]) -> list[User]:
    return list(
        session.scalars(
            select(User).where(
                User.department_id == department_id,
                User.active.is_(True),
                User.role.in_([r.value for r in roles]),
            )
        )
    )


def managers(session: Session) -> list[User]:
    return list(session.scalars(select(User).where(User.active.is_(True), User.role == Role.MANAGER.value)))


def withdraw(session: Session, ticket: Ticket, user_id: int, *, reason: str) -> int:
    """R10: take back what was queued for, or shown to, this person about this ticket.

    In the caller's transaction (the naming): mail not yet sent is never sent, and in-app notices
    leave the inbox for good — even if the naming is undone later, a notice written about a case
    they were barred from is not shown again. Returns how many rows were withdrawn.
    """
    result = session.execute(
        update(Notification)
        .where(
            Notification.ticket_id == ticket.id,
            Notification.recipient_user_id == user_id,
            or_(
                Notification.channel == "in_app",
                # "sending" is already out of our hands; the dispatcher checks again before sending.
                Notification.status.in_(("pending", "failed", "dead")),
            ),
            Notification.status != DROPPED,
        )
        .values(status=DROPPED, last_error=reason[:500])
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]

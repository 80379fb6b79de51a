"""What the administration screens read: accounts, categories, root causes, service targets,
closure days and the outbox. No complaint contents are read here (R20: administrators configure,
they do not read complaints): the outbox is read as delivery facts only, with masked recipients.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from portal.models import Category, ClosureDay, Notification, RootCause, ServiceTarget, User

Row = TypeVar("Row")

# The outbox tabs; any other value shows every message.
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "dead", "dropped")
OUTBOX_LIMIT = 200


def row_by_id(session: Session, model: type[Row], row_id: int | None) -> Row | None:
    """One configuration row by its id (None for a new one or an unknown id: the screen says 404)."""
    return session.get(model, row_id) if row_id is not None else None


def users(session: Session) -> list[User]:
    """Active accounts first, each with its department (one query, not one per row)."""
    return list(
        session.scalars(
            select(User).options(joinedload(User.department)).order_by(User.active.desc(), User.name)
        )
    )


def categories(session: Session) -> list[Category]:
    return list(
        session.scalars(select(Category).options(joinedload(Category.department)).order_by(Category.name))
    )


def root_causes(session: Session) -> list[RootCause]:
    """R21: retired causes stay listed (after the offered ones), so they can be offered again."""
    return list(session.scalars(select(RootCause).order_by(RootCause.active.desc(), RootCause.name)))


def service_targets(session: Session) -> list[ServiceTarget]:
    return list(
        session.scalars(
            select(ServiceTarget).options(joinedload(ServiceTarget.category)).order_by(ServiceTarget.id)
        )
    )


def closure_days(session: Session) -> list[ClosureDay]:
    return list(session.scalars(select(ClosureDay).order_by(ClosureDay.day.desc())))


@dataclass(frozen=True)
class OutboxRow:
    """What an administrator may know of one message: who (masked), what kind, how it went.

    Never its subject, text or tracking link (R20, security.md I4): those are the complaint's
    contents and a key to the case; and not the full address, which names the customer.
    """

    id: int
    created_at: datetime
    event: str
    channel: str
    to: str
    status: str
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    error: str | None


def outbox(session: Session, status: str | None) -> list[OutboxRow]:
    """The newest messages sent outside the portal (R13), optionally of one status.

    Only the delivery columns are selected: the subject and text never leave the database here.
    """
    query = select(
        Notification.id,
        Notification.created_at,
        Notification.event,
        Notification.channel,
        Notification.to_address,
        Notification.status,
        Notification.attempts,
        Notification.next_attempt_at,
        Notification.sent_at,
        Notification.last_error,
    ).where(Notification.channel != "in_app")
    if status in OUTBOX_STATUSES:
        query = query.where(Notification.status == status)
    return [
        OutboxRow(
            id=row.id,
            created_at=row.created_at,
            event=row.event,
            channel=row.channel,
            to=mask_address(row.to_address),
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            sent_at=row.sent_at,
            error=redact_error(row.last_error),
        )
        for row in session.execute(query.order_by(Notification.id.desc()).limit(OUTBOX_LIMIT))
    ]


def mask_email(address: str) -> str:
    """`wang@example.org` → `w***@example.org`: enough to tell two recipients apart, not to name one."""
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_phone(number: str) -> str:
    """`+8613800138000` → `+86 138****8000`: the country, the first three and the last four digits."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        digits = re.sub(r"\D", "", number)
        return f"***{digits[-2:]}" if len(digits) > 4 else "***"
    national = str(parsed.national_number)
    if len(national) >= 8:
        return f"+{parsed.country_code} {national[:3]}****{national[-4:]}"
    return f"+{parsed.country_code} {national[:1]}****{national[-2:]}"  # short numbers show less


def mask_address(address: str | None) -> str:
    if not address:
        return ""
    return mask_email(address) if "@" in address else mask_phone(address)


EMAIL_IN_TEXT = re.compile(r"[^\s<>\"'(),;:]+@[A-Za-z0-9.-]+")
PHONE_IN_TEXT = re.compile(r"\+\d{7,15}")
LINK_IN_TEXT = re.compile(r"/track/[^\s\"'<>?#]+")


def redact_error(text: str | None) -> str | None:
    """A sender's error keeps its reason but loses any address, number or link it quotes."""
    if not text:
        return text
    text = LINK_IN_TEXT.sub("/track/<redacted>", text)
    text = EMAIL_IN_TEXT.sub(lambda match: mask_email(match.group(0)), text)
    return PHONE_IN_TEXT.sub(lambda match: mask_phone(match.group(0)), text)


def outbox_problems(session: Session) -> int:
    """How many messages are failing or were given up, whatever tab is shown."""
    return (
        session.scalar(select(func.count(Notification.id)).where(Notification.status.in_(("failed", "dead"))))
        or 0
    )

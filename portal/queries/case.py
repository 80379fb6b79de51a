"""What the customer's case page reads: the case by its reference and the files the customer sent.

Staff attachments and internal notes never reach this page; its timeline comes from
`ticket_page.timeline(public_only=True)`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Attachment, Promise, Ticket, TicketEvent


def ticket_by_reference(session: Session, reference: str) -> Ticket | None:
    """The case a reference names; the caller still checks this browser is tracking it (I7)."""
    return session.scalars(select(Ticket).where(Ticket.reference == reference)).first()


def customer_attachments(session: Session, ticket_id: int) -> list[Attachment]:
    return list(
        session.scalars(
            select(Attachment)
            .where(Attachment.ticket_id == ticket_id, Attachment.uploaded_by == "customer")
            .order_by(Attachment.id)
        )
    )


def customer_attachment(session: Session, ticket_id: int, attachment_id: int) -> Attachment | None:
    return session.scalars(
        select(Attachment).where(
            Attachment.id == attachment_id,
            Attachment.ticket_id == ticket_id,  # child looked up through its parent (C13)
            Attachment.uploaded_by == "customer",
        )
    ).first()


def promise_made_with(session: Session, reply: TicketEvent) -> datetime | None:
    """The time promised in the same staff reply (R8): `tickets.reply` stamps both with its `now`."""
    return session.scalar(
        select(Promise.due_at)
        .where(Promise.ticket_id == reply.ticket_id, Promise.made_at == reply.at)
        .order_by(Promise.id.desc())
        .limit(1)
    )

"""What the staff ticket page reads besides the ticket: its timeline, ladder history and attachments."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from portal.models import Attachment, Callback, Escalation, Promise, ResolutionProposal, TicketEvent


def timeline(session: Session, ticket_id: int, *, public_only: bool) -> list[TicketEvent]:
    query = (
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket_id)
        .options(joinedload(TicketEvent.actor))
        .order_by(TicketEvent.at, TicketEvent.id)
    )
    if public_only:
        query = query.where(TicketEvent.is_public.is_(True))
    return list(session.scalars(query))


@dataclass
class TicketHistory:
    """The ladder, promise, proposal and callback records of one ticket, for its page."""

    escalations: list[Escalation]
    promises: list[Promise]
    proposals: list[ResolutionProposal]
    callbacks: list[Callback]

    @property
    def pending_proposal(self) -> ResolutionProposal | None:
        return next((p for p in self.proposals if p.status == "pending"), None)


def ticket_history(session: Session, ticket_id: int) -> TicketHistory:
    return TicketHistory(
        escalations=list(
            session.scalars(
                select(Escalation)
                .where(Escalation.ticket_id == ticket_id)
                .options(joinedload(Escalation.actor))
                .order_by(Escalation.at, Escalation.id)
            )
        ),
        promises=list(
            session.scalars(select(Promise).where(Promise.ticket_id == ticket_id).order_by(Promise.due_at))
        ),
        proposals=list(
            session.scalars(
                select(ResolutionProposal)
                .where(ResolutionProposal.ticket_id == ticket_id)
                .options(
                    joinedload(ResolutionProposal.proposed_by), joinedload(ResolutionProposal.decided_by)
                )
                .order_by(ResolutionProposal.proposed_at, ResolutionProposal.id)
            )
        ),
        callbacks=list(
            session.scalars(select(Callback).where(Callback.ticket_id == ticket_id).order_by(Callback.due_at))
        ),
    )


def attachments(session: Session, ticket_id: int) -> list[Attachment]:
    return list(
        session.scalars(select(Attachment).where(Attachment.ticket_id == ticket_id).order_by(Attachment.id))
    )


def attachment(session: Session, ticket_id: int, attachment_id: int) -> Attachment | None:
    """One attachment, only through the ticket it belongs to (its id alone opens nothing, G1)."""
    return session.scalars(
        select(Attachment).where(Attachment.id == attachment_id, Attachment.ticket_id == ticket_id)
    ).first()

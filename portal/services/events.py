"""The ticket's history and the two checks every staff action makes before it changes a ticket.

`authorise()` asks the permission rule and the status table together; `check_version()` turns a
stale form into a Conflict; `record_event()` appends one line to the timeline.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from portal.domain import permissions, workflow
from portal.domain.errors import Conflict, NotPermitted
from portal.domain.permissions import ActorLike
from portal.domain.workflow import Action, Status
from portal.models import Ticket, TicketEvent


def authorise(actor: ActorLike, action: Action, ticket: Ticket) -> Status:
    """Ask both rules — who may, and whether the status allows — and return the next status."""
    if not permissions.can(actor, action, ticket):
        raise NotPermitted(f"not permitted to {action.value} this ticket")
    return workflow.next_status(Status(ticket.status), action)


def check_version(ticket: Ticket, expected_version: int | None) -> None:
    if expected_version is not None and ticket.version != expected_version:
        raise Conflict("the ticket changed since you opened it")


# What counts as answering the customer in writing (R13): not a claim or an acknowledgement.
FIRST_RESPONSE_KINDS = frozenset({"reply", "promised", "resolved"})


def record_event(
    session: Session,
    ticket: Ticket,
    actor: ActorLike | None,
    now: datetime,
    kind: str,
    *,
    public: bool = False,
    body: str | None = None,
    old: str | None = None,
    new: str | None = None,
    system: bool = False,
) -> TicketEvent:
    """Append one line to the ticket's history; with no actor it is the customer's or the system's."""
    if actor is not None and public and kind in FIRST_RESPONSE_KINDS and ticket.first_response_at is None:
        ticket.first_response_at = now  # R21: reported as "time to first response"
    event = TicketEvent(
        ticket_id=ticket.id,
        at=now,
        actor_id=actor.id if actor else None,
        actor_kind="staff" if actor else ("system" if system else "customer"),
        kind=kind,
        is_public=public,
        body=body,
        old_value=old,
        new_value=new,
    )
    session.add(event)
    return event

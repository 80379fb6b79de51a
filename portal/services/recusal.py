"""When the person a complaint is about is named (R10), the work they held on it moves on.

R10: they must not handle the case, see its handling or approve its resolution. From the moment
they are named the visibility rule hides the case from them, so any work of theirs left on it
would sit on a list nobody reads — the follow-up call (R17) would never be made, the promised
update (R8) never given. This module moves that work, in the naming's own transaction, each move
an internal line on the ticket's timeline:

- ownership of the case and their open callbacks and promises go to the successor (`successor`):
  the lead of the ticket's department, else a manager — one rung up the ladder (R9). R6 says
  ownership does not move on escalation; R10 says the named person cannot keep the case.
- a spot-check re-check assigned to them (R18) is unassigned, and the managers are told, so the
  head of service picks another reviewer (`spot_checks.can_review` already bars them).
- a proposal waiting for a manager's signature (R12) stays pending: a named manager can no longer
  decide it (`approval.check_four_eyes`), another manager will; the timeline says so.
- whatever was queued for them about the case is withdrawn (`outbox.withdraw`).

Called by `ladder.link_staff`; commits nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.domain.permissions import ActorLike, Role
from portal.models import Callback, Promise, ResolutionProposal, SpotCheckItem, Ticket, User
from portal.services import outbox
from portal.services.events import record_event

WITHDRAWN = "withdrawn: the recipient is the person this complaint is about (R10)"


@dataclass(frozen=True)
class Handover:
    """What moved when someone was named, and to whom (for the caller and the tests)."""

    successor_id: int
    owner: bool = False
    callbacks: int = 0
    promises: int = 0
    rechecks: int = 0
    approvals: int = 0
    notices: int = 0


def _first(candidates: list[User], actor: ActorLike) -> User | None:
    """The namer if they are among the candidates (they are steering the case now), else the first."""
    for user in candidates:
        if user.id == actor.id:
            return user
    return candidates[0] if candidates else None


def successor(session: Session, actor: ActorLike, ticket: Ticket, named: User) -> User:
    """Who takes over the named person's work on this ticket: never the named person (R10).

    One rung above them on the ladder (R9): an active lead of the ticket's department — unless the
    named person is that lead — else an active manager. The namer can never be the named person
    (`link_staff` refuses naming yourself), so preferring the namer among equals is safe. With
    neither a lead nor another manager in the organisation, the namer holds the work: they may
    direct this case, or they could not have named anyone on it.
    """
    leads = select(User).where(
        User.active.is_(True),
        User.role == Role.LEAD.value,
        User.department_id == ticket.department_id,
        User.id != named.id,
    )
    managers = select(User).where(User.active.is_(True), User.role == Role.MANAGER.value, User.id != named.id)
    for query in (leads, managers):
        chosen = _first(list(session.scalars(query.order_by(User.name, User.id))), actor)
        if chosen is not None:
            return chosen
    namer = session.get(User, actor.id)
    if namer is None:  # an actor is always a stored user; a bare ActorLike here is a bug
        raise ValueError("unknown staff member")
    return namer


def hand_over_work(
    session: Session, actor: ActorLike, ticket: Ticket, named: User, *, now: datetime
) -> Handover:
    """Move the named person's work on this ticket (see the module text); the caller commits.

    `ticket.concerns_user_id` must already name them, so that nothing below tells them of it.
    """
    heir = successor(session, actor, ticket, named)
    owner = False
    if ticket.owner_id == named.id:
        # R10 outranks R6: they cannot stay the owner of a case they may not see.
        ticket.owner_id = heir.id
        record_event(session, ticket, actor, now, "owner_recused", old=named.name, new=heir.name)
        owner = True

    # R17: the follow-up call is the owner's; it goes where the ownership went.
    callbacks = list(
        session.scalars(
            select(Callback)
            .where(
                Callback.ticket_id == ticket.id,
                Callback.owner_id == named.id,
                Callback.completed_at.is_(None),
            )
            .order_by(Callback.id)
        )
    )
    for callback in callbacks:
        callback.owner_id = heir.id
        record_event(session, ticket, actor, now, "callback_handed_over", old=named.name, new=heir.name)

    # R8: the customer was promised an update at a time; someone who may see the case keeps it.
    promises = list(
        session.scalars(
            select(Promise)
            .where(
                Promise.ticket_id == ticket.id,
                Promise.made_by_id == named.id,
                Promise.kept_at.is_(None),
                Promise.missed_at.is_(None),
            )
            .order_by(Promise.id)
        )
    )
    for promise in promises:
        promise.made_by_id = heir.id  # the "promised" event keeps who gave it
        record_event(session, ticket, actor, now, "promise_handed_over", old=named.name, new=heir.name)

    # R18: a re-check by the person it is about checks nothing; a manager assigns another reviewer.
    rechecks = list(
        session.scalars(
            select(SpotCheckItem)
            .where(
                SpotCheckItem.ticket_id == ticket.id,
                SpotCheckItem.reviewer_id == named.id,
                SpotCheckItem.reviewed_at.is_(None),
            )
            .order_by(SpotCheckItem.id)
        )
    )
    for item in rechecks:
        item.reviewer_id = None
        record_event(session, ticket, actor, now, "recheck_unassigned", old=named.name)
    if rechecks:
        # notify_staff leaves out the person named, should they be a manager themselves.
        outbox.notify_staff(session, outbox.managers(session), "spot_check_unassigned", ticket, now=now)

    # R12, R10: a named manager may no longer decide; the proposal waits for another manager.
    approvals = 0
    if named.role == Role.MANAGER.value:
        approvals = len(
            session.scalars(
                select(ResolutionProposal.id).where(
                    ResolutionProposal.ticket_id == ticket.id, ResolutionProposal.status == "pending"
                )
            ).all()
        )
        if approvals:
            record_event(session, ticket, actor, now, "approver_recused", old=named.name)

    notices = outbox.withdraw(session, ticket, named.id, reason=WITHDRAWN)
    if owner or callbacks or promises:
        # The successor learns of it from their inbox, unless they are the one naming.
        outbox.notify_staff(session, [heir], "handed_over", ticket, now=now, exclude=[actor.id])
    return Handover(
        successor_id=heir.id,
        owner=owner,
        callbacks=len(callbacks),
        promises=len(promises),
        rechecks=len(rechecks),
        approvals=approvals,
        notices=notices,
    )

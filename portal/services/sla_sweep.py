"""The SLA sweep (R3, R7, R8, R9, R15): apply the clocks to every open ticket at once.

Each step is one conditional UPDATE … RETURNING over the breached set, stamping the breach on the
row it escalates. Re-running finds nothing new (idempotent), and two sweeps running at once cannot
both escalate a ticket: on PostgreSQL the second UPDATE re-checks its WHERE after the first commits;
on SQLite writers are serialised by BEGIN IMMEDIATE. Only the rows that changed are read back, to
write their escalation and timeline rows in bulk.

A stamp answers for one deadline (R7, R9). A resolution deadline set after its clock's stamp — an
extension (`clocks.extend` also clears the stamp), a clock resumed after it ran out — is a new
deadline: its stamp is older than it, so when it passes the sweep escalates again (or, at the
manager tier, records it and tells the managers) and stamps it. Once per deadline, however often
the sweep runs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from portal.domain.ladder import EscalationCause, Tier
from portal.domain.permissions import Role
from portal.domain.workflow import OPEN_STATUS_VALUES, Status
from portal.models import Callback, Escalation, Notification, Promise, Ticket, TicketEvent, User
from portal.services import attachments
from portal.services.settings import Rules


@dataclass
class SweepResult:
    acknowledgement_breached: int = 0
    resolution_breached: int = 0
    promises_missed: int = 0
    closed_without_answer: int = 0
    reminders: int = 0
    escalated_ticket_ids: list[int] = field(default_factory=list)


def _escalate_returning(session: Session, condition: Any, stamp: dict[str, Any], now: datetime) -> list[Any]:
    """Stamp the breach and raise the tier by one; tickets already with the managers stay there."""
    returned = (Ticket.id, Ticket.tier, Ticket.department_id, Ticket.concerns_user_id)
    raised = session.execute(
        update(Ticket)
        .where(condition, Ticket.tier < Tier.MANAGER)
        .values(tier=Ticket.tier + 1, version=Ticket.version + 1, updated_at=now, **stamp)
        .returning(*returned)
        .execution_options(synchronize_session=False)
    )
    rows = [(*row, True) for row in raised]
    at_top = session.execute(
        update(Ticket)
        .where(condition, Ticket.tier >= Tier.MANAGER)
        .values(version=Ticket.version + 1, updated_at=now, **stamp)
        .returning(*returned)
        .execution_options(synchronize_session=False)
    )
    return rows + [(*row, False) for row in at_top]


def _handlers(session: Session) -> tuple[dict[int, list[tuple[int, str]]], list[tuple[int, str]]]:
    leads: dict[int, list[tuple[int, str]]] = defaultdict(list)
    managers: list[tuple[int, str]] = []
    rows = session.execute(
        select(User.id, User.name, User.role, User.department_id)
        .where(User.active.is_(True), User.role.in_([Role.LEAD.value, Role.MANAGER.value]))
        .order_by(User.name)
    )
    for user_id, name, role, department_id in rows:
        if role == Role.LEAD:
            leads[department_id].append((user_id, name))
        else:
            managers.append((user_id, name))
    return leads, managers


def _record_escalations(session: Session, rows: list[Any], cause: EscalationCause, now: datetime) -> None:
    """Write the ladder moves and timeline lines for tickets escalated by one UPDATE."""
    if not rows:
        return
    leads, managers = _handlers(session)
    escalations, events, notices = [], [], []
    for ticket_id, new_tier, department_id, concerns_user_id, raised in rows:
        # R10: the person the complaint is about is never among those told.
        told = [
            (uid, name)
            for uid, name in (leads[department_id] if new_tier == Tier.LEAD else managers)
            if uid != concerns_user_id
        ]
        if not raised:
            # Already with the managers: nothing to climb, but they hear the clock ran out.
            events.append(_system_event(ticket_id, "deadline_breached", now, new=cause.value))
            notices += [_in_app(ticket_id, user_id, "deadline_breached", now) for user_id, _name in told]
            continue
        old_tier = new_tier - 1
        names = ", ".join(name for _uid, name in told) or None
        notices += [_in_app(ticket_id, user_id, "escalated", now) for user_id, _name in told]
        escalations.append(
            {
                "ticket_id": ticket_id,
                "at": now,
                "from_tier": old_tier,
                "to_tier": new_tier,
                "cause": cause.value,
                "reason": None,
                "actor_id": None,
                "notified": names,
            }
        )
        events.append(_system_event(ticket_id, "escalated", now, old=str(old_tier), new=str(new_tier)))
    if escalations:
        session.execute(insert(Escalation), escalations)
    if events:
        session.execute(insert(TicketEvent), events)
    if notices:
        session.execute(insert(Notification), notices)


def _system_event(
    ticket_id: int,
    kind: str,
    now: datetime,
    *,
    public: bool = False,
    old: str | None = None,
    new: str | None = None,
) -> dict[str, Any]:
    """A timeline line written by the sweep, as a row for a bulk insert."""
    return {
        "ticket_id": ticket_id,
        "at": now,
        "actor_id": None,
        "actor_kind": "system",
        "kind": kind,
        "is_public": public,
        "body": None,
        "old_value": old,
        "new_value": new,
    }


def _in_app(ticket_id: int, user_id: int, event: str, now: datetime) -> dict[str, Any]:
    """An in-app notice for a member of staff, as a row for a bulk insert (see outbox.notify_staff)."""
    return {
        "created_at": now,
        "event": event,
        "channel": "in_app",
        "ticket_id": ticket_id,
        "ticket_event_id": None,
        "recipient_user_id": user_id,
        "to_address": None,
        "locale": "en",
        "status": "sent",
        "attempts": 0,
        "next_attempt_at": now,
        "sent_at": now,
    }


def _remind(session: Session, now: datetime, within: timedelta) -> int:
    """Tell owners once of promises (R8) and callbacks (R17) coming due within `within`."""
    soon = now + within
    promise_owners = session.execute(
        update(Promise)
        .where(
            Promise.kept_at.is_(None),
            Promise.missed_at.is_(None),
            Promise.reminded_at.is_(None),
            Promise.due_at <= soon,
        )
        .values(reminded_at=now)
        .returning(Promise.ticket_id)
        .execution_options(synchronize_session=False)
    ).scalars()
    promise_ticket_ids = sorted(set(promise_owners))
    notices = []
    if promise_ticket_ids:
        for ticket_id, owner_id in session.execute(
            select(Ticket.id, Ticket.owner_id).where(
                Ticket.id.in_(promise_ticket_ids), Ticket.owner_id.is_not(None)
            )
        ):
            if owner_id is not None:
                notices.append(_in_app(ticket_id, owner_id, "promise_due", now))
    callbacks = session.execute(
        update(Callback)
        .where(Callback.completed_at.is_(None), Callback.reminded_at.is_(None), Callback.due_at <= soon)
        .values(reminded_at=now)
        .returning(Callback.ticket_id, Callback.owner_id)
        .execution_options(synchronize_session=False)
    )
    notices += [_in_app(ticket_id, owner_id, "callback_due", now) for ticket_id, owner_id in callbacks]
    if notices:
        session.execute(insert(Notification), notices)
    return len(notices)


def sweep(session: Session, *, now: datetime, rules: Rules) -> SweepResult:
    """Apply every clock once, in one transaction; safe to run as often and as many times as wanted."""
    result = SweepResult()

    # R3: no acknowledgement within 24 hours.
    ack_rows = _escalate_returning(
        session,
        (Ticket.status.in_(OPEN_STATUS_VALUES))
        & Ticket.acknowledged_at.is_(None)
        & Ticket.ack_breached_at.is_(None)
        & (Ticket.ack_due_at < now),
        {"ack_breached_at": now},
        now,
    )
    _record_escalations(session, ack_rows, EscalationCause.ACKNOWLEDGEMENT_BREACHED, now)
    result.acknowledgement_breached = len(ack_rows)

    # R7: not resolved within the working-day target (a paused clock does not run out). A stamp
    # older than the deadline in force was the breach of an earlier one (R7 extension, a resumed
    # clock): the new deadline escalates again when it passes, once (the stamp then follows it).
    resolve_rows = _escalate_returning(
        session,
        (Ticket.status.in_(OPEN_STATUS_VALUES))
        & (Ticket.resolve_breached_at.is_(None) | (Ticket.resolve_breached_at < Ticket.resolve_due_at))
        & Ticket.paused_at.is_(None)
        & (Ticket.resolve_due_at < now),
        {"resolve_breached_at": now},
        now,
    )
    _record_escalations(session, resolve_rows, EscalationCause.RESOLUTION_BREACHED, now)
    result.resolution_breached = len(resolve_rows)

    # R8: a promised update time passed without a public update.
    missed = list(
        session.execute(
            update(Promise)
            .where(Promise.kept_at.is_(None), Promise.missed_at.is_(None), Promise.due_at < now)
            .values(missed_at=now)
            .returning(Promise.ticket_id)
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    result.promises_missed = len(missed)
    if missed:
        ticket_ids = sorted(set(missed))
        earliest_open = (
            select(func.min(Promise.due_at))
            .where(Promise.ticket_id == Ticket.id, Promise.kept_at.is_(None), Promise.missed_at.is_(None))
            .scalar_subquery()
        )
        promise_rows = _escalate_returning(
            session,
            Ticket.id.in_(ticket_ids) & Ticket.status.in_(OPEN_STATUS_VALUES),
            {"promise_due_at": earliest_open},
            now,
        )
        _record_escalations(session, promise_rows, EscalationCause.PROMISE_MISSED, now)
        session.execute(insert(TicketEvent), [_system_event(t, "promise_missed", now) for t in missed])
        result.escalated_ticket_ids += [row[0] for row in promise_rows if row[-1]]

    # R15: no answer to the outcome within the feedback window closes the complaint.
    closed = list(
        session.execute(
            update(Ticket)
            .where(
                Ticket.status == Status.RESOLVED.value,
                Ticket.resolved_at < now - timedelta(days=rules.feedback_window_days),
            )
            .values(status=Status.CLOSED.value, closed_at=now, updated_at=now, version=Ticket.version + 1)
            .returning(Ticket.id)
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    if closed:
        session.execute(
            insert(TicketEvent),
            [_system_event(t, "closed_without_answer", now, public=True) for t in closed],
        )
    result.closed_without_answer = len(closed)
    result.reminders = _remind(session, now, timedelta(hours=2))
    result.escalated_ticket_ids += [row[0] for row in ack_rows + resolve_rows if row[-1]]
    session.commit()
    # Background housekeeping rides on the sweep (every path runs it: the CLI, the worker, RQ):
    # files a killed request left in the upload folder (security.md L), after the clocks' commit.
    attachments.remove_strays(session, rules.upload_dir, now=now)
    return result

"""Every resolution deadline that passes escalates, once (R7, R9) — also the ones set after a breach.

A complaint that ran out of time went to its department's lead (R9); the lead extended it (R7).
When the extended deadline passes too, the case goes to the managers; a case already with them is
recorded and they are told. Each deadline once, however often the sweep runs and with two sweeps
at once — the same guarantees as the first breach (tests/integration/test_sla_sweep.py).

Times are explicit: filed at T0 (a Monday, 09:00 UTC) on the test calendar (Monday to Friday, UTC).
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Escalation, Notification, Ticket
from portal.services import clocks, ladder, tickets
from portal.services.settings import Rules
from portal.services.sla_sweep import SweepResult, sweep
from tests import factories
from tests.factories import T0, Org, events, fresh, run_twice_at_once

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)

new_ticket = partial(factories.new_ticket, now=T0)


def claimed_ticket(app: Flask, org: Org, rules: Rules, **fields: Any) -> Ticket:
    ticket = new_ticket(app, org, **fields)
    tickets.claim(db.session, org.users["resp_a1"], ticket, now=T0 + HOUR, rules=rules)
    return ticket


def ladder_moves(ticket_id: int) -> list[tuple[int, int, str]]:
    db.session.expire_all()
    return [
        (e.from_tier, e.to_tier, e.cause)
        for e in db.session.scalars(
            select(Escalation).where(Escalation.ticket_id == ticket_id).order_by(Escalation.id)
        )
    ]


def told(ticket_id: int, event: str) -> list[int]:
    """Who got an in-app notice of `event` about the ticket, one entry per notice."""
    db.session.expire_all()
    return sorted(
        db.session.scalars(
            select(Notification.recipient_user_id).where(
                Notification.ticket_id == ticket_id,
                Notification.event == event,
                Notification.channel == "in_app",
            )
        )
    )


def extend(org: Org, ticket: Ticket, rules: Rules, *, at: Any, by: str = "lead_a", days: int = 7) -> Ticket:
    current = fresh(ticket.id)
    clocks.extend(
        db.session, org.users[by], current, days, "Waiting for the lab report.", now=at, rules=rules
    )
    return fresh(ticket.id)


def test_an_extended_deadline_that_passes_takes_the_case_from_the_lead_to_the_managers_once__r7_r9(
    app: Flask, org: Org, rules: Rules
) -> None:
    """The issue's case: breached, escalated to the lead, extended by the lead — then late again."""
    ticket = claimed_ticket(app, org, rules)
    first_due = fresh(ticket.id).resolve_due_at
    sweep(db.session, now=first_due + MINUTE, rules=rules)
    assert fresh(ticket.id).tier == 2

    extended = extend(org, ticket, rules, at=first_due + 2 * HOUR)
    second_due = extended.resolve_due_at
    assert second_due > first_due + 2 * HOUR  # a deadline still to come
    assert counts(sweep(db.session, now=second_due - MINUTE, rules=rules)) == (0, 0)
    assert fresh(ticket.id).tier == 2

    late = second_due + MINUTE
    result = sweep(db.session, now=late, rules=rules)

    assert counts(result) == (0, 1)
    assert result.escalated_ticket_ids == [ticket.id]
    swept = fresh(ticket.id)
    assert (swept.tier, swept.resolve_breached_at, swept.owner_id) == (3, late, org.users["resp_a1"].id)
    assert ladder_moves(ticket.id) == [(1, 2, "resolution_breached"), (2, 3, "resolution_breached")]
    managers = sorted([org.users["mgr_1"].id, org.users["mgr_2"].id])
    assert told(ticket.id, "escalated") == sorted([org.users["lead_a"].id, *managers])
    before = snapshot(ticket.id)
    assert counts(sweep(db.session, now=late + 3 * 24 * HOUR, rules=rules)) == (0, 0)
    assert snapshot(ticket.id) == before


def test_at_the_manager_tier_each_deadline_that_passes_is_recorded_and_told_once__r7_r9(
    app: Flask, org: Org, rules: Rules
) -> None:
    ticket = claimed_ticket(app, org, rules)
    ladder.mark_serious(db.session, org.users["resp_a1"], ticket, "Scalding injury.", now=T0 + 2 * HOUR)
    first_due = fresh(ticket.id).resolve_due_at
    sweep(db.session, now=first_due + MINUTE, rules=rules)
    sweep(db.session, now=first_due + HOUR, rules=rules)
    assert len(events(ticket.id, "deadline_breached")) == 1

    second_due = extend(org, ticket, rules, at=first_due + 2 * HOUR, by="mgr_1").resolve_due_at
    sweep(db.session, now=second_due + MINUTE, rules=rules)
    sweep(db.session, now=second_due + HOUR, rules=rules)

    assert fresh(ticket.id).tier == 3
    assert [e.new_value for e in events(ticket.id, "deadline_breached")] == ["resolution_breached"] * 2
    # Both deadlines told to both managers, each once.
    managers = [org.users["mgr_1"].id, org.users["mgr_2"].id]
    assert told(ticket.id, "deadline_breached") == sorted(managers * 2)
    assert ladder_moves(ticket.id) == [(1, 3, "serious")]  # nothing to climb: no tier 4


def test_a_clock_resumed_after_it_ran_out_escalates_again_when_its_new_deadline_passes__r7(
    app: Flask, org: Org, rules: Rules
) -> None:
    """Paused while waiting for the customer after the deadline had passed; the customer's answer
    gives the owner a working day (`sla.resumed_due`). That day passing is a deadline too."""
    ticket = claimed_ticket(app, org, rules)
    first_due = fresh(ticket.id).resolve_due_at
    sweep(db.session, now=first_due + MINUTE, rules=rules)
    owner = org.users["resp_a1"]
    clocks.pause(db.session, owner, fresh(ticket.id), "Waiting for photos.", now=first_due + HOUR)
    clocks.resume(db.session, owner, fresh(ticket.id), now=first_due + 3 * 24 * HOUR, rules=rules)
    resumed_due = fresh(ticket.id).resolve_due_at
    assert resumed_due > first_due + 3 * 24 * HOUR

    assert counts(sweep(db.session, now=resumed_due - MINUTE, rules=rules)) == (0, 0)
    assert counts(sweep(db.session, now=resumed_due + MINUTE, rules=rules)) == (0, 1)
    assert counts(sweep(db.session, now=resumed_due + HOUR, rules=rules)) == (0, 0)

    assert fresh(ticket.id).tier == 3
    assert ladder_moves(ticket.id) == [(1, 2, "resolution_breached"), (2, 3, "resolution_breached")]


def test_an_extension_granted_after_the_extended_deadline_had_passed_escalates_at_the_next_sweep__r7(
    app: Flask, org: Org, rules: Rules
) -> None:
    """The sweep first ran only after the 7th working day (stopped for a week, say); the lead then
    grants 7 days. That deadline has passed as well: the managers must hear of it."""
    ticket = claimed_ticket(app, org, rules)
    seven_days = T0.replace(day=25, hour=18)  # Wednesday 25 November, close of business
    first_sweep = seven_days + 2 * HOUR
    sweep(db.session, now=first_sweep, rules=rules)
    assert fresh(ticket.id).tier == 2

    extended = extend(org, ticket, rules, at=first_sweep + HOUR)
    assert extended.resolve_due_at == seven_days  # already in the past

    assert counts(sweep(db.session, now=first_sweep + 2 * HOUR, rules=rules)) == (0, 1)
    assert counts(sweep(db.session, now=first_sweep + 3 * HOUR, rules=rules)) == (0, 0)
    assert ladder_moves(ticket.id) == [(1, 2, "resolution_breached"), (2, 3, "resolution_breached")]


def test_two_sweeps_at_once_escalate_each_extended_deadline_exactly_once__r7_r9(
    app: Flask, org: Org, rules: Rules
) -> None:
    """As test_sla_sweep's race, on tickets whose first deadline already escalated them."""
    ids = [claimed_ticket(app, org, rules, subject=f"Broken kettle {n}").id for n in range(12)]
    first_due = fresh(ids[0]).resolve_due_at
    sweep(db.session, now=first_due + MINUTE, rules=rules)
    for ticket_id in ids:
        second_due = extend(org, fresh(ticket_id), rules, at=first_due + HOUR).resolve_due_at
    db.session.commit()
    db.session.close()
    now = second_due + MINUTE
    results = run_twice_at_once(app, lambda: sweep(db.session, now=now, rules=rules))
    assert sorted(r.resolution_breached for r in results) == [0, 12]
    db.session.expire_all()
    per_ticket = dict(
        db.session.execute(select(Escalation.ticket_id, func.count()).group_by(Escalation.ticket_id)).all()
    )
    assert per_ticket == {ticket_id: 2 for ticket_id in ids}
    assert set(db.session.scalars(select(Ticket.tier))) == {3}


# --- helpers used above ------------------------------------------------------------------------


def counts(result: SweepResult) -> tuple[int, int]:
    return (result.acknowledgement_breached, result.resolution_breached)


def snapshot(ticket_id: int) -> tuple[Any, ...]:
    ticket = fresh(ticket_id)
    return (
        ticket.tier,
        ticket.version,
        ticket.resolve_breached_at,
        len(ladder_moves(ticket_id)),
        len(events(ticket_id)),
        len(told(ticket_id, "escalated")),
    )

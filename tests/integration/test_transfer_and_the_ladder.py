"""Transferring a case and the escalation ladder (R6, R9, R10), through the real staff routes.

The tier follows the work. A case at the lead tier transferred to another department stays at the
lead tier, now with the receiving department's lead, who is told; the sending lead no longer sees
it (it left their department, R20). A department without a lead — or whose only lead is the person
the complaint is about (R10) — has nobody at the lead tier, so the case goes up to the managers,
recorded on the ladder and told to them. Ownership never moves (R6), and the owner may report the
department the work went to for not cooperating.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal import demo
from portal.domain.permissions import Role
from portal.extensions import db
from portal.models import CooperationReport, Department, Escalation, Notification, Ticket, User
from portal.services import starter
from tests.conftest import post_form
from tests.factories import Org, events, fresh, new_ticket

# --- helpers -----------------------------------------------------------------------------------


def act_ok(client: FlaskClient, ticket_id: int, action: str, data: dict[str, str] | None = None) -> None:
    response = post_form(client, f"/staff/tickets/{ticket_id}/{action}", data or {})
    assert response.status_code == 303, (action, response.status_code)


def owned_at_tier(app: Flask, org: Org, login_as: Any, tier: int) -> tuple[Ticket, FlaskClient]:
    """A department-A (Quality) complaint claimed by resp_a1, escalated by hand up to `tier`."""
    ticket = new_ticket(app, org)
    owner = login_as("resp_a1")
    act_ok(owner, ticket.id, "claim")
    if tier >= 2:
        act_ok(
            owner,
            ticket.id,
            "escalate",
            {"reason": "Needs the lead.", "version": str(fresh(ticket.id).version)},
        )
    if tier >= 3:
        act_ok(login_as("lead_a"), ticket.id, "escalate", {"reason": "Needs a manager."})
    assert fresh(ticket.id).tier == tier
    return fresh(ticket.id), owner


def transfer(owner: FlaskClient, ticket_id: int, department: Department) -> None:
    act_ok(
        owner,
        ticket_id,
        "transfer",
        {
            "department": str(department.id),
            "note": "The installer's part of it.",
            "version": str(fresh(ticket_id).version),
        },
    )


def department_without_a_lead(org: Org) -> Department:
    """After-sales: one responder, no lead."""
    after_sales = Department(name="After-sales")
    db.session.add(after_sales)
    db.session.flush()
    responder = User(
        name="Resp C1", email="resp_c1@example.com", role=Role.RESPONDER.value, department_id=after_sales.id
    )
    responder.password_hash = org.users["resp_a1"].password_hash
    responder.session_version = 1
    db.session.add(responder)
    db.session.commit()
    org.users["resp_c1"] = responder
    org.departments["C"] = after_sales
    return after_sales


def told(org: Org, ticket_id: int, channel: str = "in_app") -> dict[str, list[str]]:
    """Which personas got which notices about the ticket, in the order they were written."""
    db.session.expire_all()
    personas = {user.id: persona for persona, user in org.users.items()}
    found: dict[str, list[str]] = {}
    for event, user_id in db.session.execute(
        select(Notification.event, Notification.recipient_user_id)
        .where(
            Notification.ticket_id == ticket_id,
            Notification.channel == channel,
            Notification.recipient_user_id.is_not(None),  # staff only
        )
        .order_by(Notification.id)
    ):
        found.setdefault(personas[user_id], []).append(event)
    return found


def ladder_moves(ticket_id: int) -> list[tuple[int, int, str, int | None, str | None]]:
    db.session.expire_all()
    return [
        (e.from_tier, e.to_tier, e.cause, e.actor_id, e.notified)
        for e in db.session.scalars(
            select(Escalation).where(Escalation.ticket_id == ticket_id).order_by(Escalation.id)
        )
    ]


def manage_page(client: FlaskClient) -> str:
    response = client.get("/manage/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


# --- the lead tier follows the work ------------------------------------------------------------


def test_a_case_transferred_at_the_lead_tier_stays_there_with_the_receiving_lead_who_is_told__r6_r9(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket, owner = owned_at_tier(app, org, login_as, 2)
    moves_before = ladder_moves(ticket.id)
    notices_before = told(org, ticket.id)

    transfer(owner, ticket.id, org.departments["B"])

    moved = fresh(ticket.id)
    assert (moved.department_id, moved.tier, moved.owner_id) == (
        org.departments["B"].id,
        2,
        org.users["resp_a1"].id,
    )
    assert ladder_moves(ticket.id) == moves_before  # no move on the ladder: the same rung
    assert [e.kind for e in events(ticket.id)][-1] == "transferred"
    new_notices = {
        persona: events_[len(notices_before.get(persona, [])) :]
        for persona, events_ in told(org, ticket.id).items()
    }
    new_notices = {persona: kinds for persona, kinds in new_notices.items() if kinds}
    # The receiving lead is told it is theirs now; B's responder hears of the transfer.
    assert new_notices == {"lead_b": ["escalated"], "resp_b1": ["transferred"]}
    assert "lead_b" in told(org, ticket.id, channel="email")  # a case to act on: by e-mail too
    # It is on lead B's list of escalated work, and left lead A's department (and sight).
    assert ticket.reference in manage_page(login_as("lead_b"))
    assert login_as("lead_a").get(f"/staff/tickets/{ticket.id}").status_code == 404
    assert owner.get(f"/staff/tickets/{ticket.id}").status_code == 200  # R6: still the owner's


def test_a_case_transferred_at_the_lead_tier_to_a_department_without_a_lead_goes_to_the_managers__r9(
    app: Flask, org: Org, login_as: Any
) -> None:
    after_sales = department_without_a_lead(org)
    ticket, owner = owned_at_tier(app, org, login_as, 2)

    transfer(owner, ticket.id, after_sales)

    moved = fresh(ticket.id)
    assert (moved.department_id, moved.tier, moved.owner_id) == (after_sales.id, 3, org.users["resp_a1"].id)
    assert ladder_moves(ticket.id)[-1] == (2, 3, "no_lead", org.users["resp_a1"].id, "Mgr 1, Mgr 2")
    assert [e.kind for e in events(ticket.id)][-2:] == ["transferred", "escalated"]
    notices = told(org, ticket.id)
    assert notices["mgr_1"] == ["escalated"] and notices["mgr_2"] == ["escalated"]
    assert notices["resp_c1"] == ["transferred"]
    assert ticket.reference in manage_page(login_as("mgr_1"))


def test_a_receiving_lead_the_complaint_is_about_does_not_count_so_the_managers_take_it__r9_r10(
    app: Flask, org: Org, login_as: Any
) -> None:
    ticket, owner = owned_at_tier(app, org, login_as, 2)
    ticket.concerns_user_id = org.users["lead_b"].id  # B's only lead is the person complained about
    db.session.commit()

    transfer(owner, ticket.id, org.departments["B"])

    assert fresh(ticket.id).tier == 3
    assert ladder_moves(ticket.id)[-1][:3] == (2, 3, "no_lead")
    assert "lead_b" not in told(org, ticket.id)  # R10: never told


def test_the_responder_and_manager_tiers_do_not_change_on_a_transfer__r6_r9(
    app: Flask, org: Org, login_as: Any
) -> None:
    after_sales = department_without_a_lead(org)
    at_responder, owner = owned_at_tier(app, org, login_as, 1)
    at_manager, _owner = owned_at_tier(app, org, login_as, 3)
    moves = {t.id: ladder_moves(t.id) for t in (at_responder, at_manager)}

    transfer(owner, at_responder.id, org.departments["B"])
    transfer(owner, at_manager.id, after_sales)

    assert (fresh(at_responder.id).tier, fresh(at_manager.id).tier) == (1, 3)
    assert {t.id: ladder_moves(t.id) for t in (at_responder, at_manager)} == moves
    # At the responder tier B's lead and responder hear of the transfer, as before.
    notices = told(org, at_responder.id)
    assert (notices["lead_b"], notices["resp_b1"]) == (["transferred"], ["transferred"])


# --- R6: the owner reports the department the work went to -------------------------------------


NONCOOPERATION_FORM = re.compile(r'<form[^>]*action="[^"]*/noncooperation".*?</form>', re.DOTALL)
OPTION = re.compile(r'<option[^>]*value="(\d+)"')


def noncooperation_choices(client: FlaskClient, ticket_id: int) -> set[int]:
    html = client.get(f"/staff/tickets/{ticket_id}").get_data(as_text=True)
    form = NONCOOPERATION_FORM.search(html)
    assert form, "no non-cooperation form on the owner's page"
    return {int(value) for value in OPTION.findall(form.group(0))}


def test_after_a_transfer_the_owner_can_report_the_department_the_work_went_to__r6(
    app: Flask, org: Org, login_as: Any
) -> None:
    after_sales = department_without_a_lead(org)
    ticket, owner = owned_at_tier(app, org, login_as, 1)
    quality, office = org.departments["A"].id, org.departments["B"].id
    assert noncooperation_choices(owner, ticket.id) == {office, after_sales.id}

    transfer(owner, ticket.id, after_sales)

    # Every department but the owner's own (Quality), the one now holding the work included.
    assert noncooperation_choices(owner, ticket.id) == {office, after_sales.id}
    assert quality not in noncooperation_choices(owner, ticket.id)
    act_ok(
        owner,
        ticket.id,
        "noncooperation",
        {"department": str(after_sales.id), "note": "No answer in 3 days."},
    )
    db.session.expire_all()
    [report] = db.session.scalars(select(CooperationReport)).all()
    assert (report.department_id, report.reported_by_id) == (after_sales.id, org.users["resp_a1"].id)


# --- the demo organisation -----------------------------------------------------------------------


def test_every_department_of_the_demo_has_a_lead_to_take_the_lead_tier__r9() -> None:
    """portal/demo.py: a case escalated or transferred at the lead tier finds someone there."""
    with_lead = {department for _name, _email, role, department in demo.ACCOUNTS if role == Role.LEAD}
    assert with_lead == set(starter.STARTER_DEPARTMENTS)
    emails = [email for _name, email, _role, _department in demo.ACCOUNTS]
    assert len(emails) == len(set(emails)) and all(e.endswith("@example.com") for e in emails)
    # The accounts there before stay as they were.
    assert {
        "responder@example.com",
        "responder2@example.com",
        "lead@example.com",
        "manager@example.com",
        "admin@example.com",
    } <= set(emails)

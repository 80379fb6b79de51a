"""R21: improvement actions (owner, due date, status, the complaints they answer, a review of
their effect), the managed list of root causes, and the early-warning settings (R22)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from portal.extensions import db
from portal.models import ImprovementAction, RootCause, Setting, improvement_action_ticket
from portal.services import improvements
from portal.services import settings as settings_service
from tests.conftest import post_form
from tests.factories import Org, make_ticket

NEW = "/manage/improvements/new"


def action_form(org: Org, **overrides: str) -> dict[str, str]:
    data = {
        "title": "Check every kettle batch before it ships",
        "description": "Three complaints in a week about the same batch.",
        "department": str(org.departments["A"].id),
        "owner": str(org.users["resp_a1"].id),
        "due_on": "2026-12-20",
        "status": "planned",
        "root_cause": "0",
        "category": str(org.categories["A"].id),
    }
    data.update(overrides)
    return data


def test_a_lead_creates_an_action_for_their_department(org: Org, login_as: Any) -> None:
    client = login_as("lead_a")
    response = post_form(client, NEW, action_form(org), page=NEW)
    assert response.status_code == 303
    action = db.session.scalars(select(ImprovementAction)).one()
    assert (action.title, action.status, action.owner_id) == (
        "Check every kettle batch before it ships",
        "planned",
        org.users["resp_a1"].id,
    )
    assert action.created_by_id == org.users["lead_a"].id
    listing = client.get("/manage/improvements").get_data(as_text=True)
    assert "Check every kettle batch" in listing


def test_a_lead_cannot_file_an_action_under_another_department(org: Org, login_as: Any) -> None:
    """The department list offers only their own; a forged choice is refused, nothing is saved."""
    response = post_form(
        login_as("lead_a"), NEW, action_form(org, department=str(org.departments["B"].id)), page=NEW
    )
    assert response.status_code == 422
    assert db.session.scalars(select(ImprovementAction)).first() is None


def test_an_invalid_action_comes_back_with_what_was_typed(org: Org, login_as: Any) -> None:
    response = post_form(login_as("mgr_1"), NEW, action_form(org, title="", due_on="not a date"), page=NEW)
    assert response.status_code == 422
    assert "Three complaints in a week about the same batch." in response.get_data(as_text=True)


@pytest.fixture
def action(org: Org) -> ImprovementAction:
    return improvements.save(
        db.session,
        org.users["lead_a"],
        None,
        improvements.ActionInput(
            title="Retrain the installers",
            description="",
            department_id=org.departments["A"].id,
            owner_id=org.users["resp_a2"].id,
            due_on=date(2026, 12, 31),
            category_id=org.categories["A"].id,
        ),
        now=datetime(2026, 11, 20, tzinfo=UTC),
    )


def test_another_departments_lead_cannot_open_or_change_the_action(
    org: Org, action: ImprovementAction, login_as: Any
) -> None:
    client = login_as("lead_b")
    assert client.get(f"/manage/improvements/{action.id}").status_code == 404
    page = f"/manage/improvements/{action.id}"
    assert post_form(client, page, action_form(org), page="/manage/improvements").status_code == 404
    assert "Retrain the installers" not in client.get("/manage/improvements").get_data(as_text=True)


def test_linking_complaints_only_ones_the_person_may_see(
    app: Flask, org: Org, action: ImprovementAction, login_as: Any
) -> None:
    """R10/R20: a reference the lead may not see is "not found", and is never linked."""
    upload_dir = app.config["UPLOAD_FOLDER"]
    mine = make_ticket(db.session, org, upload_dir, department="A")
    other = make_ticket(db.session, org, upload_dir, department="B")
    about_lead = make_ticket(db.session, org, upload_dir, department="A", customer_name="Park")
    about_lead.concerns_user_id = org.users["lead_a"].id
    db.session.commit()
    client = login_as("lead_a")
    page = f"/manage/improvements/{action.id}"
    url = f"{page}/tickets"
    assert post_form(client, url, {"reference": mine.reference.lower()}, page=page).status_code == 303
    assert post_form(client, url, {"reference": mine.reference}, page=page).status_code == 409
    for hidden in (other, about_lead):
        response = post_form(client, url, {"reference": hidden.reference}, page=page)
        assert response.status_code == 422
        assert "No complaint with this reference that you may see." in response.get_data(as_text=True)
    linked = db.session.scalars(
        select(improvement_action_ticket.c.ticket_id).where(
            improvement_action_ticket.c.action_id == action.id
        )
    ).all()
    assert linked == [mine.id]
    # A manager links the case about the lead; the lead's page still leaves it out (R10).
    assert (
        post_form(login_as("mgr_1"), url, {"reference": about_lead.reference}, page=page).status_code == 303
    )
    shown = client.get(page).get_data(as_text=True)
    assert mine.reference in shown and about_lead.reference not in shown
    unlink = post_form(client, f"{page}/tickets/{mine.id}/unlink", {}, page=page)
    assert unlink.status_code == 303
    assert mine.reference not in client.get(page).get_data(as_text=True)


def test_the_effect_is_reviewed_once_the_action_is_done(
    org: Org, action: ImprovementAction, login_as: Any
) -> None:
    client = login_as("lead_a")
    page = f"/manage/improvements/{action.id}"
    early = post_form(
        client, f"{page}/review", {"effective": "yes", "review": "Fewer complaints."}, page=page
    )
    assert early.status_code == 409
    done = post_form(
        client,
        page,
        action_form(org, title="Retrain the installers", owner=str(org.users["resp_a2"].id), status="done"),
        page=page,
    )
    assert done.status_code == 303
    db.session.expire_all()
    assert db.session.get(ImprovementAction, action.id).completed_at is not None
    reviewed = post_form(
        client,
        f"{page}/review",
        {"effective": "no", "review": "Same number of complaints as before."},
        page=page,
    )
    assert reviewed.status_code == 303
    db.session.expire_all()
    saved = db.session.get(ImprovementAction, action.id)
    assert (saved.effective, saved.effect_review, saved.reviewed_by_id) == (
        False,
        "Same number of complaints as before.",
        org.users["lead_a"].id,
    )
    assert "It did not work." in client.get(page).get_data(as_text=True)


def test_the_effect_counts_the_category_before_and_after(app: Flask, org: Org) -> None:
    upload_dir = app.config["UPLOAD_FOLDER"]
    created, completed = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 20, tzinfo=UTC)
    for when in (created - timedelta(days=40), created - timedelta(days=10), created - timedelta(days=1)):
        ticket = make_ticket(db.session, org, upload_dir, department="A")
        ticket.received_at = when
    late = make_ticket(db.session, org, upload_dir, department="A")
    late.received_at = completed + timedelta(days=3)
    elsewhere = make_ticket(db.session, org, upload_dir, department="B")
    elsewhere.received_at = created - timedelta(days=2)
    action = ImprovementAction(
        title="Kettle batch",
        department_id=org.departments["A"].id,
        owner_id=org.users["resp_a1"].id,
        category_id=org.categories["A"].id,
        due_on=date(2026, 10, 31),
        status="done",
        created_by_id=org.users["lead_a"].id,
        created_at=created,
        completed_at=completed,
    )
    db.session.add(action)
    db.session.commit()
    assert improvements.effect(db.session, action) == improvements.Effect(before=2, after=1)


def test_admins_keep_the_list_of_root_causes(org: Org, login_as: Any) -> None:
    client = login_as("admin")
    created = post_form(
        client,
        "/admin/root-causes/new",
        {"name": "Courier delay", "active": "y"},
        page="/admin/root-causes/new",
    )
    assert created.status_code == 303
    cause = db.session.scalars(select(RootCause)).one()
    duplicate = post_form(
        client, "/admin/root-causes/new", {"name": "Courier delay"}, page="/admin/root-causes/new"
    )
    assert duplicate.status_code == 422
    assert "Another root cause already has this name." in duplicate.get_data(as_text=True)
    retired = post_form(
        client, f"/admin/root-causes/{cause.id}", {"name": "Courier delay"}, page="/admin/root-causes"
    )
    assert retired.status_code == 303
    db.session.expire_all()
    assert db.session.get(RootCause, cause.id).active is False  # retired, never deleted
    assert "Courier delay" in client.get("/admin/root-causes").get_data(as_text=True)
    assert login_as("mgr_1").get("/admin/root-causes").status_code == 403


def test_the_early_warning_thresholds_are_settings(app: Flask, org: Org, login_as: Any) -> None:
    """R22: an administrator changes the numbers; the dashboard uses them without a restart."""
    data = {
        "holiday_country": "CN",
        "approval_threshold": "500.00",
        "feedback_window_days": "7",
        "callback_within_hours": "24",
        "spot_check_percent": "25",
        "warn_repeat_complaints": "4",
        "warn_repeat_days": "14",
        "warn_spike_factor": "1.5",
        "warn_spike_weeks": "6",
        "warn_spike_min_count": "5",
        "warn_promise_hours": "3",
    }
    response = post_form(login_as("admin"), "/admin/settings", data, page="/admin/settings")
    assert response.status_code == 303, response.get_data(as_text=True)
    thresholds = settings_service.warning_thresholds(db.session, app.config)
    assert (thresholds.repeat_complaints, thresholds.repeat_days, thresholds.spike_factor) == (4, 14, 1.5)
    assert (thresholds.spike_weeks, thresholds.spike_min_count, thresholds.promise_hours) == (6, 5, 3)
    stored = {row.key: row.value for row in db.session.scalars(select(Setting))}
    assert stored["spot_check_percent"] == "25"
    bad = post_form(
        login_as("admin"), "/admin/settings", data | {"warn_spike_factor": "0"}, page="/admin/settings"
    )
    assert bad.status_code == 422

"""An improvement action's effect is read only once its 30 days after have passed (R21).

An action marked done today has no "after" yet: showing "in the 30 days after: 0" would read as a
measured effect. Until the window has passed the figure is not given (`Effect.after` is None) and
the page says from when it can be read; after that, the complaints in the window are counted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask

from portal.extensions import db
from portal.models import ImprovementAction, utcnow
from portal.services import improvements
from tests.factories import Org, make_ticket

DAY = timedelta(days=1)


def done_action(org: Org, completed: datetime) -> ImprovementAction:
    """An action on department A's category, created 10 days before it was done."""
    return improvements.save(
        db.session,
        org.users["lead_a"],
        None,
        improvements.ActionInput(
            title="Check every kettle batch",
            description="",
            department_id=org.departments["A"].id,
            owner_id=org.users["resp_a1"].id,
            due_on=date(2026, 12, 31),
            status="done",
            category_id=org.categories["A"].id,
        ),
        now=completed,
    )


def received(app: Flask, org: Org, *moments: datetime) -> None:
    for moment in moments:
        ticket = make_ticket(db.session, org, app.config["UPLOAD_FOLDER"], department="A")
        ticket.received_at = moment
    db.session.commit()


def test_the_count_after_an_action_is_given_only_once_its_30_days_have_passed__r21(
    app: Flask, org: Org
) -> None:
    completed = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
    action = done_action(org, completed)
    received(app, org, completed + 3 * DAY, completed + 29 * DAY, completed + 31 * DAY)
    readable = completed + 30 * DAY

    for moment in (completed, completed + 3 * DAY, readable - timedelta(minutes=1)):
        early = improvements.effect(db.session, action, now=moment)
        assert early is not None
        assert (early.after, early.readable_from, early.measured) == (None, readable, False), moment

    measured = improvements.effect(db.session, action, now=readable)
    assert measured is not None
    assert (measured.after, measured.readable_from, measured.measured) == (2, readable, True)


def test_a_planned_action_has_no_date_to_read_its_effect_from__r21(app: Flask, org: Org) -> None:
    action = done_action(org, datetime(2026, 10, 20, tzinfo=UTC))
    action.status, action.completed_at = "planned", None
    db.session.commit()

    planned = improvements.effect(db.session, action, now=datetime(2027, 1, 1, tzinfo=UTC))
    assert planned is not None
    assert (planned.after, planned.readable_from) == (None, None)


def test_an_action_marked_done_today_says_when_its_effect_can_be_read_not_a_count__r21(
    app: Flask, org: Org, login_as: Any
) -> None:
    action = done_action(org, utcnow())
    readable = action.completed_at + 30 * DAY
    shown = readable.astimezone(ZoneInfo(app.config["ORG_TIMEZONE"])).strftime("%Y-%m-%d %H:%M")

    html = login_as("lead_a").get(f"/manage/improvements/{action.id}").get_data(as_text=True)

    assert f"The effect can be read from {shown}." in html
    assert "In the 30 days after it was done" not in html


def test_an_action_done_over_30_days_ago_shows_the_count_after_it__r21(
    app: Flask, org: Org, login_as: Any
) -> None:
    completed = utcnow() - 40 * DAY
    action = done_action(org, completed)
    received(app, org, completed + 2 * DAY, completed + 35 * DAY)

    html = login_as("lead_a").get(f"/manage/improvements/{action.id}").get_data(as_text=True)

    assert "In the 30 days after it was done: 1." in html
    assert "The effect can be read from" not in html

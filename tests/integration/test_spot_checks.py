"""R18 spot checks through the real routes: draw a quarter, assign reviewers, record findings,
repeat the draw; R10 keeps every case about a person out of their draw, their lists and reviews."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select

from portal.domain import spot_checks as sampling
from portal.domain.errors import Conflict, NotPermitted
from portal.domain.reporting import Period, WarningThresholds
from portal.extensions import db
from portal.models import AuditLog, SpotCheck, SpotCheckItem, Ticket, TicketEvent
from portal.services import reports, spot_checks
from tests.conftest import post_form
from tests.factories import Org, make_ticket

Q3_DAY = datetime(2026, 8, 10, 3, tzinfo=UTC)
NOW = datetime(2026, 10, 5, 2, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_today(monkeypatch: pytest.MonkeyPatch) -> None:
    """The draw form offers the recent quarters; pin "today" so 2026-Q3 is one of them."""
    from portal.manage import report_views

    monkeypatch.setattr(report_views, "now", lambda: NOW)


def resolved(org: Org, upload_dir: str, department: str, when: datetime, **fields: Any) -> Ticket:
    ticket = make_ticket(db.session, org, upload_dir, department=department)
    ticket.received_at = when - timedelta(hours=5)
    ticket.resolved_at = when
    ticket.status = "closed"
    ticket.owner_id = org.users["resp_a1" if department == "A" else "resp_b1"].id
    for name, value in fields.items():
        setattr(ticket, name, value)
    db.session.commit()
    return ticket


@pytest.fixture
def quarter(app: Flask, org: Org) -> list[Ticket]:
    """Ten complaints resolved in 2026-Q3 (one about mgr_2), one before it, one feedback."""
    upload_dir = app.config["UPLOAD_FOLDER"]
    tickets = [resolved(org, upload_dir, "A" if i % 2 else "B", Q3_DAY + timedelta(days=i)) for i in range(9)]
    tickets.append(resolved(org, upload_dir, "A", Q3_DAY, concerns_user_id=org.users["mgr_2"].id))
    resolved(org, upload_dir, "A", datetime(2026, 6, 20, tzinfo=UTC))
    resolved(org, upload_dir, "A", Q3_DAY, kind="feedback")
    return tickets


def draw(actor: Any, seed: str | None = "audit-2026-q3", percent: int = 20) -> SpotCheck:
    return spot_checks.draw(
        db.session, actor, "2026-Q3", percent=percent, seed=seed, timezone="Asia/Shanghai", now=NOW
    )


def sampled_ids(check: SpotCheck) -> list[int]:
    return sorted(
        db.session.scalars(select(SpotCheckItem.ticket_id).where(SpotCheckItem.spot_check_id == check.id))
    )


def test_a_draw_takes_the_share_of_the_quarters_resolved_complaints_and_records_its_seed(
    org: Org, quarter: list[Ticket]
) -> None:
    check = draw(org.users["mgr_1"])
    assert (check.quarter, check.percent, check.seed, check.population_size) == (
        "2026-Q3",
        20,
        "audit-2026-q3",
        10,
    )
    population = [t.id for t in quarter]
    assert sampled_ids(check) == sampling.draw(population, 20, "audit-2026-q3")
    assert len(sampled_ids(check)) == 2  # 20% of 10


def test_the_drawing_manager_never_draws_a_case_about_themselves(org: Org, quarter: list[Ticket]) -> None:
    """R10: mgr_2's population leaves out the complaint about mgr_2."""
    check = draw(org.users["mgr_2"], percent=100)
    assert check.population_size == 9
    assert quarter[-1].id not in sampled_ids(check)


def test_one_draw_per_quarter_so_a_sample_cannot_be_redrawn_until_it_suits(
    org: Org, quarter: list[Ticket]
) -> None:
    draw(org.users["mgr_1"])
    with pytest.raises(Conflict):
        draw(org.users["mgr_2"], seed="another")


def test_only_a_manager_draws(org: Org, quarter: list[Ticket]) -> None:
    with pytest.raises(NotPermitted):
        draw(org.users["lead_a"])


def test_an_empty_seed_gets_a_random_one_that_is_kept(org: Org, quarter: list[Ticket]) -> None:
    check = draw(org.users["mgr_1"], seed="  ")
    assert len(check.seed) == 16
    assert sampled_ids(check) == sampling.draw([t.id for t in quarter], 20, check.seed)


def test_repeating_the_draw_shows_whether_the_record_still_holds(org: Org, quarter: list[Ticket]) -> None:
    check = draw(org.users["mgr_1"])
    again = spot_checks.redraw(db.session, check)
    assert (again.same_population, again.same_sample) == (True, True)
    item = db.session.scalars(select(SpotCheckItem).where(SpotCheckItem.spot_check_id == check.id)).first()
    assert item is not None
    sampled = set(sampled_ids(check))
    other = next(t for t in quarter if t.id not in sampled and t.concerns_user_id is None)
    item.ticket_id = other.id  # someone swaps a sampled case for a convenient one
    db.session.commit()
    tampered = spot_checks.redraw(db.session, check)
    assert (tampered.same_population, tampered.same_sample) == (True, False)


def test_reviewers_are_managers_and_leads_who_may_see_the_case_and_did_not_handle_it(
    org: Org, quarter: list[Ticket]
) -> None:
    ticket = quarter[1]  # department A, owned by resp_a1
    names = {u.name for u in spot_checks.reviewer_candidates(ticket, spot_checks.reviewer_pool(db.session))}
    assert names == {"Lead A", "Mgr 1", "Mgr 2"}
    about_mgr_2 = quarter[-1]
    assert "Mgr 2" not in {
        u.name for u in spot_checks.reviewer_candidates(about_mgr_2, spot_checks.reviewer_pool(db.session))
    }


def first_item(check: SpotCheck, department_id: int | None = None) -> SpotCheckItem:
    query = select(SpotCheckItem).join(SpotCheckItem.ticket).where(SpotCheckItem.spot_check_id == check.id)
    if department_id is not None:
        query = query.where(Ticket.department_id == department_id)
    item = db.session.scalars(query.order_by(SpotCheckItem.id)).first()
    assert item is not None
    return item


def test_the_full_round_through_the_screens(org: Org, quarter: list[Ticket], login_as: Any) -> None:
    """A manager draws and assigns a lead; the lead records the re-check; the report counts it."""
    manager = login_as("mgr_1")
    page = manager.get("/manage/spot-checks")
    assert page.status_code == 200 and "Draw the sample" in page.get_data(as_text=True)
    response = post_form(
        manager,
        "/manage/spot-checks",
        {"quarter": "2026-Q3", "percent": "100", "seed": "round-trip"},
        page="/manage/spot-checks",
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    check = db.session.scalars(select(SpotCheck)).one()
    item = first_item(check, org.departments["A"].id)
    detail = f"/manage/spot-checks/{check.id}"
    assert response.headers["Location"].endswith(detail)
    assigned = post_form(
        manager,
        f"/manage/spot-checks/items/{item.id}/reviewer",
        {f"r{item.id}-reviewer": str(org.users["lead_a"].id)},
        page=detail,
    )
    assert assigned.status_code == 303
    lead = login_as("lead_a")
    assert "A spot-check re-check is assigned to you" in lead.get("/staff/notifications").get_data(
        as_text=True
    )
    mine = lead.get("/manage/spot-checks").get_data(as_text=True)
    assert item.ticket.reference in mine
    case_page = lead.get(f"/staff/tickets/{item.ticket_id}").get_data(as_text=True)
    assert 'id="my-recheck"' in case_page and f"#item-{item.id}" in case_page
    lead_view = lead.get(detail).get_data(as_text=True)
    assert "Record the re-check" in lead_view
    recorded = post_form(
        lead,
        f"/manage/spot-checks/items/{item.id}/review",
        {
            f"v{item.id}-recontacted": "yes",
            f"v{item.id}-outcome_held": "no",
            f"v{item.id}-findings": "The replacement broke again; the customer was not told why.",
        },
        page=detail,
    )
    assert recorded.status_code == 303
    db.session.expire_all()
    item = db.session.get(SpotCheckItem, item.id)
    assert (item.recontacted, item.outcome_held, item.reviewer_id) == (True, False, org.users["lead_a"].id)
    event = db.session.scalars(select(TicketEvent).where(TicketEvent.kind == "spot_checked")).one()
    assert event.ticket_id == item.ticket_id and not event.is_public  # internal: the customer sees nothing
    again = post_form(
        lead,
        f"/manage/spot-checks/items/{item.id}/review",
        {f"v{item.id}-recontacted": "no", f"v{item.id}-outcome_held": "yes", f"v{item.id}-findings": "x"},
        page=detail,
    )
    assert again.status_code == 409
    assert 'id="my-recheck"' not in lead.get(f"/staff/tickets/{item.ticket_id}").get_data(as_text=True)
    board = reports.dashboard(
        db.session,
        org.users["mgr_1"],
        reports.ReportScope(),
        Period(datetime(2026, 9, 1).date(), datetime(2026, 9, 30).date()),
        now=NOW,
        timezone="Asia/Shanghai",
        ack_hours=24,
        thresholds=WarningThresholds(),
    )
    [figures] = board.spot_checks
    assert (figures.quarter, figures.population, figures.sampled, figures.reviewed) == ("2026-Q3", 10, 10, 1)
    assert (figures.recontacted, figures.held, figures.not_held) == (1, 0, 1)
    lead_board = reports.spot_check_figures(
        db.session, reports.ReportScope(department_id=org.departments["A"].id), board.period, "Asia/Shanghai"
    )
    assert lead_board[0].sampled == 5  # department A's five cases of the ten


def test_a_review_needs_findings_and_keeps_what_was_typed(
    org: Org, quarter: list[Ticket], login_as: Any
) -> None:
    check = draw(org.users["mgr_1"], percent=100)
    item = first_item(check, org.departments["A"].id)
    item.reviewer_id = org.users["mgr_1"].id
    db.session.commit()
    response = post_form(
        login_as("mgr_1"),
        f"/manage/spot-checks/items/{item.id}/review",
        {f"v{item.id}-recontacted": "yes", f"v{item.id}-findings": "Called on Tuesday."},
        page=f"/manage/spot-checks/{check.id}",
    )
    assert response.status_code == 422
    assert "Called on Tuesday." in response.get_data(as_text=True)


def test_only_the_assigned_reviewer_records_and_the_owner_cannot_be_assigned(
    org: Org, quarter: list[Ticket], login_as: Any
) -> None:
    check = draw(org.users["mgr_1"], percent=100)
    item = first_item(check, org.departments["A"].id)
    item.reviewer_id = org.users["mgr_2"].id
    db.session.commit()
    detail = f"/manage/spot-checks/{check.id}"
    refused = post_form(
        login_as("mgr_1"),
        f"/manage/spot-checks/items/{item.id}/review",
        {
            f"v{item.id}-recontacted": "yes",
            f"v{item.id}-outcome_held": "yes",
            f"v{item.id}-findings": "Fine.",
        },
        page=detail,
    )
    assert refused.status_code == 403
    owner = org.users["resp_a1"]  # owns every department-A case here; responders are no choice anyway
    assert owner.id not in {
        u.id for u in spot_checks.reviewer_candidates(item.ticket, spot_checks.reviewer_pool(db.session))
    }
    with pytest.raises(NotPermitted):
        spot_checks.assign_reviewer(db.session, org.users["mgr_1"], item, owner, now=NOW)
    lead_b = org.users["lead_b"]  # cannot see a department-A case
    with pytest.raises(NotPermitted):
        spot_checks.assign_reviewer(db.session, org.users["mgr_1"], item, lead_b, now=NOW)
    denied = db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "action_denied"))
    assert denied == 1


def test_a_recused_manager_does_not_see_the_case_about_them_in_another_managers_draw(
    org: Org, quarter: list[Ticket], login_as: Any
) -> None:
    """R10: mgr_1's draw includes the case about mgr_2; mgr_2's view of the check leaves it out."""
    check = draw(org.users["mgr_1"], percent=100)
    about = quarter[-1]
    assert about.id in sampled_ids(check)
    page = login_as("mgr_2").get(f"/manage/spot-checks/{check.id}").get_data(as_text=True)
    assert about.reference not in page
    assert quarter[0].reference in page
    assert about.reference in login_as("mgr_1").get(f"/manage/spot-checks/{check.id}").get_data(as_text=True)


def test_a_lead_cannot_open_a_check_with_nothing_of_theirs(
    org: Org, quarter: list[Ticket], login_as: Any
) -> None:
    check = draw(org.users["mgr_1"])
    assert login_as("lead_b").get(f"/manage/spot-checks/{check.id}").status_code == 404
    assert login_as("mgr_1").get("/manage/spot-checks/999999").status_code == 404


def test_drawing_the_same_quarter_twice_on_screen_says_so(
    org: Org, quarter: list[Ticket], login_as: Any
) -> None:
    draw(org.users["mgr_2"])
    response = post_form(
        login_as("mgr_1"),
        "/manage/spot-checks",
        {"quarter": "2026-Q3", "percent": "20"},
        page="/manage/spot-checks",
    )
    assert response.status_code == 409
    assert "This quarter has been drawn already." in response.get_data(as_text=True)


def statements_for(client: Any, url: str) -> int:
    """How many SQL statements one page costs (an N+1 shows as a count that grows with the rows)."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(seen)


def test_the_check_page_costs_the_same_queries_for_two_cases_or_ten(
    org: Org, quarter: list[Ticket], login_as: Any
) -> None:
    small = draw(org.users["mgr_1"], percent=20)  # 2 of the quarter's 10
    client = login_as("mgr_1")
    few = statements_for(client, f"/manage/spot-checks/{small.id}")
    db.session.execute(SpotCheckItem.__table__.delete())
    db.session.execute(SpotCheck.__table__.delete())
    db.session.commit()
    large = draw(org.users["mgr_1"], percent=100)  # 10 (mgr_1 is not recused from any)
    many = statements_for(client, f"/manage/spot-checks/{large.id}")
    assert many == few
    page = client.get(f"/manage/spot-checks/{large.id}").get_data(as_text=True)
    assert page.count(">Choose…</option>") == 10  # a reviewer is chosen, never preselected

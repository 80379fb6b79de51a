"""The dashboard's figures on a small hand-built data set whose right answers are written here
(R17, R21, R22), on SQLite and PostgreSQL alike; the CSV equals the screen; a lead sees only their
department (R20); a recused manager never sees cases about themselves in the drill-downs (R10).

The organisation's zone is Asia/Shanghai (UTC+8), so a case received at 20:00 UTC counts on the
next local day. "Now" is 2026-12-01 10:00 local; the period is November 2026.

  T1  A  web       received 11-02 01:00, ack +2 h, 1st answer +4 h, resolved +10 h (on time), the
                    customer said resolved, rated 5 (11-02 17:00), cause "defect"; callback reached
                    and satisfied
  T2  A  phone     received 11-02 20:00 UTC = 11-03 local, ack +30 h (late), 1st +30 h, resolved
                    +100 h (late), "defect", reopened once; the customer said not resolved, rated 2
                    (11-08 01:00); callback reached, not satisfied
  T3  B  web       received 11-10 03:00, ack +1 h, 1st +1 h, resolved +20 h, rated 4 (11-11 09:00),
                    "training"; callback not reached
  T4  A  web       received 11-20 03:00, ack +5 h, 1st +6 h, open and overdue, tier 2; repeat customer
  T5  B  web       received 10-25 (before the period), resolved 11-05 (+264 h, late)
  T6  A  web       received 11-30 17:00 UTC = 12-01 local (after the period), new; repeat customer
  T7  A  feedback  received 11-15: counted only when feedback is asked for
  T8  A  web       received 11-30 15:00, not yet acknowledged (inside its 24 h), about mgr_2; repeat
                    customer, a promised update due in 1 h
  T9  B  web       received 08-20 (before any period here), resolved in October; on 11-04 the
                    customer said "not resolved", rated 1 (R16: reopened, its resolution undone);
                    resolved again 12-01 01:00 UTC (12-01 local, after the period), not yet answered
  T10 B  web       received 08-24; the customer said "not resolved" on 10-27 (reopened); resolved
                    again 10-29, and on 11-03 said resolved, rated 4; closed

T9 and T10 are the issue's case (R15, R16): customers' answers count in the period they were given,
though neither case's resolution falls in November. Answers in November: T1 yes 5, T2 no 2, T3 (no
yes or no) 4, T9 no 1, T10 yes 4 — reopened at least once: T2, T9, T10.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.domain.reporting import Period, WarningThresholds
from portal.extensions import db
from portal.models import AuditLog, Callback, Escalation, Promise, RootCause, Ticket
from portal.services import reports
from tests.factories import Org, make_ticket

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 30))
ZONE = "Asia/Shanghai"
H = timedelta(hours=1)


def at(month: int, day: int, hour: int) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def _ticket(org: Org, upload_dir: str, department: str, received: datetime, **fields: Any) -> Ticket:
    ticket = make_ticket(db.session, org, upload_dir, department=department)
    ticket.received_at = received
    ticket.ack_due_at = received + 24 * H
    ticket.resolve_due_at = received + 72 * H
    ticket.due_at = ticket.resolve_due_at
    ticket.acknowledged_at = None
    for name, value in fields.items():
        setattr(ticket, name, value)
    return ticket


@pytest.fixture
def data(app: Flask, org: Org) -> dict[str, Any]:
    upload_dir = app.config["UPLOAD_FOLDER"]
    defect = RootCause(name="Manufacturing defect")
    training = RootCause(name="Staff training gap")
    db.session.add_all([defect, training])
    db.session.flush()
    users = org.users
    t1_at, t2_at, t3_at = at(11, 2, 1), at(11, 2, 20), at(11, 10, 3)
    tickets = {
        "T1": _ticket(
            org,
            upload_dir,
            "A",
            t1_at,
            customer_email="li@example.org",
            acknowledged_at=t1_at + 2 * H,
            first_response_at=t1_at + 4 * H,
            resolved_at=t1_at + 10 * H,
            status="closed",
            owner_id=users["resp_a1"].id,
            satisfaction=5,
            customer_satisfied=True,
            customer_answered_at=t1_at + 16 * H,
            root_cause_id=defect.id,
        ),
        "T2": _ticket(
            org,
            upload_dir,
            "A",
            t2_at,
            channel="phone",
            customer_email="chen@example.org",
            acknowledged_at=t2_at + 30 * H,
            first_response_at=t2_at + 30 * H,
            resolved_at=t2_at + 100 * H,
            status="resolved",
            owner_id=users["resp_a1"].id,
            satisfaction=2,
            customer_satisfied=False,
            customer_answered_at=at(11, 8, 1),
            reopen_count=1,
            root_cause_id=defect.id,
        ),
        "T3": _ticket(
            org,
            upload_dir,
            "B",
            t3_at,
            customer_email="park@example.org",
            acknowledged_at=t3_at + H,
            first_response_at=t3_at + H,
            resolved_at=t3_at + 20 * H,
            status="closed",
            owner_id=users["resp_b1"].id,
            satisfaction=4,
            customer_answered_at=t3_at + 30 * H,
            root_cause_id=training.id,
        ),
        "T4": _ticket(
            org,
            upload_dir,
            "A",
            at(11, 20, 3),
            acknowledged_at=at(11, 20, 8),
            first_response_at=at(11, 20, 9),
            status="in_progress",
            owner_id=users["resp_a2"].id,
            tier=2,
            customer_email="repeat@example.org",
            customer_name="Zhou Min",
        ),
        "T5": _ticket(
            org,
            upload_dir,
            "B",
            at(10, 25, 3),
            customer_email="kim@example.org",
            acknowledged_at=at(10, 25, 4),
            resolved_at=at(11, 5, 3),
            status="closed",
            owner_id=users["resp_b1"].id,
        ),
        "T6": _ticket(
            org,
            upload_dir,
            "A",
            at(11, 30, 17),
            customer_email="repeat@example.org",
            customer_name="Zhou Min",
        ),
        "T7": _ticket(org, upload_dir, "A", at(11, 15, 3), kind="feedback", category_id=None),
        "T8": _ticket(
            org,
            upload_dir,
            "A",
            at(11, 30, 15),
            customer_email="REPEAT@example.org",
            customer_name="Zhou Min",
            concerns_user_id=users["mgr_2"].id,
        ),
        "T9": _ticket(
            org,
            upload_dir,
            "B",
            at(8, 20, 3),
            customer_email="song@example.org",
            acknowledged_at=at(8, 20, 4),
            first_response_at=at(8, 20, 4),
            customer_answered_at=at(11, 4, 2),
            customer_satisfied=False,
            satisfaction=1,
            reopen_count=1,
            tier=2,
            resolved_at=at(12, 1, 1),
            status="resolved",
            owner_id=users["resp_b1"].id,
        ),
        "T10": _ticket(
            org,
            upload_dir,
            "B",
            at(8, 24, 3),
            customer_email="yoon@example.org",
            acknowledged_at=at(8, 24, 4),
            first_response_at=at(8, 24, 4),
            resolved_at=at(10, 29, 3),
            customer_answered_at=at(11, 3, 3),
            customer_satisfied=True,
            satisfaction=4,
            reopen_count=1,
            closed_at=at(11, 3, 3),
            status="closed",
            owner_id=users["resp_b1"].id,
        ),
    }
    for ticket in tickets.values():
        if ticket.status in ("new", "in_progress"):
            ticket.due_at = ticket.ack_due_at if ticket.acknowledged_at is None else ticket.resolve_due_at
    db.session.flush()
    t = {k: v.id for k, v in tickets.items()}
    db.session.add_all(
        [
            Escalation(
                ticket_id=t["T2"], at=at(11, 6, 1), from_tier=1, to_tier=2, cause="resolution_breached"
            ),
            Escalation(
                ticket_id=t["T2"], at=at(11, 8, 1), from_tier=2, to_tier=3, cause="customer_dissatisfied"
            ),
            Escalation(ticket_id=t["T3"], at=at(11, 12, 1), from_tier=1, to_tier=2, cause="manual"),
            Escalation(ticket_id=t["T5"], at=at(10, 26, 1), from_tier=1, to_tier=2, cause="manual"),
            Callback(
                ticket_id=t["T1"],
                owner_id=users["resp_a1"].id,
                created_at=at(11, 2, 11),
                due_at=at(11, 3, 11),
                completed_at=at(11, 3, 12),
                reached=True,
                satisfied=True,
            ),
            Callback(
                ticket_id=t["T2"],
                owner_id=users["resp_a1"].id,
                created_at=at(11, 7, 1),
                due_at=at(11, 8, 1),
                completed_at=at(11, 8, 2),
                reached=True,
                satisfied=False,
            ),
            Callback(
                ticket_id=t["T3"],
                owner_id=users["resp_b1"].id,
                created_at=at(11, 10, 23),
                due_at=at(11, 11, 23),
                completed_at=at(11, 12, 1),
                reached=False,
            ),
            Callback(
                ticket_id=t["T5"], owner_id=users["resp_b1"].id, created_at=at(11, 5, 3), due_at=at(12, 2, 3)
            ),
            Promise(
                ticket_id=t["T8"], made_by_id=users["resp_a1"].id, made_at=at(11, 30, 16), due_at=NOW + H
            ),
            Promise(
                ticket_id=t["T4"], made_by_id=users["resp_a1"].id, made_at=at(11, 30, 16), due_at=NOW + 5 * H
            ),
        ]
    )
    db.session.commit()
    return {"tickets": tickets, "ids": t}


def board_for(actor: Any, department_id: int | None = None, kind: str = "complaint", **thresholds: Any):  # type: ignore[no-untyped-def]
    return reports.dashboard(
        db.session,
        actor,
        reports.ReportScope(department_id=department_id, kind=kind),
        NOVEMBER,
        now=NOW,
        timezone=ZONE,
        ack_hours=24,
        thresholds=WarningThresholds(**thresholds),
    )


def test_every_figure_for_the_whole_organisation_matches_the_hand_count(
    org: Org, data: dict[str, Any]
) -> None:
    """R21 figures for a manager; each expected number is worked out in the module docstring."""
    board = board_for(org.users["mgr_1"])
    # Now: T4, T6, T8 open (T7 is feedback); T4 is past its deadline.
    assert (board.open, board.overdue, board.awaiting_approval) == (3, 1, 0)
    assert board.open_by_tier == {1: 2, 2: 1, 3: 0}
    # Received in November (local): T1, T2, T3, T4, T8. T8 is inside its first 24 h: not counted yet.
    assert board.received == 5
    assert (board.ack_on_time, board.ack_counted) == (3, 4)  # T1, T3, T4 within 24 h; T2 took 30 h
    # First responses 1, 4, 6, 30 h: median = 2nd of 4, 90th percentile = 4th of 4 (nearest rank).
    assert board.first_response == reports.Percentiles(4, 4 * 3600, 30 * 3600)
    # Resolved in November: T1 (10 h), T2 (100 h), T3 (20 h), T5 (264 h); T1 and T3 within 72 h.
    # (T9's resolution was undone by the customer's "no" and made again in December; T10's is October's.)
    assert (board.resolved, board.resolved_on_time) == (4, 2)
    assert board.resolution == reports.Percentiles(4, 20 * 3600, 264 * 3600)
    # R15, R16: answers given in November, whenever the case was resolved: T1, T2, T3, T9, T10.
    # Reopened at least once: T2, T9 (by that answer), T10 (before it) — 3 of 5.
    assert (board.answered, board.reopened) == (5, 3)
    assert board.reopen_share == pytest.approx(3 / 5)
    assert board.satisfaction == {1: 1, 2: 1, 3: 0, 4: 2, 5: 1}  # T9; T2; —; T3, T10; T1
    assert board.average_rating == pytest.approx(16 / 5)  # (1 + 2 + 4 + 4 + 5) / 5
    assert (board.satisfied_yes, board.satisfied_no) == (2, 2)  # T1, T10 yes; T2, T9 no; T3 neither
    assert board.root_causes == [("Manufacturing defect", 2), ("Staff training gap", 1), (None, 1)]
    # Local days: T2 arrived 20:00 UTC on 2 November, which is 3 November in Shanghai.
    series = dict(board.intake_series)
    assert len(series) == 30 and sum(series.values()) == 5
    assert {d.day: n for d, n in series.items() if n} == {2: 1, 3: 1, 10: 1, 20: 1, 30: 1}
    assert board.by_category == [("Product quality", 4), ("Staff attitude", 1)]
    assert board.by_channel == [("web", 4), ("phone", 1)]
    # Moves up the ladder in November (the October one is outside).
    assert board.escalations_by_tier == {2: 2, 3: 1}
    assert board.escalations_by_cause == [
        ("customer_dissatisfied", 1),
        ("manual", 1),
        ("resolution_breached", 1),
    ]


def test_department_and_staff_lines_match_the_hand_count(org: Org, data: dict[str, Any]) -> None:
    board = board_for(org.users["mgr_1"])
    lines = {g.name: g for g in board.departments}
    quality, office = lines["Quality"], lines["Management office"]
    assert (quality.received, quality.open, quality.overdue, quality.resolved) == (4, 3, 1, 2)
    assert (quality.resolved_on_time, quality.reopened, quality.rated, quality.rating_total) == (1, 1, 2, 7)
    assert quality.resolution.median_seconds == 10 * 3600  # of 10 h and 100 h, the 1st
    assert (office.received, office.open, office.resolved, office.resolved_on_time) == (1, 0, 2, 1)
    assert office.resolution.median_seconds == 20 * 3600
    # Answered in November in B: T3 (4), T9 (no, 1), T10 (yes, 4); T9 and T10 had been reopened.
    assert (office.answered, office.reopened, office.rated, office.rating_total) == (3, 2, 3, 9)
    assert (quality.answered, quality.reopened) == (2, 1)  # T1; T2
    people = {g.name: g for g in board.staff}
    assert set(people) == {"Resp A1", "Resp A2", "Resp B1"}
    assert (people["Resp A1"].resolved, people["Resp A1"].reopened, people["Resp A1"].open) == (2, 1, 0)
    assert (people["Resp A2"].open, people["Resp A2"].overdue, people["Resp A2"].resolved) == (1, 1, 0)
    assert people["Resp B1"].resolution == reports.Percentiles(2, 20 * 3600, 264 * 3600)
    assert (people["Resp B1"].answered, people["Resp B1"].reopened) == (3, 2)


def test_callback_summary_counts_calls_due_in_the_period_by_theme(org: Org, data: dict[str, Any]) -> None:
    """R17's monthly summary: three calls due in November (T5's falls in December)."""
    board = board_for(org.users["mgr_1"])
    totals = board.callback_totals
    assert (totals.due, totals.completed, totals.reached, totals.satisfied, totals.dissatisfied) == (
        3,
        3,
        2,
        1,
        1,
    )
    themes = {t.name: (t.due, t.reached, t.satisfied, t.dissatisfied) for t in board.callbacks}
    assert themes == {"Product quality": (2, 2, 1, 1), "Staff attitude": (1, 0, 0, 0)}
    causes = {t.name: t.due for t in board.callback_root_causes}
    assert causes == {"Manufacturing defect": 2, "Staff training gap": 1}


def test_feedback_is_counted_only_when_asked_for(org: Org, data: dict[str, Any]) -> None:
    assert board_for(org.users["mgr_1"], kind="feedback").received == 1
    assert board_for(org.users["mgr_1"], kind="all").received == 6


def test_a_departments_figures_leave_the_other_department_out(org: Org, data: dict[str, Any]) -> None:
    """R20: department A alone — T3 and T5 (B) count nowhere."""
    board = board_for(org.users["lead_a"], department_id=org.departments["A"].id)
    assert (board.received, board.ack_on_time, board.ack_counted) == (4, 2, 3)
    assert (board.resolved, board.resolved_on_time) == (2, 1)
    assert [g.name for g in board.departments] == ["Quality"]
    assert {g.name for g in board.staff} == {"Resp A1", "Resp A2"}
    assert board.escalations_by_tier == {2: 1, 3: 1}
    assert [t.name for t in board.callbacks] == ["Product quality"]


def test_warnings_name_repeat_customers_and_promises_only_from_cases_the_viewer_may_see(
    org: Org, data: dict[str, Any]
) -> None:
    """R22 with R10: mgr_2 is the person T8 is about, so T8 is in nobody's drill-down for mgr_2."""
    ids = data["ids"]
    seen = board_for(org.users["mgr_1"]).warnings
    [repeat] = seen.repeat_customers
    assert (repeat.contact, repeat.complaints) == ("repeat@example.org", 3)  # e-mail case folded
    assert [i for i, _ref in repeat.tickets] == [ids["T4"], ids["T8"], ids["T6"]]
    assert [p.ticket_id for p in seen.promises] == [ids["T8"]]  # T4's is 5 h away, beyond 2 h
    recused = board_for(org.users["mgr_2"]).warnings
    assert recused.repeat_customers == []  # only two complaints of the customer are visible to mgr_2
    assert recused.promises == []
    loose = board_for(org.users["mgr_2"], repeat_complaints=2).warnings
    assert [i for r in loose.repeat_customers for i, _ref in r.tickets] == [ids["T4"], ids["T6"]]


def test_a_category_spikes_when_its_week_beats_the_average_by_the_factor(
    org: Org, data: dict[str, Any]
) -> None:
    """R22: Product quality has 2 complaints in the last 7 days (T6, T8) against 3 in 8 weeks before."""
    assert board_for(org.users["mgr_1"]).warnings.spikes == []  # 2 is under the minimum of 3
    [spike] = board_for(org.users["mgr_1"], spike_min_count=2).warnings.spikes
    assert (spike.name, spike.this_week, spike.weekly_average) == ("Product quality", 2, 3 / 8)
    assert board_for(org.users["mgr_1"], spike_min_count=2, spike_factor=6).warnings.spikes == []


# --- through the real routes ----------------------------------------------------------------------


class TableReader(HTMLParser):
    """Collect every dashboard table (`data-table`) as rows of cell texts, and the figure list."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("table", "dl") and attributes.get("data-table"):
            self._table = attributes["data-table"]
            self.tables[self._table] = []
        elif self._table and tag in ("tr", "div"):
            self._row = []
        elif self._row is not None and tag in ("th", "td", "dt", "dd"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td", "dt", "dd") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag in ("tr", "div") and self._row is not None and self._table:
            if self._row:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag in ("table", "dl"):
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def screen_tables(html: str) -> dict[str, list[list[str]]]:
    reader = TableReader()
    reader.feed(html)
    return reader.tables


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The routes ask `now()` once per request; pin it so the expected figures stay right."""
    from portal.manage import report_views

    monkeypatch.setattr(report_views, "now", lambda: NOW)
    return NOW


NOVEMBER_QUERY = "start=2026-11-01&end=2026-11-30"


def test_the_dashboard_page_shows_the_hand_counted_figures(
    login_as: Any, data: dict[str, Any], frozen_now: datetime
) -> None:
    response = login_as("mgr_1").get(f"/manage/dashboard?{NOVEMBER_QUERY}")
    assert response.status_code == 200
    tables = screen_tables(response.get_data(as_text=True))
    summary = dict(tables["summary"])
    assert summary["Received in the period"] == "5"
    assert summary["Acknowledged within 24 hours"] == "75.0 %"
    assert summary["Time to first response, median"] == "4.0 h"
    assert summary["Time to resolution, 90th percentile"] == "264.0 h"
    assert summary["Resolved within the target"] == "50.0 %"
    assert summary["Reopen rate"] == "60.0 %"  # 3 of the 5 answered in November had been reopened
    assert summary["Average satisfaction (1–5)"] == "3.20"
    assert summary["Customers who said it was resolved"] == "2 / 4"  # T1, T10 of T1, T2, T9, T10
    assert tables["categories"] == [
        ["Category", "Cases received"],
        ["Product quality", "4"],
        ["Staff attitude", "1"],
    ]
    assert ["Quality", "4", "3", "1", "2", "50.0 %", "10.0 h", "50.0 %", "3.50"] in tables["departments"]
    assert ["Management office", "1", "0", "0", "2", "50.0 %", "20.0 h", "66.7 %", "3.00"] in tables[
        "departments"
    ]
    assert tables["satisfaction"][1:] == [
        ["1 of 5", "1"],
        ["2 of 5", "1"],
        ["3 of 5", "0"],
        ["4 of 5", "2"],
        ["5 of 5", "1"],
    ]
    by_category = tables["intake_categories"]
    assert by_category[0] == ["Day", "Product quality", "Staff attitude", "All"]
    assert ["2026-11-03", "1", "0", "1"] in by_category  # T2, on its local day
    assert ["2026-11-10", "0", "1", "1"] in by_category
    assert len(by_category) == 31  # the header and every day of November
    assert tables["intake_channels"][0] == ["Day", "Phone", "Web form", "All"]
    assert ["2026-11-03", "1", "0", "1"] in tables["intake_channels"]


def test_every_csv_export_is_exactly_the_table_on_the_screen(
    login_as: Any, data: dict[str, Any], frozen_now: datetime
) -> None:
    client = login_as("mgr_1")
    html = client.get(f"/manage/dashboard?{NOVEMBER_QUERY}").get_data(as_text=True)
    tables = screen_tables(html)
    from portal.manage.report_tables import BUILDERS

    assert set(tables) == set(BUILDERS)
    for key, shown in tables.items():
        response = client.get(f"/manage/dashboard/{key}.csv?{NOVEMBER_QUERY}")
        assert response.status_code == 200, key
        assert response.mimetype == "text/csv"
        assert "attachment" in response.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
        if key == "summary":
            rows = rows[1:]  # the screen shows the figures without the header row
        assert rows[: len(shown)] == shown, key
    exports = db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "report_exported"))
    assert exports == len(BUILDERS)  # ASVS 7.1: every export leaves an audit row


def test_a_lead_sees_only_their_department_and_asking_for_another_is_refused(
    login_as: Any, org: Org, data: dict[str, Any], frozen_now: datetime
) -> None:
    """R20: no figure, name or category of department B reaches lead A, on screen or in CSV."""
    client = login_as("lead_a")
    html = client.get(f"/manage/dashboard?{NOVEMBER_QUERY}").get_data(as_text=True)
    assert "Management office" not in html and "Staff attitude" not in html and "Resp B1" not in html
    staff_csv = client.get(f"/manage/dashboard/staff.csv?{NOVEMBER_QUERY}").get_data(as_text=True)
    assert "Resp A1" in staff_csv and "Resp B1" not in staff_csv
    other = org.departments["B"].id
    for url in (
        f"/manage/dashboard?department={other}",
        f"/manage/dashboard/departments.csv?department={other}",
    ):
        response = client.get(url)
        assert response.status_code == 403
    refusals = db.session.scalar(
        select(func.count(AuditLog.id)).where(
            AuditLog.action == "report_denied", AuditLog.actor_id == org.users["lead_a"].id
        )
    )
    assert refusals == 2


def test_a_manager_can_narrow_the_dashboard_to_one_department(
    login_as: Any, org: Org, data: dict[str, Any], frozen_now: datetime
) -> None:
    client = login_as("mgr_1")
    html = client.get(f"/manage/dashboard?{NOVEMBER_QUERY}&department={org.departments['B'].id}").get_data(
        as_text=True
    )
    assert dict(screen_tables(html)["summary"])["Received in the period"] == "1"


def test_the_recused_manager_sees_no_case_about_them_on_the_dashboard(
    login_as: Any, data: dict[str, Any], frozen_now: datetime
) -> None:
    """R10: T8 is about mgr_2; its reference appears nowhere on mgr_2's dashboard."""
    t8 = data["tickets"]["T8"]
    html = login_as("mgr_2").get(f"/manage/dashboard?{NOVEMBER_QUERY}").get_data(as_text=True)
    assert t8.reference not in html
    assert data["tickets"]["T4"].reference not in html  # two complaints visible: no repeat warning
    mine = login_as("mgr_1").get(f"/manage/dashboard?{NOVEMBER_QUERY}").get_data(as_text=True)
    assert t8.reference in mine


@pytest.mark.parametrize(
    "query",
    [
        "start=2026-11-30&end=2026-11-01",
        "start=2024-01-01&end=2026-11-30",
        "start=nonsense&end=2026-11-30",
        "start=2026-11-01",
    ],
)
def test_a_period_that_is_not_one_comes_back_with_a_clear_message(
    login_as: Any, data: dict[str, Any], query: str
) -> None:
    response = login_as("mgr_1").get(f"/manage/dashboard?{query}")
    assert response.status_code == 422
    assert "error-summary" in response.get_data(as_text=True)


@pytest.mark.parametrize("persona", ["resp_a1", "staff_s", "admin"])
def test_responders_and_admins_get_no_dashboard(login_as: Any, data: dict[str, Any], persona: str) -> None:
    client = login_as(persona)
    assert client.get("/manage/dashboard").status_code == 403
    assert client.get("/manage/dashboard/summary.csv").status_code == 403


def test_an_unknown_table_is_not_found(login_as: Any, data: dict[str, Any]) -> None:
    assert login_as("mgr_1").get("/manage/dashboard/tickets.csv").status_code == 404


def test_weekly_buckets_for_a_long_period(org: Org, data: dict[str, Any]) -> None:
    board = reports.dashboard(
        db.session,
        org.users["mgr_1"],
        reports.ReportScope(),
        Period(date(2026, 9, 1), date(2026, 11, 30)),
        now=NOW,
        timezone=ZONE,
        ack_hours=24,
        thresholds=WarningThresholds(),
    )
    assert board.period.weekly
    weeks = dict(board.intake_series)
    assert all(day.weekday() == 0 for day in weeks)  # each bar starts on a Monday
    assert weeks[date(2026, 10, 19)] == 1 and weeks[date(2026, 10, 26)] == 0  # T5 came 25 Oct (a Sunday)
    assert sum(weeks.values()) == 6


def test_csv_cells_that_would_run_as_formulas_are_defused(
    login_as: Any, org: Org, data: dict[str, Any]
) -> None:
    """B6 (CVE-2019-14749): a category named like a formula is exported as text."""
    org.categories["A"].name = '=HYPERLINK("http://evil","x")'
    db.session.commit()
    body = login_as("mgr_1").get(f"/manage/dashboard/categories.csv?{NOVEMBER_QUERY}").get_data(as_text=True)
    assert '"\'=HYPERLINK(""http://evil"",""x"")"' in body


def test_the_services_record_first_response_and_reopenings_for_the_reports(app: Flask, org: Org) -> None:
    """A claim is no answer; the first reply is. Reopening (R16) is counted once per reopening."""
    from portal.services import resolutions, tickets
    from tests.factories import T0, rules_for_tests

    rules = rules_for_tests(app.config["UPLOAD_FOLDER"])
    ticket = make_ticket(db.session, org, app.config["UPLOAD_FOLDER"])
    responder, lead = org.users["resp_a1"], org.users["lead_a"]
    tickets.claim(db.session, responder, ticket, now=T0 + H, rules=rules)
    assert ticket.first_response_at is None
    tickets.reply(db.session, responder, ticket, "We are looking into it.", now=T0 + 3 * H, rules=rules)
    tickets.reply(db.session, responder, ticket, "Still on it.", now=T0 + 5 * H, rules=rules)
    assert ticket.first_response_at == T0 + 3 * H
    resolutions.resolve_or_propose(
        db.session,
        responder,
        ticket,
        resolutions.ProposalInput(summary="Replaced.", customer_reply="We replaced the kettle."),
        now=T0 + 6 * H,
        rules=rules,
    )
    tickets.reopen(db.session, lead, ticket, "The customer called back.", now=T0 + 7 * H, rules=rules)
    db.session.expire_all()
    fresh = db.session.get(Ticket, ticket.id)
    assert (fresh.first_response_at, fresh.reopen_count, fresh.resolved_at) == (T0 + 3 * H, 1, None)


def test_a_department_that_does_not_exist_is_a_filter_error(login_as: Any, data: dict[str, Any]) -> None:
    response = login_as("mgr_1").get("/manage/dashboard?department=999999")
    assert response.status_code == 422
    assert "a date or a choice is not valid" in response.get_data(as_text=True)


def test_a_customers_no_through_the_real_services_counts_in_the_period_it_was_given__r15_r16(
    app: Flask, org: Org
) -> None:
    """The issue's symptom: customers answered "No, not resolved" and the dashboard still said 0.0 %
    reopened and "said it was resolved 1/1". The "no" undoes the resolution (R16), so the case is
    not among the resolved — but its answer counts, in the period it was given."""
    from portal.services import aftercare, resolutions, tickets
    from tests.factories import T0, rules_for_tests

    rules = rules_for_tests(app.config["UPLOAD_FOLDER"])
    responder = org.users["resp_a1"]
    answers = {"no": False, "yes": True}
    made = {}
    for name, satisfied in answers.items():
        ticket = make_ticket(db.session, org, app.config["UPLOAD_FOLDER"])
        tickets.claim(db.session, responder, ticket, now=T0 + H, rules=rules)
        resolutions.resolve_or_propose(
            db.session,
            responder,
            ticket,
            resolutions.ProposalInput(summary="Replaced.", customer_reply="We replaced the kettle."),
            now=T0 + 2 * H,
            rules=rules,
        )
        aftercare.customer_answer(
            db.session,
            ticket,
            satisfied=satisfied,
            satisfaction=5 if satisfied else 1,
            comment=None,
            now=T0 + 5 * H,
            rules=rules,
        )
        made[name] = ticket
    assert made["no"].resolved_at is None and made["no"].reopen_count == 1

    board = board_for(org.users["mgr_1"])

    assert board.resolved == 1  # the "yes" case only: the "no" undid its resolution
    assert (board.answered, board.reopened, board.satisfied_yes, board.satisfied_no) == (2, 1, 1, 1)
    assert board.reopen_share == pytest.approx(1 / 2)
    assert board.satisfaction == {1: 1, 2: 0, 3: 0, 4: 0, 5: 1}

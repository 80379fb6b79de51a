"""The reports issue's "Done when", in a real browser: a manager opens the dashboard (R21, R22),
reads a chart and the table beside it, downloads a table as CSV and gets what the screen shows,
prints it as a report; draws the quarter's spot check (R18) and assigns a lead, who records the
re-check. Screenshots go to docs/screenshots/ (dashboard, dashboard-print, spot-check)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from portal.domain import reporting
from portal.extensions import db
from portal.models import Callback, Promise, RootCause
from tests.browser.conftest import SCREENSHOTS
from tests.factories import make_ticket

pytestmark = pytest.mark.browser

SUBJECTS = [
    "Kettle stopped working",
    "Courier left the parcel outside",
    "Charged twice",
    "Rude staff at the till",
]
CUSTOMERS = ["Wang Fang", "김민준", "Li Na", "O'Hara", "Zhou Min", "Park Ji-woo"]


def seed(live) -> None:  # type: ignore[no-untyped-def]
    """Thirty days of complaints around now: most resolved, rated and called back, some open."""
    now = datetime.now(UTC)
    with live.app.app_context():
        org = live.org()
        causes = [
            RootCause(name=name) for name in ("Manufacturing defect", "Courier delay", "Staff training gap")
        ]
        db.session.add_all(causes)
        db.session.flush()
        upload_dir = str(live.upload_dir)
        for i in range(36):
            department = "A" if i % 3 else "B"
            received = now - timedelta(days=i * 0.8 + 0.4, hours=i % 5)
            ticket = make_ticket(
                db.session,
                org,
                upload_dir,
                department=department,
                customer_name=CUSTOMERS[i % len(CUSTOMERS)],
                customer_email="repeat@example.org" if i < 3 else f"customer{i}@example.org",
                subject=SUBJECTS[i % len(SUBJECTS)],
            )
            ticket.received_at = received
            ticket.channel = ("web", "web", "phone", "visit")[i % 4]
            ticket.acknowledged_at = received + timedelta(hours=2 + (i % 7) * 5)
            ticket.first_response_at = ticket.acknowledged_at + timedelta(hours=1 + i % 4)
            ticket.resolve_due_at = received + timedelta(days=3)
            ticket.owner_id = org.users["resp_a1" if department == "A" else "resp_b1"].id
            if i >= 4:
                ticket.status = "closed"
                ticket.resolved_at = received + timedelta(hours=6 + (i % 6) * 14)
                ticket.root_cause_id = causes[i % 3].id
                ticket.satisfaction = (5, 4, 4, 3, 2, 5, 1)[i % 7]
                ticket.customer_satisfied = ticket.satisfaction >= 3
                ticket.reopen_count = 1 if i % 9 == 0 else 0
                db.session.add(
                    Callback(
                        ticket_id=ticket.id,
                        owner_id=ticket.owner_id,
                        created_at=ticket.resolved_at,
                        due_at=ticket.resolved_at + timedelta(hours=24),
                        completed_at=ticket.resolved_at + timedelta(hours=20),
                        reached=i % 5 != 0,
                        satisfied=(i % 5 != 0) and i % 4 != 1,
                    )
                )
            else:
                ticket.status = "in_progress"
                ticket.due_at = ticket.resolve_due_at
                ticket.tier = 2 if i == 1 else 1
                db.session.add(
                    Promise(
                        ticket_id=ticket.id,
                        made_by_id=ticket.owner_id,
                        made_at=now - timedelta(hours=3),
                        due_at=now + timedelta(minutes=50),
                    )
                )
        db.session.commit()
        db.session.remove()


def csv_rows(page: Page, link_name: str) -> list[list[str]]:
    with page.expect_download() as download_info:
        page.get_by_role("link", name=link_name).click()
    download = download_info.value
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def table_rows(page: Page, key: str) -> list[list[str]]:
    return page.locator(f'table[data-table="{key}"]').evaluate(
        "t => [...t.rows].map(r => [...r.cells].map(c => c.innerText.trim()))"
    )


def test_a_manager_reads_the_dashboard_exports_a_table_and_runs_the_quarters_spot_check(
    browsing, sign_in, live
):
    seed(live)
    manager = sign_in("mgr_1")
    manager.get_by_role("link", name="Dashboard").click()
    manager.wait_for_url("**/manage/dashboard")
    expect(manager.get_by_role("heading", level=1)).to_have_text("How the service is doing")

    # R22: the customer with three complaints and the promise coming due are flagged.
    warnings = manager.locator("#early-warnings")
    expect(warnings).to_contain_text("Customers complaining repeatedly")
    expect(warnings).to_contain_text("repeat@example.org")
    expect(warnings).to_contain_text("Promised updates coming due")

    # The figures: each chart is an image with a name, and its table beside it says the same.
    received = manager.locator(".figure", has_text="Received in the period").locator("dd")
    expect(received).to_have_text("36")
    expect(manager.get_by_role("img", name="Top categories")).to_be_visible()
    categories = table_rows(manager, "categories")
    assert categories[0] == ["Category", "Cases received"]
    assert sorted(row[0] for row in categories[1:]) == ["Product quality", "Staff attitude"]
    assert sum(int(row[1]) for row in categories[1:]) == 36

    # The CSV is the table on the screen.
    assert csv_rows(manager, "CSV — Top categories") == categories
    assert csv_rows(manager, "CSV — By staff member") == table_rows(manager, "staff")
    browsing.screenshot(manager, "dashboard")

    # A monthly report: the print stylesheet hides the controls and keeps every table.
    folded = manager.locator('table[data-table="intake_categories"]')
    expect(folded).to_be_hidden()  # long tables fold away on screen …
    manager.emulate_media(media="print")
    manager.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    expect(folded).to_be_visible()  # … and print in full
    expect(manager.locator(".report-filters")).to_be_hidden()
    expect(manager.locator('table[data-table="callbacks"]')).to_be_visible()
    manager.screenshot(path=str(SCREENSHOTS / "dashboard-print.png"), full_page=True)
    manager.emulate_media(media="screen")

    # Narrow to one department: department B's figures only.
    manager.locator("select[name=department]").select_option(label="Management office")
    manager.get_by_role("button", name="Show").click()
    manager.wait_for_url(re.compile(r"department=\d+"))
    expect(manager.locator(".report-scope")).to_contain_text("Management office")
    assert [row[0] for row in table_rows(manager, "categories")[1:]] == ["Staff attitude"]

    # R18: draw the current quarter's spot check and give one case to the lead of department A.
    manager.get_by_role("link", name="Spot checks").first.click()
    manager.wait_for_url("**/manage/spot-checks")
    zone = ZoneInfo(live.app.config["ORG_TIMEZONE"])
    quarter = reporting.quarter_label(*reporting.quarter_of(datetime.now(zone).date()))
    manager.get_by_label("Quarter").select_option(quarter)
    manager.get_by_label("Share to re-check (%)").fill("20")
    manager.get_by_label("Seed (optional)").fill("browser-journey")
    manager.get_by_role("button", name="Draw the sample").click()
    manager.wait_for_url(re.compile(r"/manage/spot-checks/\d+$"))
    expect(manager.locator(".flash-success")).to_contain_text("complaints to re-check")
    expect(manager.get_by_text("browser-journey")).to_be_visible()
    card = manager.locator("article.proposal-card", has=manager.locator("option", has_text="Lead A")).first
    reference = card.locator("h3 a").inner_text()
    card.get_by_label("Assign a reviewer").select_option(label="Lead A")
    card.get_by_role("button", name="Assign").click()
    expect(manager.locator(".flash-success")).to_contain_text("Reviewer assigned.")
    expect(manager.locator("#spot-check-progress")).to_have_text(re.compile(r"^0 of \d+$"))
    manager.get_by_role("link", name="Repeat the draw to verify it").click()
    expect(manager.locator("#redraw-result")).to_contain_text("the same cases come out")
    browsing.screenshot(manager, "spot-check")

    lead = sign_in("lead_a")
    lead.goto("/manage/spot-checks")
    lead.get_by_role("link", name=reference).click()
    review = lead.locator("article.proposal-card", has_text=reference)
    review.get_by_role("group", name="Was the customer re-contacted?").get_by_label("Yes").check()
    review.get_by_role("group", name="Did the outcome hold?").get_by_label("Yes").check()
    review.get_by_label("Findings").fill("Called the customer: the replacement works and they are content.")
    review.get_by_role("button", name="Record the re-check").click()
    expect(lead.locator(".flash-success")).to_contain_text("Re-check recorded.")
    expect(lead.locator("article.proposal-card", has_text=reference)).to_contain_text("the replacement works")

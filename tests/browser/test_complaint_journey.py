"""The issue's "Done when", in a real browser: a customer complains, a responder handles it,
the customer sees the outcome (R1–R3, R5, R6, R13); plus the form's errors and the queue filters
with and without JavaScript.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.services import tickets
from tests.factories import make_ticket, rules_for_tests

pytestmark = pytest.mark.browser

CUSTOMER = {
    "name": "Wang Fang",
    "email": "wang.fang@example.org",
    "subject": "Kettle stopped working after a week",
    "description": "I bought the kettle on 2 November.\nIt no longer heats. I would like a replacement.",
}
SUMMARY = "We are sending you a new kettle by courier; it arrives on Friday."


def fill_complaint(page: Page, name: str, email: str, subject: str, description: str) -> None:
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("What is it about?", exact=True).select_option(label="Product quality")
    page.get_by_label("Subject").fill(subject)
    page.get_by_label("What happened?").fill(description)
    page.get_by_label("I agree that my details are used").check()


def queue_row(page: Page, reference: str):  # type: ignore[no-untyped-def]
    return page.locator("#queue-rows tbody tr", has_text=reference)


def mark_document(page: Page) -> None:
    """Tag the loaded document: if the tag survives an action, the page was not reloaded."""
    page.evaluate("window.__sameDocument = true")


def still_same_document(page: Page) -> bool:
    return page.evaluate("window.__sameDocument === true")


def test_customer_complains_responder_claims_and_resolves_and_customer_sees_outcome(browsing, sign_in, live):
    """R1–R3: filed with a reference and a private link; R5: routed to department A by category;
    R6: the responder claims it from the queue (htmx, row updated in place); the customer's link
    shows the resolution."""
    customer = browsing.new_page()
    customer.goto("/complaints/new")
    expect(customer.get_by_role("heading", name="Make a complaint")).to_be_visible()
    browsing.screenshot(customer, "complaint-form")

    fill_complaint(customer, **CUSTOMER)
    customer.get_by_role("button", name="Send complaint").click()
    customer.wait_for_url(re.compile(r"/filed/CP-\d{4}-\d{6}$"))
    reference = customer.locator("#reference").inner_text().strip()
    assert re.fullmatch(r"CP-\d{4}-\d{6}", reference)
    tracking_link = customer.locator("#tracking-link")
    expect(tracking_link).to_be_visible()
    tracking_url = tracking_link.get_attribute("href")
    assert tracking_url and re.fullmatch(re.escape(live.url) + r"/track/[A-Za-z0-9_-]{20,}", tracking_url)
    expect(tracking_link).to_have_text(tracking_url)
    browsing.screenshot(customer, "confirmation")

    # R13: the acknowledgement mail reaches the customer, and its private link opens the case.
    acknowledgements = live.mail_to(CUSTOMER["email"])
    assert len(acknowledgements) == 1, [m["Subject"] for m in acknowledgements]
    acknowledgement = acknowledgements[0]
    assert reference in acknowledgement["Subject"]
    mail_text = acknowledgement.get_body(preferencelist=("plain",)).get_content()
    mailed_links = re.findall(re.escape(live.url) + r"/track/[A-Za-z0-9_-]+", mail_text)
    assert len(mailed_links) == 1, mail_text
    from_mail = browsing.new_page()
    from_mail.goto(mailed_links[0])
    from_mail.wait_for_url(f"**/case/{reference}")
    expect(from_mail.get_by_role("heading", level=1)).to_have_text(CUSTOMER["subject"])
    expect(from_mail.locator("#case-status")).to_have_text("Received — waiting to be looked at")

    # A responder of the category's department finds it in the queue, unowned.
    staff = sign_in("resp_a1")
    row = queue_row(staff, reference)
    expect(row).to_have_count(1)
    expect(row.locator("td[data-label='Subject']")).to_have_text(CUSTOMER["subject"])
    expect(row.locator("td[data-label='Customer']")).to_have_text(CUSTOMER["name"])
    expect(row.locator("td[data-label='Owner']")).to_have_text("Unassigned")

    # Claim: htmx posts and swaps only this row; the page is not reloaded.
    mark_document(staff)
    with staff.expect_response(lambda r: r.url.endswith("/claim") and r.request.method == "POST") as claimed:
        row.get_by_role("button", name="Claim").click()
    assert claimed.value.request.headers.get("hx-request") == "true"
    assert claimed.value.status == 200
    expect(row.locator("td[data-label='Owner']")).to_have_text("Resp A1")
    expect(row.locator("td[data-label='Status']")).to_have_text("In progress")
    expect(row.get_by_role("button", name="Claim")).to_have_count(0)
    expect(staff.locator("#flash")).to_contain_text("You own this ticket now.")
    assert still_same_document(staff)
    assert staff.url.endswith("/staff/queue")
    browsing.screenshot(staff, "queue")

    # The ticket page, then the resolution with a summary the customer reads.
    row.get_by_role("link", name=reference).click()
    staff.wait_for_url(re.compile(r"/staff/tickets/\d+$"))
    expect(staff.get_by_role("heading", level=1)).to_have_text(CUSTOMER["subject"])
    expect(staff.locator(".description")).to_have_text(CUSTOMER["description"])
    staff.locator("details.action summary", has_text="Resolve").click()
    staff.get_by_label("Resolution summary").fill(SUMMARY)
    browsing.screenshot(staff, "ticket")
    staff.locator("form[action$='/resolve']").get_by_role("button", name="Resolve").click()
    expect(staff.locator("#flash")).to_contain_text("Resolved. The customer can see the outcome.")
    expect(staff.locator(".ticket-head .badge.status-resolved")).to_have_text("Resolved")

    # The customer's private link, opened in a fresh browser, shows the outcome.
    fresh = browsing.new_page()
    fresh.goto(tracking_url)
    fresh.wait_for_url(f"**/case/{reference}")
    assert "/track/" not in fresh.url  # the token leaves the address bar (I4)
    expect(fresh.locator("#case-status")).to_have_text("Resolved")
    expect(fresh.locator(".outcome")).to_contain_text(SUMMARY)
    expect(fresh.get_by_role("heading", level=1)).to_have_text(CUSTOMER["subject"])
    browsing.screenshot(fresh, "case")
    browsing.assert_clean()


def test_invalid_complaint_shows_each_field_error_and_keeps_what_was_typed(browsing):
    """No email or phone (R2), no consent, no subject: every error is shown, nothing typed is lost."""
    browsing.allow_console_error("status of 422")
    page = browsing.new_page()
    page.goto("/complaints/new")
    page.get_by_label("Your name").fill("Kim Min-jun")
    page.get_by_label("What is it about?", exact=True).select_option(label="Product quality")
    description = "The delivery arrived broken.\nThe box was crushed on one side."
    page.get_by_label("What happened?").fill(description)
    page.get_by_label("Order or contract number").fill("ORD-778812")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Send complaint").click()
    assert answer.value.status == 422
    page.wait_for_load_state()

    expect(page.locator(".error-summary")).to_contain_text("Please correct the marked fields")
    expect(page.locator(".field-invalid")).to_have_count(3)
    expect(page.locator(".field-invalid", has=page.get_by_label("Subject"))).to_contain_text(
        "This field is required."
    )
    expect(page.locator(".field-invalid", has=page.get_by_label("Phone", exact=True))).to_contain_text(
        "Give an email address or a phone number so we can reply."
    )
    expect(page.locator(".field-invalid")).to_contain_text(["We need your consent to handle the complaint."])
    expect(page.get_by_label("Subject")).to_have_attribute("aria-invalid", "true")

    expect(page.get_by_label("Your name")).to_have_value("Kim Min-jun")
    expect(page.get_by_label("What happened?")).to_have_value(description)
    expect(page.get_by_label("Order or contract number")).to_have_value("ORD-778812")
    category = page.get_by_label("What is it about?", exact=True)
    expect(category.locator("option:checked")).to_have_text("Product quality")
    # The send button is usable again for the corrected form.
    expect(page.get_by_role("button", name="Send complaint")).to_be_enabled()
    browsing.assert_clean()


def test_each_label_on_the_ticket_page_names_its_own_box_so_a_note_never_lands_in_the_reply(
    browsing, sign_in, three_tickets
):
    """WCAG 1.3.1 / 4.1.1: the "Internal note" label must lead to the note box. If it led to the
    customer reply box, a click on the label (or a screen reader) would put internal text in a
    message the customer reads."""
    staff = sign_in("resp_a1")
    staff.locator("#queue-rows tbody tr", has_text=three_tickets["kettle"]).get_by_role("link").first.click()
    staff.wait_for_url(re.compile(r"/staff/tickets/\d+$"))
    expect(staff.get_by_label("Internal note")).to_have_count(1)
    expect(staff.locator("#note").get_by_label("Internal note")).to_have_count(1)
    expect(staff.locator("#reply").get_by_label("Reply to the customer")).to_have_count(1)
    duplicated = staff.evaluate(
        """() => {
            const ids = [...document.querySelectorAll("input:not([type=hidden]), textarea, select")]
                .map((e) => e.id).filter(Boolean);
            return ids.filter((id, i) => ids.indexOf(id) !== i);
        }"""
    )
    assert duplicated == [], f"form controls sharing an id: {duplicated}"
    browsing.assert_clean()


@pytest.fixture
def three_tickets(live):  # type: ignore[no-untyped-def]
    """Department A: a new kettle complaint, a new tap complaint, and a toaster one in progress."""
    with live.app.app_context():
        org = live.org()
        now = datetime.now(UTC)
        references = {}
        for key, subject in (
            ("kettle", "Kettle stopped working"),
            ("tap", "Leaking tap in the showroom"),
            ("toaster", "Toaster burns the bread"),
        ):
            ticket = make_ticket(db.session, org, str(live.upload_dir), subject=subject, now=now)
            references[key] = ticket.reference
            if key == "toaster":
                tickets.claim(
                    db.session,
                    org.users["resp_a2"],
                    ticket,
                    now=now,
                    rules=rules_for_tests(str(live.upload_dir)),
                )
        db.session.remove()
    return references


def visible_references(page: Page) -> list[str]:
    return sorted(page.locator("#queue-rows tbody td[data-label='Reference']").all_inner_texts())


def test_queue_filters_refresh_rows_in_place_with_htmx(browsing, sign_in, three_tickets):
    staff = sign_in("resp_a1")
    expect(staff.locator("#queue-rows tbody tr")).to_have_count(3)
    mark_document(staff)

    # Typing in the search box refreshes the rows after a pause, without a page load.
    with staff.expect_response(lambda r: "/staff/queue?" in r.url and "q=kettle" in r.url) as searched:
        staff.locator("#q").press_sequentially("kettle", delay=20)
    assert searched.value.request.headers.get("hx-target") == "queue-rows"
    expect(staff.locator("#queue-rows tbody tr")).to_have_count(1)
    assert visible_references(staff) == [three_tickets["kettle"]]
    assert still_same_document(staff)
    assert "q=kettle" in staff.url  # hx-push-url: the filtered view can be bookmarked

    # Changing the status select refreshes them again.
    staff.locator("#q").fill("")
    with staff.expect_response(lambda r: "status=in_progress" in r.url) as filtered:
        staff.get_by_label("Status").select_option(label="In progress")
    assert filtered.value.request.headers.get("hx-target") == "queue-rows"
    expect(staff.locator("#queue-rows tbody td[data-label='Owner']")).to_have_text("Resp A2")
    assert visible_references(staff) == [three_tickets["toaster"]]
    assert still_same_document(staff)
    # Only the rows were swapped: the filter form and the tabs are the original elements.
    expect(staff.locator("form.filters")).to_have_count(1)
    expect(staff.locator("#queue-rows")).to_have_count(1)
    browsing.assert_clean()


def test_claiming_right_after_a_search_shows_the_row_as_claimed(browsing, sign_in, three_tickets):
    """R6 in the queue: search, then click Claim at once. Leaving the search box fires the filter
    form's `change` trigger, so a rows refresh races the claim; the row must end up showing the
    new owner, never a stale "Unassigned" row with a Claim button that now fails."""
    staff = sign_in("resp_a1")
    with staff.expect_response(lambda r: "q=kettle" in r.url):
        staff.locator("#q").press_sequentially("kettle", delay=20)
    row = staff.locator("#queue-rows tbody tr", has_text=three_tickets["kettle"])
    expect(staff.locator("#queue-rows tbody tr")).to_have_count(1)
    with staff.expect_response(lambda r: r.url.endswith("/claim")) as claimed:
        row.get_by_role("button", name="Claim").click()
    assert claimed.value.status == 200
    staff.wait_for_load_state("networkidle")
    expect(row.locator("td[data-label='Owner']")).to_have_text("Resp A1")
    expect(row.get_by_role("button", name="Claim")).to_have_count(0)
    browsing.assert_clean()


def test_queue_filters_work_with_javascript_disabled(browsing, sign_in, three_tickets):
    """Progressive enhancement: the filter form is an ordinary GET form underneath htmx."""
    staff = sign_in("resp_a1", java_script_enabled=False)
    expect(staff.locator("#queue-rows tbody tr")).to_have_count(3)

    staff.locator("#q").fill("tap")
    staff.get_by_role("button", name="Apply").click()
    staff.wait_for_url(re.compile(r"/staff/queue\?.*q=tap"))
    assert visible_references(staff) == [three_tickets["tap"]]
    expect(staff.locator("#q")).to_have_value("tap")

    staff.locator("#q").fill("")
    staff.get_by_label("Status").select_option(label="In progress")
    staff.get_by_role("button", name="Apply").click()
    staff.wait_for_url(re.compile(r"/staff/queue\?.*status=in_progress"))
    assert visible_references(staff) == [three_tickets["toaster"]]
    expect(staff.get_by_label("Status").locator("option:checked")).to_have_text("In progress")
    browsing.assert_clean()

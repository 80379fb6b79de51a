"""security.md B1 (ASVS 5.3.3): stored XSS through every field a customer or responder fills in.

The payloads go in through the real forms and come out on the queue (whole page and htmx
fragments), the ticket page and the customer's case page. No dialog may open, no injected element
may appear, and every payload must be shown as the literal text that was typed.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
NAME = f"Wang {SCRIPT}"
SUBJECT = f"Kettle {IMG}"
DESCRIPTION = f"It broke. {SCRIPT}\nSecond line {IMG}"
ADDRESS = f"12 Garden Road {IMG}"
ABOUT = f"Branch {SCRIPT}"
REPLY = f"We are sorry {IMG} {SCRIPT}"
NOTE = f"Internal {SCRIPT} {IMG}"


def assert_nothing_injected(page: Page) -> None:
    """No element the payloads would create exists in the document."""
    injected = page.evaluate(
        """() => ({
            inlineScripts: document.querySelectorAll("script:not([src])").length,
            images: document.querySelectorAll("img").length,
            onerror: document.querySelectorAll("[onerror]").length,
        })"""
    )
    assert injected == {"inlineScripts": 0, "images": 0, "onerror": 0}, page.url


def test_script_and_markup_in_every_field_are_shown_as_text_never_run_b1(browsing, sign_in):
    requested: list[str] = []

    def watch_requests(page: Page) -> Page:
        page.on("request", lambda request: requested.append(request.url))
        return page

    # The customer files the payloads through the public form.
    customer = watch_requests(browsing.new_page())
    customer.goto("/complaints/new")
    customer.get_by_label("Your name").fill(NAME)
    customer.get_by_label("Email", exact=True).fill("wang@example.org")
    customer.get_by_label("Postal address").fill(ADDRESS)
    customer.get_by_label("What is it about?", exact=True).select_option(label="Product quality")
    customer.get_by_label("Subject").fill(SUBJECT)
    customer.get_by_label("What happened?").fill(DESCRIPTION)
    customer.get_by_label("Who or what is it about?").fill(ABOUT)
    customer.get_by_label("Order or contract number").fill(IMG)
    customer.get_by_label("I agree that my details are used").check()
    customer.get_by_role("button", name="Send complaint").click()
    customer.wait_for_url(re.compile(r"/filed/"))
    reference = customer.locator("#reference").inner_text().strip()
    assert_nothing_injected(customer)

    # The responder's queue: the whole page, then an htmx fragment (search), then a claimed row.
    staff = watch_requests(sign_in("resp_a1"))
    row = staff.locator("#queue-rows tbody tr", has_text=reference)
    expect(row.locator("td[data-label='Subject']")).to_have_text(SUBJECT)
    expect(row.locator("td[data-label='Customer']")).to_have_text(NAME)
    assert_nothing_injected(staff)

    with staff.expect_response(lambda r: "q=onerror" in r.url):
        staff.locator("#q").press_sequentially("onerror", delay=10)
    expect(row.locator("td[data-label='Subject']")).to_have_text(SUBJECT)
    expect(row.locator("td[data-label='Customer']")).to_have_text(NAME)
    assert_nothing_injected(staff)

    with staff.expect_response(lambda r: r.url.endswith("/claim")):
        row.get_by_role("button", name="Claim").click()
    expect(row.locator("td[data-label='Owner']")).to_have_text("Resp A1")
    expect(row.locator("td[data-label='Subject']")).to_have_text(SUBJECT)
    assert_nothing_injected(staff)

    # The ticket page shows every field literally; the responder adds a note and a reply with P.
    row.get_by_role("link", name=reference).click()
    staff.wait_for_url(re.compile(r"/staff/tickets/\d+$"))
    expect(staff.get_by_role("heading", level=1)).to_have_text(SUBJECT)
    expect(staff.locator(".description")).to_have_text(DESCRIPTION)
    side = staff.locator(".ticket-side")
    expect(side.locator("dd", has_text=re.compile(r"^Wang "))).to_have_text(NAME)
    expect(side.locator("dd", has_text="Garden Road")).to_have_text(ADDRESS)
    details = staff.locator(".ticket-main dl.details")
    expect(details.locator("dd", has_text="Branch")).to_have_text(ABOUT)
    expect(details.locator("dd", has_text="onerror")).to_have_text(IMG)
    assert_nothing_injected(staff)

    # (Boxes found through their forms: both are id="body", see the label test in the journey file.)
    staff.locator("#note textarea").fill(NOTE)
    staff.get_by_role("button", name="Add internal note").click()
    expect(staff.locator("#ticket-timeline")).to_contain_text(NOTE)
    staff.locator("#reply textarea").fill(REPLY)
    staff.get_by_role("button", name="Send reply").click()
    expect(staff.locator("#ticket-timeline")).to_contain_text(REPLY)
    assert_nothing_injected(staff)

    # The customer's case page: subject, description and the reply, literally; the note not at all.
    customer.goto(f"/case/{reference}")
    expect(customer.get_by_role("heading", level=1)).to_have_text(SUBJECT)
    expect(customer.locator("p.pre", has_text="It broke.")).to_have_text(DESCRIPTION)
    expect(customer.locator(".timeline")).to_contain_text(REPLY)
    expect(customer.locator("body")).not_to_contain_text("Internal <script>")
    assert_nothing_injected(customer)

    # An <img src=x> that had been parsed would have been fetched.
    assert not [url for url in requested if re.search(r"/x(\?|$)", url)], requested
    browsing.assert_clean()  # no dialog opened, no console or page error

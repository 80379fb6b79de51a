"""The ladder issue's "Done when", in a real browser: a responder escalates to the lead (R9), the
lead proposes a refund above the threshold that waits for a manager (R11, R12), the manager
approves it, the customer reads the outcome and says it is not resolved (R15), and the complaint
reopens one tier up, at the manager (R16).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_complaint_journey import fill_complaint

pytestmark = pytest.mark.browser

CUSTOMER = {
    "name": "Li Na",
    "email": "li.na@example.org",
    "subject": "Washing machine flooded the kitchen",
    "description": "The new washing machine leaked on its first wash.\nThe kitchen floor is damaged.",
}
ESCALATION_REASON = "The customer asks for the floor repair to be paid; that is beyond what I may decide."
SUMMARY = "The inlet hose was faulty from the factory. We pay for the floor repair."
REPLY = "We are sorry about your kitchen floor. We refund CNY 800.00 for the repair to your card."


def file_complaint(page: Page) -> tuple[str, str]:
    """The customer files the complaint; returns its reference and private tracking link."""
    page.goto("/complaints/new")
    fill_complaint(page, **CUSTOMER)
    page.get_by_role("button", name="Send complaint").click()
    page.wait_for_url(re.compile(r"/filed/CP-\d{4}-\d{6}$"))
    reference = page.locator("#reference").inner_text().strip()
    tracking_url = page.locator("#tracking-link").get_attribute("href")
    assert tracking_url and "/track/" in tracking_url
    return reference, tracking_url


def open_case(browsing, tracking_url: str, reference: str) -> Page:  # type: ignore[no-untyped-def]
    """The customer's private link, opened in a fresh browser as they would from the mail."""
    page = browsing.new_page()
    page.goto(tracking_url)
    page.wait_for_url(f"**/case/{reference}")
    expect(page.get_by_role("heading", level=1)).to_have_text(CUSTOMER["subject"])
    return page


def open_ticket(page: Page, reference: str) -> None:
    page.get_by_role("link", name=reference).click()
    page.wait_for_url(re.compile(r"/staff/tickets/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(CUSTOMER["subject"])


def test_escalated_refund_waits_for_approval_and_an_unhappy_customer_reopens_it_at_the_manager(
    browsing, sign_in, live
):
    """R9: responder → lead; R11/R12: a refund of 800.00 (threshold 500.00) proposed by the lead
    reaches the customer only after a manager approves it; R15: the customer is asked whether it
    is resolved; R16: "no" reopens it in progress, one step up — lead → manager."""
    customer = browsing.new_page()
    reference, tracking_url = file_complaint(customer)

    # The responder of department A (category "Product quality", R5) claims it and escalates it.
    responder = sign_in("resp_a1")
    open_ticket(responder, reference)
    responder.get_by_role("button", name="Claim — I will own this").click()
    expect(responder.locator("#flash")).to_contain_text("You own this ticket now.")
    expect(responder.locator(".ticket-head .badge.tier-1")).to_have_text("Responder")
    responder.locator("details.action summary", has_text="Escalate to Department lead").click()
    responder.get_by_label("Why does this need the next tier?").fill(ESCALATION_REASON)
    responder.locator("form[action$='/escalate']").get_by_role("button", name="Escalate").click()
    expect(responder.locator("#flash")).to_contain_text("Escalated. The next tier has been told")
    expect(responder.locator(".ticket-head .badge.tier-2")).to_have_text("Department lead")
    expect(responder.locator(".ladder")).to_contain_text(ESCALATION_REASON)

    # The lead finds it among the complaints escalated to them and proposes a refund.
    lead = sign_in("lead_a")
    lead.goto("/manage/")
    expect(lead.get_by_role("heading", level=1)).to_have_text("Escalated to you")
    expect(lead.locator("table.list-table tbody tr", has_text=reference)).to_have_count(1)
    open_ticket(lead, reference)
    lead.locator("details.action summary", has_text="Resolve or propose a resolution").click()
    resolve = lead.locator("form[action$='/resolve']")
    resolve.get_by_label("Outcome").select_option(label="Refund or compensation")
    resolve.get_by_label("Amount (refund or compensation)").fill("800.00")
    resolve.get_by_label("Resolution summary").fill(SUMMARY)
    resolve.get_by_label("Reply the customer will read").fill(REPLY)
    resolve.get_by_role("button", name="Resolve").click()
    expect(lead.locator("#flash")).to_contain_text("Sent to a manager for approval.")
    expect(lead.locator(".ticket-head .badge.status-awaiting_approval")).to_have_text("Awaiting approval")
    pending = lead.locator("#pending-proposal")
    expect(pending).to_contain_text("Refund or compensation · CNY 800.00")
    expect(pending).to_contain_text("compensation above the threshold")
    expect(pending).to_contain_text(REPLY)
    browsing.screenshot(lead, "ladder-pending-approval")

    # R11: until a manager decides, the customer sees neither the amount nor the reply.
    waiting = open_case(browsing, tracking_url, reference)
    expect(waiting.locator("#case-status")).to_have_text("Being handled")
    expect(waiting.locator(".outcome")).to_have_count(0)
    expect(waiting.locator("#answer")).to_have_count(0)
    html = waiting.content()
    for secret in ("800.00", "800,00", REPLY, SUMMARY):
        assert secret not in html, f"the customer sees {secret!r} before the approval"
    mailed = [m.get_body(preferencelist=("plain",)).get_content() for m in live.mail_to(CUSTOMER["email"])]
    assert mailed, "the customer got no acknowledgement"
    assert not [text for text in mailed if "800.00" in text or REPLY in text], mailed

    # A manager (not the proposer, R12) approves it from the approvals inbox.
    manager = sign_in("mgr_1")
    manager.goto("/manage/approvals")
    card = manager.locator("article.proposal-card", has_text=reference)
    expect(card).to_have_count(1)
    expect(card).to_contain_text("CNY 800.00")
    expect(card).to_contain_text("Proposed by Lead A")
    browsing.screenshot(manager, "approvals")
    card.get_by_role("button", name="Approve").click()
    expect(manager.locator("#flash")).to_contain_text("Approved. The customer can now see the outcome.")
    expect(manager.locator("article.proposal-card", has_text=reference)).to_have_count(0)
    outcome_mail = [m for m in live.mail_to(CUSTOMER["email"]) if "outcome" in str(m["Subject"])]
    assert len(outcome_mail) == 1
    assert REPLY in outcome_mail[0].get_body(preferencelist=("plain",)).get_content()

    # R15: the customer reads the outcome and is asked whether it is resolved for them.
    decided = open_case(browsing, tracking_url, reference)
    expect(decided.locator("#case-status")).to_have_text("Resolved")
    expect(decided.locator(".outcome")).to_contain_text(REPLY)
    answer = decided.locator("#answer")
    expect(answer.get_by_role("heading", name="Is it resolved for you?")).to_be_visible()
    browsing.screenshot(decided, "case-answer-form")
    answer.get_by_label("No, it is not resolved").check()
    answer.get_by_label("How satisfied are you with how we handled it?").select_option("2")
    answer.get_by_role("button", name="Send my answer").click()
    decided.wait_for_url(f"**/case/{reference}")
    expect(decided.locator("#flash")).to_contain_text("Your complaint is reopened")
    expect(decided.locator("#case-status")).to_have_text("Being handled")
    expect(decided.locator("#answer")).to_have_count(0)

    # R16: in progress again, one step up the ladder — from the lead's tier to the manager's.
    manager.goto("/manage/")
    expect(manager.get_by_role("heading", level=1)).to_have_text("At the manager tier")
    open_ticket(manager, reference)
    head = manager.locator(".ticket-head")
    expect(head.locator(".badge[class*='status-']")).to_have_text("In progress")
    expect(head.locator(".badge[class*='tier-']")).to_have_text("Manager")
    expect(manager.locator("dl.details", has_text="Customer's answer")).to_contain_text(
        "Not resolved for them · 2/5"
    )
    expect(manager.locator(".ladder li").last).to_contain_text("Department lead → Manager")
    browsing.screenshot(manager, "ladder-reopened")
    browsing.assert_clean()

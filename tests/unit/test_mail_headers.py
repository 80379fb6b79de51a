"""Mail that receiving servers trust (issue 15.4): a Date, a Message-ID on our own domain that
stays the same on every attempt, and the messages of one case threaded together."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest

from portal.notifications.senders import DeliveryError, OutgoingMail, build_message, message_domain

AT = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def mail(**changes: object) -> OutgoingMail:
    fields: dict[str, object] = {
        "to": "Wang Fang <wang@example.org>",
        "subject": "CP-2026-000123: we have your complaint",
        "text": "Thank you.",
        "html": None,
        "message_id_seed": "42",
        "sent_at": AT,
        "thread_seed": "123",
    }
    fields.update(changes)
    return OutgoingMail(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("config", "domain"),
    [
        pytest.param(
            {"BASE_URL": "https://complaints.example.cn/portal"}, "complaints.example.cn", id="base-url"
        ),
        pytest.param(
            {"BASE_URL": "https://a.example", "MAIL_DOMAIN": "mail.example"}, "mail.example", id="setting"
        ),
        pytest.param({"BASE_URL": ""}, "localhost", id="nothing-configured"),
    ],
)
def test_message_ids_end_in_the_configured_domain(config: dict[str, str], domain: str) -> None:
    assert message_domain(config) == domain


def test_a_message_has_a_date_and_a_stable_message_id() -> None:
    first = build_message(mail(), "Complaints <complaints@example.cn>", "example.cn")
    again = build_message(
        mail(sent_at=datetime(2026, 12, 2, 10, 0, tzinfo=UTC)), "x@example.cn", "example.cn"
    )
    assert parsedate_to_datetime(first["Date"]) == AT
    assert first["Message-ID"] == again["Message-ID"] == "<outbox-42@example.cn>"


def test_the_messages_of_one_case_thread_together() -> None:
    one = build_message(mail(message_id_seed="1"), "x@example.cn", "example.cn")
    two = build_message(mail(message_id_seed="2"), "x@example.cn", "example.cn")
    assert one["In-Reply-To"] == two["In-Reply-To"] == one["References"] == "<case-123@example.cn>"
    alone = build_message(mail(thread_seed=None), "x@example.cn", "example.cn")
    assert alone["In-Reply-To"] is None and alone["References"] is None


def test_line_breaks_in_a_recipient_never_make_a_header_of_their_own() -> None:
    message = build_message(mail(to="Wang\r\nBcc: spy@example.org <wang@example.org>"), "x@e.cn", "e.cn")
    assert message["Bcc"] is None
    assert "\n" not in message["To"]


def test_an_address_that_can_never_work_is_refused_for_good() -> None:
    with pytest.raises(DeliveryError) as refused:
        build_message(mail(to="not an address"), "x@example.cn", "example.cn")
    assert refused.value.permanent

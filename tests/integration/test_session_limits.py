"""ASVS 3.3.2 (D10): a staff session ends 30 minutes after the person's last request and 12 hours
after sign-in, whatever the page does by itself meanwhile (issue 12 hole 5).

The clock is moved, not waited for: the session guard and the sign-in stamp take the time from
`portal.web.context.now`, which these tests replace with a clock they turn forward.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from portal.web import context
from tests.conftest import base_config

START = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
POLL = {
    "HX-Request": "true",
    "HX-Target": "notification-count",
    "X-Background-Poll": "1",
    "HX-Current-URL": "http://portal.test/staff/queue?view=mine",
}
# After the first swap the count's own fragment polls on; it carries no header, and its endpoint
# alone must make it background.
FRAGMENT_POLL = {key: value for key, value in POLL.items() if key != "X-Background-Poll"}


class Clock:
    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> datetime:
        return self.at

    def forward(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    config = base_config(database_url, tmp_path)
    config.update(SESSION_IDLE_MINUTES=30, PERMANENT_SESSION_LIFETIME=12 * 3600)
    return config


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moved = Clock()
    monkeypatch.setattr(context, "now", moved)
    return moved


def signed_out(response: Any) -> bool:
    return response.status_code == 302 and "/auth/login" in response.headers["Location"]


def assert_sent_to_sign_in_as_a_whole_page(poll: Any) -> None:
    """Not a login form swapped into the header: 401 (htmx swaps no 4xx) and HX-Redirect."""
    assert poll.status_code == 401
    target = urlsplit(poll.headers["HX-Redirect"])
    assert target.path == "/auth/login"
    assert parse_qs(target.query) == {"next": ["/staff/queue?view=mine"]}  # back where they were
    body = poll.get_data(as_text=True)
    assert "<form" not in body and "password" not in body.lower()


@pytest.mark.parametrize("headers", [POLL, FRAGMENT_POLL], ids=["marked poll", "fragment's own poll"])
def test_header_polls_alone_do_not_keep_a_staff_session_alive_past_the_idle_limit(
    clock: Clock, login_as: Any, headers: dict[str, str]
) -> None:
    staff: FlaskClient = login_as("resp_a1")
    assert staff.get("/staff/queue").status_code == 200
    for _minute in range(10, 31, 10):  # a tab left open: the count asks every so often
        clock.forward(minutes=10)
        assert staff.get("/staff/notifications/count", headers=headers).status_code == 200
    clock.forward(minutes=1)  # 31 minutes after the person's last request
    assert_sent_to_sign_in_as_a_whole_page(staff.get("/staff/notifications/count", headers=headers))
    assert signed_out(staff.get("/staff/queue"))
    login_page = staff.get("/auth/login").get_data(as_text=True)
    assert "You were signed out after a period of inactivity" in login_page


def test_real_page_requests_keep_a_staff_session_alive_past_the_idle_limit(
    clock: Clock, login_as: Any
) -> None:
    staff: FlaskClient = login_as("resp_a1")
    for _step in range(6):  # two hours of work, a page every 20 minutes
        clock.forward(minutes=20)
        assert staff.get("/staff/queue").status_code == 200
        assert staff.get("/staff/notifications/count", headers=POLL).status_code == 200
    clock.forward(minutes=29)
    assert staff.get("/staff/notifications/count", headers=POLL).status_code == 200


def test_nothing_keeps_a_staff_session_past_its_absolute_lifetime(clock: Clock, login_as: Any) -> None:
    staff: FlaskClient = login_as("lead_a")
    for _step in range(36):  # a page every 20 minutes for 12 hours: never idle
        clock.forward(minutes=20)
        assert staff.get("/staff/queue").status_code == 200
    clock.forward(minutes=1)  # 12 hours and a minute after sign-in
    assert signed_out(staff.get("/staff/queue"))
    assert signed_out(staff.get("/staff/queue"))  # and it stays signed out
    assert "Your session has reached its time limit" in staff.get("/auth/login").get_data(as_text=True)


def test_a_poll_after_the_lifetime_sends_the_tab_to_the_sign_in_page(clock: Clock, login_as: Any) -> None:
    staff: FlaskClient = login_as("resp_a1")
    for _step in range(36):
        clock.forward(minutes=20)
        assert staff.get("/staff/queue").status_code == 200
    clock.forward(minutes=1)
    assert_sent_to_sign_in_as_a_whole_page(staff.get("/staff/notifications/count", headers=POLL))
    assert signed_out(staff.get("/staff/queue"))


def test_signing_in_again_starts_a_new_lifetime(clock: Clock, login_as: Any, org: Any) -> None:
    from tests.conftest import login

    staff: FlaskClient = login_as("resp_a1")
    clock.forward(hours=12, minutes=1)
    assert signed_out(staff.get("/staff/queue"))
    assert login(staff, org.users["resp_a1"].email).status_code == 303
    clock.forward(minutes=20)  # 12 h 21 min after the first sign-in, 20 min after this one
    assert staff.get("/staff/queue").status_code == 200


def test_a_session_with_no_sign_in_time_is_over(clock: Clock, login_as: Any) -> None:
    """A cookie from before the stamp existed (or one stripped of it) is not a session."""
    staff: FlaskClient = login_as("resp_a1")
    with staff.session_transaction() as session:
        del session["signed_in_at"]
    assert signed_out(staff.get("/staff/queue"))

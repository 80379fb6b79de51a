"""Behind a reverse proxy every customer keeps their own address (issue 15.1).

With TRUSTED_PROXIES=1 the client address is the one the proxy appended to X-Forwarded-For, so
rate limits and audit rows follow the real client; with 0 (the default) the header is ignored,
so a client cannot forge its way out of a limit or into someone else's audit row.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditLog
from tests.conftest import post_form
from tests.factories import Org

PROXY = {"REMOTE_ADDR": "10.0.0.2"}  # what the app sees: the proxy's own address


def forwarded(*addresses: str) -> dict[str, str]:
    return {"X-Forwarded-For": ", ".join(addresses)}


def file_empty_complaint(client: FlaskClient, *addresses: str) -> int:
    """An empty form: 422, but it counts against the filing limit like any other POST."""
    return client.post(
        "/complaints/new", data={}, headers=forwarded(*addresses), environ_base=PROXY
    ).status_code


def limited(config: dict[str, Any], proxies: int) -> dict[str, Any]:
    return {
        **config,
        "TRUSTED_PROXIES": proxies,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_FILE_COMPLAINT": "2/minute",
    }


@pytest.fixture
def app_config(app_config: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    return limited(app_config, getattr(request, "param", 0))


@pytest.mark.parametrize("app_config", [1], indirect=True)
def test_behind_a_trusted_proxy_each_customer_has_their_own_limit(client: FlaskClient) -> None:
    assert [file_empty_complaint(client, "203.0.113.7") for _ in range(3)] == [422, 422, 429]
    assert file_empty_complaint(client, "198.51.100.4") == 422  # another customer is not blocked


@pytest.mark.parametrize("app_config", [1], indirect=True)
def test_a_forged_entry_before_the_proxys_own_is_not_believed(client: FlaskClient) -> None:
    """The client wrote 1.2.3.4 itself; the proxy appended the address it really saw."""
    statuses = [file_empty_complaint(client, f"1.2.3.{n}", "203.0.113.7") for n in range(3)]
    assert statuses == [422, 422, 429]


def test_without_trusted_proxies_the_header_is_ignored(client: FlaskClient) -> None:
    statuses = [file_empty_complaint(client, f"203.0.113.{n}") for n in range(3)]
    assert statuses == [422, 422, 429]  # a new forged address each time does not escape the limit


@pytest.mark.parametrize(
    ("app_config", "recorded"), [(1, "203.0.113.7"), (0, "10.0.0.2")], indirect=["app_config"]
)
def test_audit_rows_record_the_client_only_through_a_trusted_proxy(
    client: FlaskClient, org: Org, recorded: str
) -> None:
    post_form(
        client,
        "/auth/login",
        {"email": "nobody@example.org", "password": "wrong-password"},
        page="/auth/login",
        headers=forwarded("203.0.113.7"),
        environ_base=PROXY,
    )
    assert db.session.scalar(select(AuditLog.ip).order_by(AuditLog.id.desc())) == recorded

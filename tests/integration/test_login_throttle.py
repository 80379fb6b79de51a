"""D1 (ASVS 2.2.1): sign-in attempts are limited per account, whichever address they come from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import base_config, fresh_token


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    config = base_config(database_url, tmp_path)
    config.update(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="50/minute", RATELIMIT_LOGIN_ACCOUNT="3/hour")
    return config


def attempt(client: Any, email: str, address: str) -> int:
    token = fresh_token(client, "/auth/login")
    response = client.post(
        "/auth/login",
        data={"csrf_token": token, "email": email, "password": "wrong-password-123"},
        environ_base={"REMOTE_ADDR": address},
    )
    return response.status_code


def test_rotating_addresses_do_not_buy_more_guesses_at_one_account__d1(app, org):
    client = app.test_client()
    statuses = [attempt(client, "resp_a1@example.com", f"203.0.113.{n}") for n in range(1, 5)]
    assert statuses == [422, 422, 422, 429]
    # Another account is not locked out by someone guessing at resp_a1's.
    assert attempt(client, "resp_a2@example.com", "203.0.113.9") == 422

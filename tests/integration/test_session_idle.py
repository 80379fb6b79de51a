"""ASVS 3.3.2: a staff session left idle is signed out; activity keeps it alive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import base_config


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    config = base_config(database_url, tmp_path)
    config["SESSION_IDLE_MINUTES"] = 30
    return config


def test_an_idle_staff_session_is_signed_out_and_an_active_one_is_not(app, org, login_as):
    staff = login_as("resp_a1")
    assert staff.get("/staff/queue").status_code == 200
    with staff.session_transaction() as session:
        session["last_seen"] -= 29 * 60  # active within the limit
    assert staff.get("/staff/queue").status_code == 200
    with staff.session_transaction() as session:
        session["last_seen"] -= 31 * 60  # idle past the limit
    response = staff.get("/staff/queue")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert staff.get("/staff/queue").status_code == 302  # and it stays signed out

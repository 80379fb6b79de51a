"""Two-step sign-in for the people who can do the most (issue 12; security.md §6.4).

ASVS 4.3.1 (administrative interfaces use multi-factor authentication), 2.8.1 (a time-based code
lives one step either side of now), 2.8.4/2.8.5 (a code is accepted once; a replay is refused and
logged), 2.6.1/2.6.2 (recovery codes are single-use and stored salted and hashed), 2.2.1 (codes are
rate-limited like passwords), 3.3.3/v5 7.4.2 (a reset signs the person out everywhere), 3.7.1 and
D8 (changing it needs the password; Zammad CVE-2025-32359), 7.2.1/M1 (every step is audited).

Codes are computed with pyotp from the secret the database holds (unsealed with the app's key), at
a clock the tests move: the guards, the sign-in stamp and the code checks all read
`portal.web.context.now`, which these tests replace.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditLog, RecoveryCode, User
from portal.services import two_factor
from portal.web import context
from tests.conftest import base_config, fresh_token, post_form
from tests.factories import PASSWORD, Org

START = datetime(2026, 11, 16, 8, 0, 10, tzinfo=UTC)  # 10 s into a 30-second step
VERIFY = "/auth/two-factor/verify"
PRODUCTION_KEY = "a-production-secret-key-of-40-characters!"
WRONG = "That code is not right, or it has been used already."


class Clock:
    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> datetime:
        return self.at

    def forward(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def app_config(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Per-test overrides through indirect parametrisation (production, rate limits)."""
    config = base_config(database_url, tmp_path)
    config.update(getattr(request, "param", {}))
    return config


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moved = Clock()
    monkeypatch.setattr(context, "now", moved)
    return moved


# --- helpers -------------------------------------------------------------------------------------


def key(app: Flask) -> two_factor.SealingKey:
    return two_factor.sealing_key(app.config["SECRET_KEY"])


def fresh(user_id: int) -> User:
    db.session.expire_all()
    user = db.session.get(User, user_id)
    assert user is not None
    return user


def code_at(secret: str, moment: datetime, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(moment + timedelta(seconds=30 * steps))


def not_a_code(secret: str, moment: datetime) -> str:
    """Six digits that are none of the codes accepted around `moment`."""
    valid = {code_at(secret, moment, step) for step in (-1, 0, 1)}
    return next(candidate for candidate in ("000000", "111111", "222222", "333333") if candidate not in valid)


def enrol(app: Flask, user: User, clock: Clock) -> tuple[str, list[str]]:
    """Turn two-step sign-in on through the services, confirming with the code of the step before
    now (so the current step's code is still unused); return the secret and the recovery codes."""
    two_factor.start(db.session, user, PASSWORD, key=key(app))
    secret = two_factor.pending_secret(user, key(app))
    assert secret is not None
    codes = two_factor.confirm(db.session, user, code_at(secret, clock.at, -1), now=clock.at, key=key(app))
    return secret, codes


def stored_secret(app: Flask, user_id: int) -> str:
    return two_factor.active_secret(fresh(user_id), key(app))


def password_step(client: FlaskClient, email: str, next_url: str | None = None) -> Any:
    query = {"next": next_url} if next_url else None
    data = {"email": email, "password": PASSWORD}
    return post_form(client, "/auth/login", data, page="/auth/login", query_string=query)


def code_step(client: FlaskClient, code: str) -> Any:
    return post_form(client, VERIFY, {"code": code}, page=VERIFY)


def signed_in_with(app: Flask, user: User, code: str) -> FlaskClient:
    client = app.test_client()
    response = password_step(client, user.email)
    assert (response.status_code, response.location) == (303, VERIFY)
    response = code_step(client, code)
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


def is_signed_out(client: FlaskClient) -> bool:
    response = client.get("/staff/queue")
    return response.status_code == 302 and response.location.startswith("/auth/login")


def audit_rows(*actions: str) -> list[tuple[str, str, int | None, str | None]]:
    db.session.expire_all()
    rows = db.session.scalars(select(AuditLog).where(AuditLog.action.in_(actions)).order_by(AuditLog.id))
    return [(r.action, r.outcome, r.actor_id, r.target) for r in rows]


def session_data(app: Flask, client: FlaskClient) -> dict[str, Any]:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return dict(app.session_interface.get_signing_serializer(app).loads(cookie.value))


# --- enrolment ------------------------------------------------------------------------------------


def test_enrolment_shows_qr_and_key_and_is_on_only_after_password_and_right_code__asvs_4_3_1_2_8_1(
    app: Flask, org: Org, login_as: Any, clock: Clock
) -> None:
    manager = org.users["mgr_1"]
    client = login_as("mgr_1")
    page = client.get("/auth/two-factor")
    assert page.status_code == 200
    assert "please protect your account with two-step sign-in" in page.get_data(as_text=True)

    wrong_password = post_form(
        client, "/auth/two-factor/start", {"password": "not-my-password-1"}, page="/auth/two-factor"
    )
    assert wrong_password.status_code == 422
    assert "That is not your current password." in wrong_password.get_data(as_text=True)
    assert fresh(manager.id).totp_pending_secret is None

    started = post_form(client, "/auth/two-factor/start", {"password": PASSWORD}, page="/auth/two-factor")
    assert (started.status_code, started.location) == (303, "/auth/two-factor")
    secret = two_factor.pending_secret(fresh(manager.id), key(app))
    assert secret is not None and len(secret) == 32  # 160 bits
    html = client.get("/auth/two-factor").get_data(as_text=True)
    qr = re.search(r'<img src="data:image/svg\+xml;charset=utf-8,([^"]+)"', html)
    assert qr, "no QR code drawn as a data: URI (CSP allows img-src 'self' data:)"
    assert ElementTree.fromstring(unquote(qr.group(1))).tag.endswith("svg")  # noqa: S314 - our own output
    uri = two_factor.provisioning_uri(secret, manager.email, app.config["ORG_NAME"])
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri and "issuer=" in uri
    grouped = " ".join(secret[i : i + 4] for i in range(0, 32, 4))
    assert grouped in html  # and the key as text, for typing in by hand
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and " style=" not in html  # CSP: nothing inline
    # The secret is kept server-side, sealed; the session cookie never carries it.
    assert secret not in str(session_data(app, client)) and secret not in client.get_cookie("session").value
    assert secret not in (fresh(manager.id).totp_pending_secret or "")
    assert fresh(manager.id).totp_secret is None

    wrong = post_form(
        client, "/auth/two-factor/confirm", {"code": not_a_code(secret, clock.at)}, page="/auth/two-factor"
    )
    assert wrong.status_code == 422
    assert "That code is not right." in wrong.get_data(as_text=True)
    assert fresh(manager.id).totp_secret is None  # still off

    right = post_form(
        client, "/auth/two-factor/confirm", {"code": code_at(secret, clock.at)}, page="/auth/two-factor"
    )
    assert right.status_code == 200
    assert right.headers["Cache-Control"] == "no-store, private"  # shown once, kept by no cache
    shown = re.findall(
        r"<code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code>", right.get_data(as_text=True)
    )
    assert len(set(shown)) == 10
    user = fresh(manager.id)
    assert user.two_factor_on and user.totp_pending_secret is None
    assert user.totp_last_step == int(clock.at.timestamp()) // 30  # the confirming code is spent
    assert stored_secret(app, manager.id) == secret
    assert client.get("/staff/queue").status_code == 200  # this session goes on
    assert client.get("/auth/two-factor").get_data(as_text=True).count("Recovery codes left") == 1
    target = f"user:{manager.id}"
    assert audit_rows("auth.start_two_factor", "auth.confirm_two_factor") == [
        ("auth.start_two_factor", "ok", manager.id, target),
        ("auth.confirm_two_factor", "ok", manager.id, target),
    ]


def test_turning_two_step_on_ends_the_accounts_other_sessions__asvs_3_3_3(
    app: Flask, org: Org, login_as: Any, clock: Clock
) -> None:
    laptop, phone = login_as("mgr_1"), login_as("mgr_1")
    post_form(laptop, "/auth/two-factor/start", {"password": PASSWORD}, page="/auth/two-factor")
    secret = two_factor.pending_secret(fresh(org.users["mgr_1"].id), key(app))
    assert secret is not None
    confirmed = post_form(
        laptop, "/auth/two-factor/confirm", {"code": code_at(secret, clock.at)}, page="/auth/two-factor"
    )
    assert confirmed.status_code == 200
    assert is_signed_out(phone), "a session opened with the password alone outlived turning two-step on"
    assert not is_signed_out(laptop)


def test_secrets_are_sealed_at_rest_and_recovery_codes_kept_only_salted_and_hashed__asvs_2_6_2(
    app: Flask, org: Org, clock: Clock
) -> None:
    manager, lead = org.users["mgr_1"], org.users["lead_a"]
    secret, codes = enrol(app, manager, clock)
    sealed = fresh(manager.id).totp_secret
    assert sealed is not None and secret not in sealed
    with pytest.raises(two_factor.UnreadableSecret):  # another SECRET_KEY opens nothing
        two_factor.unseal(
            sealed, two_factor.sealing_key("some-other-secret-key"), f"user:{manager.id}:active"
        )
    # A sealed secret copied onto another account does not open there.
    lead_row = fresh(lead.id)
    lead_row.totp_secret = sealed
    db.session.commit()
    with pytest.raises(two_factor.UnreadableSecret):
        two_factor.active_secret(fresh(lead.id), key(app))
    rows = db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == manager.id)).all()
    assert len(rows) == 10 and len({row.salt for row in rows}) == 10
    stored = " ".join(f"{row.salt} {row.code_hash}" for row in rows)
    for code in codes:
        assert code.replace("-", "") not in stored and code not in stored


# --- signing in -----------------------------------------------------------------------------------


def test_with_two_step_on_the_password_alone_does_not_sign_in_and_the_code_does__asvs_4_3_1_7_2_1(
    app: Flask, org: Org, clock: Clock
) -> None:
    manager = org.users["mgr_1"]
    secret, _codes = enrol(app, manager, clock)
    client = app.test_client()
    first = password_step(client, manager.email, next_url="/staff/callbacks")
    assert (first.status_code, first.location) == (303, VERIFY)
    assert "_user_id" not in session_data(app, client)  # not signed in: Flask-Login knows nobody
    assert is_signed_out(client)
    assert client.get(VERIFY).status_code == 200

    assert code_step(client, not_a_code(secret, clock.at)).status_code == 422
    done = code_step(client, code_at(secret, clock.at))
    assert (done.status_code, done.location) == (303, "/staff/callbacks")  # where they were going
    assert client.get("/staff/queue").status_code == 200
    target = f"user:{manager.id}"
    assert audit_rows("login", "login_2fa") == [
        ("login", "password_ok", manager.id, None),
        ("login_2fa", "failed", manager.id, f"{target}:wrong"),
        ("login_2fa", "ok", manager.id, target),
    ]


def test_a_half_signed_in_session_opens_no_staff_or_admin_page__asvs_4_3_1_f10(
    app: Flask, org: Org, clock: Clock
) -> None:
    for persona in ("mgr_1", "admin"):
        enrol(app, org.users[persona], clock)
    manager, admin = app.test_client(), app.test_client()
    assert password_step(manager, org.users["mgr_1"].email).location == VERIFY
    assert password_step(admin, org.users["admin"].email).location == VERIFY
    for client, url in (
        (manager, "/staff/queue"),
        (manager, "/manage/approvals"),
        (admin, "/admin/users"),
        (admin, "/admin/settings"),
        (manager, "/auth/password"),
        (manager, "/auth/two-factor"),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response.location.startswith("/auth/login"), url
    assert post_form(admin, "/admin/settings", {"spot_check_percent": "1"}, page=VERIFY).status_code == 401
    assert (
        post_form(manager, "/auth/two-factor/disable", {"password": PASSWORD}, page=VERIFY).status_code == 302
    )
    assert fresh(org.users["mgr_1"].id).two_factor_on


def test_the_code_step_expires_and_the_password_is_asked_again(app: Flask, org: Org, clock: Clock) -> None:
    manager = org.users["mgr_1"]
    secret, _codes = enrol(app, manager, clock)
    client = app.test_client()
    password_step(client, manager.email)
    token = fresh_token(client, VERIFY)  # the page was open in time...
    clock.forward(seconds=app.config["TWO_FACTOR_PENDING_SECONDS"] + 1)
    late = client.post(
        VERIFY, data={"csrf_token": token, "code": code_at(secret, clock.at)}
    )  # ...the code not
    assert (late.status_code, late.location) == (303, "/auth/login")
    assert is_signed_out(client)


def test_a_code_used_once_is_refused_the_second_time_and_the_replay_is_logged__asvs_2_8_4_2_8_5(
    app: Flask, org: Org, clock: Clock
) -> None:
    manager = org.users["mgr_1"]
    secret, _codes = enrol(app, manager, clock)
    code = code_at(secret, clock.at)
    first = signed_in_with(app, manager, code)
    again = app.test_client()
    password_step(again, manager.email)
    replayed = code_step(again, code)
    assert replayed.status_code == 422
    assert WRONG in replayed.get_data(as_text=True)
    assert is_signed_out(again)
    assert not is_signed_out(first)
    assert audit_rows("login_2fa")[-1] == ("login_2fa", "failed", manager.id, f"user:{manager.id}:replayed")
    # Nor does an older code work once a newer one was used.
    clock.forward(seconds=30)
    signed_in_with(app, manager, code_at(secret, clock.at))
    older = app.test_client()
    password_step(older, manager.email)
    assert code_step(older, code_at(secret, clock.at, -1)).status_code == 422


def test_codes_one_step_either_side_of_now_are_accepted_two_steps_are_not__asvs_2_8_1(
    app: Flask, org: Org, clock: Clock
) -> None:
    manager = org.users["mgr_1"]
    secret, _codes = enrol(app, manager, clock)
    clock.forward(seconds=90)

    def attempt(steps: int) -> int:
        client = app.test_client()
        password_step(client, manager.email)
        return int(code_step(client, code_at(secret, clock.at, steps)).status_code)

    assert attempt(-2) == 422
    assert attempt(-1) == 303
    assert attempt(+1) == 303
    assert attempt(+2) == 422


def test_a_recovery_code_signs_in_once__asvs_2_6_1(app: Flask, org: Org, clock: Clock) -> None:
    manager = org.users["mgr_1"]
    _secret, codes = enrol(app, manager, clock)
    client = app.test_client()
    password_step(client, manager.email)
    used = code_step(client, codes[0])
    assert (used.status_code, used.location) == (303, "/staff/queue")
    assert "You used a recovery code; 9 are left." in client.get("/staff/queue").get_data(as_text=True)
    second = app.test_client()
    password_step(second, manager.email)
    assert code_step(second, codes[0]).status_code == 422
    assert is_signed_out(second)
    assert code_step(second, codes[1].upper().replace("-", " ")).status_code == 303  # typed loosely
    assert audit_rows("login_2fa")[-2:] == [
        ("login_2fa", "failed", manager.id, f"user:{manager.id}:replayed"),
        ("login_2fa", "ok", manager.id, f"user:{manager.id}"),
    ]


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True}], indirect=True)
def test_wrong_codes_are_throttled_like_passwords_and_each_is_audited__d1_asvs_2_2_1(
    app: Flask, org: Org, clock: Clock
) -> None:
    manager = org.users["mgr_1"]
    secret, _codes = enrol(app, manager, clock)
    attacker = app.test_client()
    password_step(attacker, manager.email)
    wrong = not_a_code(secret, clock.at)
    assert [code_step(attacker, wrong).status_code for _n in range(5)] == [422] * 5
    throttled = code_step(attacker, code_at(secret, clock.at))
    assert throttled.status_code == 429
    assert "Too many attempts" in throttled.get_data(as_text=True)
    assert is_signed_out(attacker)
    assert [row[1] for row in audit_rows("login_2fa")] == ["failed"] * 5


def test_a_session_of_a_two_step_account_without_the_second_step_mark_is_not_signed_in__asvs_4_3_1(
    app: Flask, org: Org, clock: Clock
) -> None:
    """Defence in depth: however a session came to be signed in, one that never gave the code
    for an account with two-step on is refused by the guards (and by the account pages)."""
    manager = org.users["mgr_1"]
    secret, _codes = enrol(app, manager, clock)
    client = signed_in_with(app, manager, code_at(secret, clock.at))
    with client.session_transaction() as session:
        del session["second_step"]
    assert is_signed_out(client)


# --- required for administrators in production ---------------------------------------------------

PRODUCTION = {"PORTAL_ENV": "production", "SECRET_KEY": PRODUCTION_KEY}


@pytest.mark.parametrize("app_config", [PRODUCTION], indirect=True)
def test_in_production_an_administrator_without_two_step_must_set_it_up_before_anything_else__asvs_4_3_1(
    app: Flask, org: Org, clock: Clock
) -> None:
    admin = org.users["admin"]
    client = app.test_client()
    signed_in = password_step(client, admin.email)
    assert (signed_in.status_code, signed_in.location) == (303, "/auth/two-factor")
    for url in ("/admin/users", "/admin/settings", "/staff/queue", "/auth/password"):
        response = client.get(url)
        assert (response.status_code, response.location) == (302, "/auth/two-factor"), url
    refused = post_form(client, "/admin/settings", {"spot_check_percent": "1"}, page="/auth/two-factor")
    assert refused.status_code == 403
    assert audit_rows("access_denied")[-1] == (
        "access_denied",
        "denied",
        admin.id,
        "two_factor_required:/admin/settings",
    )
    htmx = client.get("/admin/users", headers={"HX-Request": "true"})
    assert (htmx.status_code, htmx.headers["HX-Redirect"]) == (403, "/auth/two-factor")
    page = client.get("/auth/two-factor").get_data(as_text=True)
    assert "Your role needs two-step sign-in" in page

    post_form(client, "/auth/two-factor/start", {"password": PASSWORD}, page="/auth/two-factor")
    secret = two_factor.pending_secret(fresh(admin.id), key(app))
    assert secret is not None
    confirmed = post_form(
        client, "/auth/two-factor/confirm", {"code": code_at(secret, clock.at)}, page="/auth/two-factor"
    )
    assert confirmed.status_code == 200
    assert client.get("/admin/users").status_code == 200
    # Managers are encouraged, not obliged: the default requires administrators only.
    manager = app.test_client()
    assert password_step(manager, org.users["mgr_1"].email).location == "/staff/queue"
    assert manager.get("/staff/queue").status_code == 200


@pytest.mark.parametrize(
    ("env", "setting", "expected"),
    [
        ("production", None, {"admin"}),
        ("development", None, set()),
        ("production", "", set()),
        ("development", "admin, manager", {"admin", "manager"}),
    ],
)
def test_the_roles_that_must_use_two_step_follow_the_setting_and_default_to_admins_in_production(
    env: str, setting: str | None, expected: set[str]
) -> None:
    assert two_factor.required_roles(env, setting) == expected


# --- turning it off, and resets by an administrator ----------------------------------------------


def test_turning_ones_own_two_step_off_needs_the_password_and_a_current_code__d8_asvs_3_7_1(
    app: Flask, org: Org, clock: Clock
) -> None:
    manager = org.users["mgr_1"]
    secret, _codes = enrol(app, manager, clock)
    client = signed_in_with(app, manager, code_at(secret, clock.at))
    clock.forward(seconds=30)
    url = "/auth/two-factor/disable"
    fresh_code = code_at(secret, clock.at)
    no_password = post_form(
        client, url, {"password": "not-my-password-1", "code": fresh_code}, page="/auth/two-factor"
    )
    assert no_password.status_code == 422
    replay = post_form(
        client, url, {"password": PASSWORD, "code": code_at(secret, clock.at, -1)}, page="/auth/two-factor"
    )
    assert replay.status_code == 422
    assert WRONG in replay.get_data(as_text=True)
    assert fresh(manager.id).two_factor_on
    off = post_form(client, url, {"password": PASSWORD, "code": fresh_code}, page="/auth/two-factor")
    assert (off.status_code, off.location) == (303, "/auth/two-factor")
    assert not fresh(manager.id).two_factor_on
    assert db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == manager.id)).all() == []
    assert audit_rows("auth.disable_two_factor") == [
        ("auth.disable_two_factor", "ok", manager.id, f"user:{manager.id}")
    ]
    assert password_step(app.test_client(), manager.email).location == "/staff/queue"


def test_an_administrator_resets_anothers_two_step_which_signs_them_out_everywhere__asvs_3_3_3_v5_7_4_2(
    app: Flask, org: Org, login_as: Any, clock: Clock
) -> None:
    manager = org.users["mgr_1"]
    secret, _codes = enrol(app, manager, clock)
    victim = signed_in_with(app, manager, code_at(secret, clock.at))
    version = fresh(manager.id).session_version
    admin = login_as("admin")
    url = f"/admin/users/{manager.id}/two-factor/reset"
    assert url in admin.get("/admin/users").get_data(as_text=True)
    confirmation = admin.get(url)
    assert confirmation.status_code == 200
    assert "Yes, reset two-step sign-in" in confirmation.get_data(as_text=True)

    reset = post_form(admin, url, {}, page=url)
    assert (reset.status_code, reset.location) == (303, "/admin/users")
    assert is_signed_out(victim)
    user = fresh(manager.id)
    assert (user.totp_secret, user.totp_pending_secret, user.totp_last_step) == (None, None, None)
    assert user.session_version == version + 1
    assert db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == manager.id)).all() == []
    assert audit_rows("admin.reset_two_factor") == [
        ("admin.reset_two_factor", "ok", org.users["admin"].id, f"user:{manager.id}")
    ]
    # Nothing left to reset: said so, nothing changes.
    assert post_form(admin, url, {}, page=url).status_code == 422
    assert password_step(app.test_client(), manager.email).location == "/staff/queue"


def test_an_administrator_cannot_reset_their_own_two_step__403_and_an_audit_row(
    app: Flask, org: Org, clock: Clock
) -> None:
    me = org.users["admin"]
    secret, _codes = enrol(app, me, clock)
    admin = signed_in_with(app, me, code_at(secret, clock.at))
    url = f"/admin/users/{me.id}/two-factor/reset"
    page = admin.get(url).get_data(as_text=True)
    assert "You cannot reset your own two-step sign-in." in page and "Yes, reset" not in page
    refused = post_form(admin, url, {}, page=url)
    assert refused.status_code == 403
    assert fresh(me.id).two_factor_on
    denied = audit_rows("action_denied")
    assert len(denied) == 1
    assert denied[0][:3] == ("action_denied", "denied", me.id)
    assert (denied[0][3] or "").startswith(f"user:{me.id}:own")
    assert audit_rows("admin.reset_two_factor") == []


def test_only_administrators_reset_two_step__f11(app: Flask, org: Org, login_as: Any, clock: Clock) -> None:
    target = org.users["lead_a"]
    enrol(app, target, clock)
    manager = login_as("mgr_2")
    url = f"/admin/users/{target.id}/two-factor/reset"
    assert post_form(manager, url, {}, page="/staff/queue").status_code == 403
    assert fresh(target.id).two_factor_on


def test_a_set_up_not_yet_confirmed_can_be_stopped_and_leaves_nothing_behind(
    app: Flask, org: Org, login_as: Any, clock: Clock
) -> None:
    manager = org.users["mgr_1"]
    client = login_as("mgr_1")
    post_form(client, "/auth/two-factor/start", {"password": PASSWORD}, page="/auth/two-factor")
    assert fresh(manager.id).totp_pending_secret is not None
    stopped = post_form(client, "/auth/two-factor/disable", {}, page="/auth/two-factor")
    assert (stopped.status_code, stopped.location) == (303, "/auth/two-factor")
    assert fresh(manager.id).totp_pending_secret is None
    assert post_form(client, "/auth/two-factor/disable", {}, page="/auth/two-factor").status_code == 422

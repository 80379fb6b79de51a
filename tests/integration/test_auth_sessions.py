"""Staff sign-in, sessions, redirects and account changes (security.md D1, D2, D6–D8, D11, E5, F11)."""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditLog, Ticket, User
from tests import payloads
from tests.conftest import base_config, fresh_token, post_form
from tests.factories import PASSWORD, make_ticket

GENERIC_LOGIN_ERROR = "That email and password do not match an active account."
NEW_PASSWORD = "a-much-longer-passphrase-2026"


@pytest.fixture
def app_config(database_url, tmp_path, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Per-test overrides through indirect parametrisation (the rate-limit test turns limits on)."""
    config = base_config(database_url, tmp_path)
    config.update(getattr(request, "param", {}))
    return config


# --- helpers -------------------------------------------------------------------------------


def sign_in(client, email: str, password: str = PASSWORD, next_url: str | None = None):
    query = {"next": next_url} if next_url is not None else None
    return post_form(
        client, "/auth/login", {"email": email, "password": password}, page="/auth/login", query_string=query
    )


def session_cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None, "no session cookie"
    return cookie.value


def client_with_cookie(app, value: str):
    replayed = app.test_client()
    replayed.set_cookie("session", value)
    return replayed


def is_signed_out(client) -> bool:
    response = client.get("/staff/queue")
    return response.status_code == 302 and response.location.startswith("/auth/login")


def user(persona_or_id) -> User:
    db.session.expire_all()
    return db.session.get(User, persona_or_id)


def audit_rows(action: str) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def user_form(target: User, **changes: Any) -> dict[str, Any]:
    """The admin user form as the page fills it in; `active` is a checkbox (absent = off)."""
    data: dict[str, Any] = {
        "name": target.name,
        "email": target.email,
        "role": target.role,
        "department": str(target.department_id),
        "active": "y",
        "password": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def save_user(admin_client, target: User, **changes: Any):
    url = f"/admin/users/{target.id}"
    return post_form(admin_client, url, user_form(target, **changes), page=url)


def change_password(client, current: str, new: str, confirm: str | None = None):
    data = {"current_password": current, "new_password": new, "confirm": new if confirm is None else confirm}
    return post_form(client, "/auth/password", data, page="/auth/password")


# --- sign-in and its audit trail (D1, D2, ASVS 2.2.1, 7.2.1) --------------------------------


def test_correct_password_signs_in_and_lands_on_the_queue(app, client, org):
    response = sign_in(client, org.users["resp_a1"].email)
    assert response.status_code == 303
    assert response.location == "/staff/queue"
    assert client.get("/staff/queue").status_code == 200


def test_email_is_matched_without_regard_to_case(app, client, org):
    response = sign_in(client, "  RESP_A1@Example.COM ")
    assert response.status_code == 303


def test_wrong_password_and_unknown_email_get_the_identical_answer__d2_asvs_2_2_1(app, org):
    answers = []
    for email, password in (
        (org.users["resp_a1"].email, "wrong-password-123"),
        ("nobody@example.com", "wrong-password-123"),
    ):
        response = sign_in(app.test_client(), email, password)
        html = response.get_data(as_text=True)
        assert GENERIC_LOGIN_ERROR in html
        # Neither the status nor the page may tell the two apart (tokens and the typed email aside).
        html = re.sub(r'value="[^"]*"', 'value=""', html)
        answers.append((response.status_code, re.sub(r'"X-CSRFToken": "[^"]*"', "", html)))
    assert answers[0] == answers[1]
    assert answers[0][0] == 422


def test_deactivated_account_gets_the_same_generic_answer__d2(app, client, org):
    target = org.users["resp_a2"]
    target.active = False
    db.session.commit()
    response = sign_in(client, target.email)
    assert response.status_code == 422
    assert GENERIC_LOGIN_ERROR in response.get_data(as_text=True)
    assert is_signed_out(client)


def test_stored_password_hash_does_not_work_as_a_password__d1(app, client, org):
    target = org.users["resp_a1"]
    assert sign_in(client, target.email, target.password_hash).status_code == 422


def test_successful_and_failed_sign_ins_are_audited_without_the_password__asvs_7_2_1(app, org):
    resp_a1 = org.users["resp_a1"]
    sign_in(app.test_client(), resp_a1.email, "wrong-password-123")
    sign_in(app.test_client(), "nobody@example.com", "wrong-password-456")
    sign_in(app.test_client(), resp_a1.email)
    rows = audit_rows("login")
    assert [(r.outcome, r.actor_id, r.target) for r in rows] == [
        ("failed", resp_a1.id, "resp_a1@example.com"),
        ("failed", None, "nobody@example.com"),
        ("ok", resp_a1.id, None),
    ]
    assert all(r.request_id and r.ip == "127.0.0.1" and r.at is not None for r in rows)
    for row in rows:
        assert "wrong-password" not in (row.target or "") and PASSWORD not in (row.target or "")


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True}], indirect=True)
def test_sixth_failed_sign_in_within_a_minute_is_throttled_with_429__d1_asvs_2_2_1(app, org):
    resp_a1 = org.users["resp_a1"]
    attacker = app.test_client()
    statuses = [sign_in(attacker, resp_a1.email, f"guess-number-{n:03d}").status_code for n in range(5)]
    assert statuses == [422] * 5
    throttled = sign_in(attacker, resp_a1.email, "guess-number-006")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"].isdigit()
    assert "Too many attempts" in throttled.get_data(as_text=True)
    # A throttle, not a check: even the right password is not tried until the window passes.
    assert sign_in(attacker, resp_a1.email).status_code == 429
    assert len([r for r in audit_rows("login") if r.outcome == "failed"]) == 5
    # Colleagues signing in from the same office address are not locked out.
    assert sign_in(app.test_client(), org.users["resp_a2"].email).status_code == 303


# --- session rotation, logout and replay (D6, D7, ASVS 3.2.1, 3.3.1) ------------------------


def test_session_cookie_changes_at_sign_in_and_the_old_one_is_not_signed_in__d6_asvs_3_2_1(app, client, org):
    client.get("/auth/login")
    before = session_cookie(client)
    serializer = app.session_interface.get_signing_serializer(app)
    pre_login_token = serializer.loads(before)["csrf_token"]
    assert sign_in(client, org.users["resp_a1"].email).status_code == 303
    after = session_cookie(client)
    assert after != before
    assert serializer.loads(after).get("csrf_token") != pre_login_token  # pre-login keys cleared
    assert is_signed_out(client_with_cookie(app, before))
    assert not is_signed_out(client_with_cookie(app, after))


def test_after_sign_out_a_copied_session_cookie_no_longer_works__d7_asvs_3_3_1(app, org, login_as):
    staff = login_as("resp_a1")
    assert staff.get("/staff/queue").status_code == 200
    stolen = session_cookie(staff)
    token = fresh_token(staff, "/staff/queue")
    logout = staff.post("/auth/logout", data={"csrf_token": token})
    assert logout.status_code == 303
    assert is_signed_out(staff)
    assert is_signed_out(client_with_cookie(app, stolen)), (
        "a session cookie copied before sign-out still works"
    )


def test_sign_out_needs_post_and_a_csrf_token__e1_e2(app, org, login_as):
    staff = login_as("resp_a1")
    assert staff.get("/auth/logout").status_code == 405
    assert staff.post("/auth/logout").status_code == 400
    assert not is_signed_out(staff)


# --- password change and account changes end sessions (D8, D11, ASVS 3.3.3, v5 7.4.2) -----


def test_password_change_ends_every_other_session_but_keeps_this_one__d8_asvs_3_3_3(app, org, login_as):
    laptop = login_as("resp_a1")
    phone = login_as("resp_a1")
    response = change_password(laptop, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 303
    assert is_signed_out(phone)
    assert laptop.get("/staff/queue").status_code == 200
    email = org.users["resp_a1"].email
    assert sign_in(app.test_client(), email, PASSWORD).status_code == 422
    assert sign_in(app.test_client(), email, NEW_PASSWORD).status_code == 303


def test_password_change_needs_the_current_password(app, org, login_as):
    staff = login_as("resp_a1")
    response = change_password(staff, "not-my-password-at-all", NEW_PASSWORD)
    assert response.status_code == 422
    assert "That is not your current password." in response.get_data(as_text=True)
    assert sign_in(app.test_client(), org.users["resp_a1"].email, PASSWORD).status_code == 303


@pytest.mark.parametrize(
    ("new", "accepted"),
    [
        ("elevenchars", False),  # 11
        ("x" * 129, False),
        ("twelve-chars", True),  # 12
        ("p" * 64, True),
        ("密码密码密码密码密码密码😀", True),  # 13 code points, Unicode and emoji allowed (ASVS 2.1.4)
    ],
)
def test_new_password_length_policy__d11_asvs_2_1_1(app, org, login_as, new, accepted):
    staff = login_as("resp_a1")
    response = change_password(staff, PASSWORD, new)
    email = org.users["resp_a1"].email
    if accepted:
        assert response.status_code == 303
        assert sign_in(app.test_client(), email, new).status_code == 303
    else:
        assert response.status_code == 422
        assert "Use 12 to 128 characters." in response.get_data(as_text=True)
        assert sign_in(app.test_client(), email, PASSWORD).status_code == 303


def test_mismatched_confirmation_changes_nothing(app, org, login_as):
    staff = login_as("resp_a1")
    response = change_password(staff, PASSWORD, NEW_PASSWORD, confirm=NEW_PASSWORD + "x")
    assert response.status_code == 422
    assert "The two passwords differ." in response.get_data(as_text=True)
    assert sign_in(app.test_client(), org.users["resp_a1"].email, PASSWORD).status_code == 303


def test_admin_deactivating_a_user_ends_their_session_on_the_next_request__d8_v5_7_4_2(app, org, login_as):
    target = org.users["resp_a2"]
    victim = login_as("resp_a2")
    assert victim.get("/staff/queue").status_code == 200
    response = save_user(login_as("admin"), target, active=None)
    assert response.status_code == 303
    assert user(target.id).active is False
    assert is_signed_out(victim)
    assert sign_in(app.test_client(), target.email).status_code == 422


def test_admin_changing_a_users_role_ends_their_session_on_the_next_request__d8(app, org, login_as):
    target = org.users["lead_a"]
    lead = login_as("lead_a")
    assert lead.get("/staff/queue").status_code == 200
    assert save_user(login_as("admin"), target, role="responder").status_code == 303
    assert user(target.id).role == "responder"
    assert is_signed_out(lead)


def test_admin_moving_a_user_to_another_department_ends_their_session__d8(app, org, login_as):
    target = org.users["resp_a1"]
    staff = login_as("resp_a1")
    department_b = str(org.departments["B"].id)
    assert save_user(login_as("admin"), target, department=department_b).status_code == 303
    assert is_signed_out(staff)


def test_admin_renaming_a_user_keeps_their_session(app, org, login_as):
    target = org.users["resp_a1"]
    staff = login_as("resp_a1")
    assert save_user(login_as("admin"), target, name="Renamed Person").status_code == 303
    assert user(target.id).name == "Renamed Person"
    assert staff.get("/staff/queue").status_code == 200


def test_admin_cannot_set_a_short_password_for_a_user__d11(app, org, login_as):
    target = org.users["resp_a1"]
    response = save_user(login_as("admin"), target, password="short-pass1")
    assert response.status_code == 422
    assert "Use 12 to 128 characters." in response.get_data(as_text=True)
    assert sign_in(app.test_client(), target.email, PASSWORD).status_code == 303


@pytest.mark.parametrize("changes", [{"role": "manager"}, {"role": "responder"}, {"active": None}])
def test_admin_cannot_demote_or_deactivate_themself(app, org, login_as, changes):
    me = org.users["admin"]
    admin = login_as("admin")
    response = save_user(admin, me, **changes)
    assert response.status_code == 422
    assert "You cannot remove your own administration rights." in response.get_data(as_text=True)
    fresh = user(me.id)
    assert (fresh.role, fresh.active) == ("admin", True)
    assert admin.get("/admin/users").status_code == 200


# --- open redirects after sign-in (E5, ASVS 5.1.5) -----------------------------------------


@pytest.mark.parametrize("target", payloads.OPEN_REDIRECTS)
def test_hostile_next_parameter_lands_on_the_staff_queue__e5_asvs_5_1_5(app, client, org, target):
    response = sign_in(client, org.users["resp_a1"].email, next_url=target)
    assert response.status_code == 303
    assert response.location == "/staff/queue"


def test_safe_relative_next_parameter_is_honoured__e5(app, client, org):
    response = sign_in(client, org.users["resp_a1"].email, next_url="/staff/tickets/1")
    assert response.status_code == 303
    assert response.location == "/staff/tickets/1"


def test_sign_in_page_reached_from_a_protected_page_returns_there__e5(app, client, org):
    ticket = make_ticket(db.session, org, app.config["UPLOAD_FOLDER"])
    bounced = client.get(f"/staff/tickets/{ticket.id}")
    assert bounced.status_code == 302
    login_url = bounced.location
    token = fresh_token(client, login_url)
    response = client.post(
        login_url, data={"csrf_token": token, "email": org.users["resp_a1"].email, "password": PASSWORD}
    )
    assert response.status_code == 303
    assert response.location == f"/staff/tickets/{ticket.id}"


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/x", "/\\evil.example"])
def test_hostile_next_on_a_staff_action_stays_on_the_ticket__e5(app, org, login_as, target):
    ticket = make_ticket(db.session, org, app.config["UPLOAD_FOLDER"])
    staff = login_as("resp_a1")
    url = f"/staff/tickets/{ticket.id}"
    response = post_form(staff, f"{url}/claim", {"next": target}, page=url)
    assert response.status_code == 303
    assert response.location == url
    assert urlsplit(response.location).netloc == ""


# --- mass assignment (F11, A10, ASVS 4.1.2, 5.1.2) ------------------------------------------


def test_extra_fields_on_the_admin_user_form_are_ignored__f11_asvs_5_1_2(app, org, login_as):
    target = org.users["resp_a1"]
    original_id, original_created = target.id, target.created_at
    extra = {
        "id": "9999",
        "password_hash": "pbkdf2:sha256:1$x$y",
        "session_version": "99",
        "created_at": "2000-01-01T00:00:00",
        "is_admin": "1",
    }
    response = save_user(login_as("admin"), target, name="Still A Responder", **extra)
    assert response.status_code == 303
    fresh = user(original_id)
    assert fresh is not None and db.session.get(User, 9999) is None
    assert (fresh.name, fresh.role, fresh.session_version) == ("Still A Responder", "responder", 1)
    assert fresh.created_at == original_created
    assert fresh.check_password(PASSWORD)


def test_a_responder_cannot_reach_the_admin_user_form_to_promote_themself__f11(app, org, login_as):
    me = org.users["resp_a1"]
    staff = login_as("resp_a1")
    url = f"/admin/users/{me.id}"
    response = post_form(staff, url, user_form(me, role="admin"), page="/staff/queue")
    assert response.status_code == 403
    assert staff.get(url).status_code == 403
    assert user(me.id).role == "responder"
    denied = audit_rows("access_denied")
    assert [(r.actor_id, r.outcome) for r in denied] == [(me.id, "denied"), (me.id, "denied")]


def test_extra_fields_on_the_public_complaint_form_are_ignored__a10_asvs_5_1_2(app, client, org):
    data = {
        "name": "Wang Fang",
        "email": "wang@example.org",
        "preferred_contact": "email",
        "category": str(org.categories["A"].id),
        "subject": "Kettle broke",
        "description": "It stopped working after a week.",
        "consent": "y",
        "idempotency_key": secrets.token_urlsafe(24),
        # what an attacker adds:
        "status": "closed",
        "owner_id": str(org.users["mgr_1"].id),
        "department_id": str(org.departments["B"].id),
        "priority": "urgent",
        "id": "999",
        "reference": "CP-1999-000001",
        "channel": "phone",
        "registered_by_id": str(org.users["admin"].id),
        "concerns_user_id": str(org.users["resp_a2"].id),
        "received_at": "2000-01-01T00:00:00",
        "version": "7",
    }
    response = post_form(client, "/complaints/new", data)
    assert response.status_code == 303
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.id != 999
    assert re.fullmatch(r"CP-\d{4}-\d{6}", ticket.reference) and ticket.reference != "CP-1999-000001"
    assert ticket.status == "new"
    assert ticket.owner_id is None
    assert ticket.department_id == org.departments["A"].id  # R5: the category decides
    assert ticket.priority == "normal"
    assert ticket.channel == "web"
    assert ticket.registered_by_id is None
    assert ticket.concerns_user_id is None
    assert ticket.received_at.year >= 2026
    assert db.session.scalar(select(func.count(Ticket.id))) == 1

"""Staff sign-in and sign-out. Sessions die on password change or deactivation (ASVS 3.3).

Two-step sign-in (ASVS 4.3.1; services/two_factor.py): for an account with it on, a correct
password does not sign in. The session is cleared and remembers only who owes a code, for
TWO_FACTOR_PENDING_SECONDS (`PENDING`); `login_user()` is called only once the code is right, so
until then every guard sees an anonymous visitor. The sign-in stamp notes that the code was given
(`web.access.stamp_sign_in`), and the guards refuse a session of such an account without that note.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import wraps
from typing import Any

import segno
from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

from portal.auth import bp
from portal.auth.forms import (
    ChangePasswordForm,
    ConfirmTwoFactorForm,
    DisableTwoFactorForm,
    LoginForm,
    SecondStepForm,
    StartTwoFactorForm,
)
from portal.domain.permissions import Role
from portal.extensions import db, limiter, login_manager
from portal.models import User
from portal.queries.accounts import account_by_email, recovery_codes_left
from portal.services import accounts, audit, two_factor
from portal.web import context
from portal.web.access import (
    SECOND_STEP,
    SECOND_STEP_PASSED,
    load_user_from_session_id,
    must_enrol,
    record,
    skipped_second_step,
)
from portal.web.answers import Answers, beside, go_to, submitted
from portal.web.navigation import safe_next

# Checked against when the email is unknown, so both answers take the same time (D2).
_DUMMY_HASH = generate_password_hash("not-a-real-password")

# The session of someone who gave the right password and still owes a code: who and since when.
PENDING = "pending_second_step"
WRONG_CODE = _l("That code is not right, or it has been used already.")


def home_for(user: User) -> str:
    if user.role == Role.ADMIN:
        return url_for("admin.users")
    return url_for("staff.queue")


def _login_key() -> str:
    return f"{request.remote_addr}|{(request.form.get('email') or '').strip().lower()}"


def _account_key() -> str:
    return "account|" + (request.form.get("email") or "").strip().lower()


def _sign_in(user: User, *, second_step: bool) -> None:
    """A new session for `user` (D6, ASVS 3.2.1); its stamp notes whether a code was given."""
    session.clear()
    if second_step:
        setattr(g, SECOND_STEP_PASSED, True)
    login_user(user)


def _audit_as(action: str | None = None, *, target: str, actor_id: int | None = None) -> None:
    """Say what this request's decision row is called and whom it names.

    The row itself is the decision hook's (`audit.install_decision_hooks`): written in the same
    transaction as the change, so the change and its record stand or fall together.
    """
    decision = db.session.info.get(audit.CONTEXT_KEY)
    if decision is None:
        return
    changes: dict[str, Any] = {"target": target}
    if action is not None:
        changes["action"] = action
    if actor_id is not None:
        changes["actor_id"] = lambda: actor_id
    db.session.info[audit.CONTEXT_KEY] = dataclasses.replace(decision, **changes)


def _key() -> two_factor.SealingKey:
    """The key sealing two-step secrets at rest: derived from SECRET_KEY (HKDF), never stored."""
    return two_factor.sealing_key(current_app.config["SECRET_KEY"])


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], key_func=_login_key, methods=["POST"])
# ASVS 2.2.1: at most 100 attempts an hour on one account, from however many addresses.
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN_ACCOUNT"], key_func=_account_key, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = None
        if email.isprintable():  # NUL or control characters never match an account (A5)
            user = account_by_email(db.session, email)
        password_ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, form.password.data)
        if user is not None and password_ok and user.active:
            next_url = safe_next(request.args.get("next"))
            if user.two_factor_on:
                # Not signed in yet: the session only remembers who owes a code (ASVS 4.3.1).
                session.clear()
                session[PENDING] = {
                    "user": user.get_id(),
                    "at": int(context.now().timestamp()),
                    "next": next_url,
                }
                record("login", "password_ok", actor_id=user.id)
                return redirect(url_for("auth.second_step"), code=303)
            _sign_in(user, second_step=False)
            record("login", "ok", actor_id=user.id)
            if must_enrol(user):
                flash(_("Your role needs two-step sign-in. Set it up to continue."), "warning")
                return redirect(url_for("auth.two_factor"), code=303)
            return redirect(next_url or home_for(user), code=303)
        printable = "".join(ch for ch in email if ch.isprintable())[:200]
        record("login", "failed", target=printable, actor_id=user.id if user else None)
        form.password.errors.append(_("That email and password do not match an active account."))
    return render_template("auth/login.html", form=form), 200 if request.method == "GET" else 422


# --- the second step of signing in -------------------------------------------------------------


def _pending() -> dict[str, Any]:
    pending = session.get(PENDING)
    return pending if isinstance(pending, dict) else {}


def _pending_user() -> User | None:
    """Who gave the right password in this session and owes a code, if it was not too long ago."""
    pending = _pending()
    started = pending.get("at")
    if not isinstance(started, int):
        return None
    if context.now().timestamp() - started > current_app.config["TWO_FACTOR_PENDING_SECONDS"]:
        return None
    # The session version is part of the id: a password change or a reset meanwhile ends this too.
    user = load_user_from_session_id(str(pending.get("user", "")))
    return user if user is not None and user.two_factor_on else None


def _pending_account() -> str:
    return str(_pending().get("user", "")).partition(":")[0]


def _second_step_key() -> str:
    return f"second-step|{request.remote_addr}|{_pending_account()}"


def _second_step_account_key() -> str:
    return f"second-step-account|{_pending_account()}"


@bp.route("/two-factor/verify", methods=["GET", "POST"])
# Codes are limited like passwords (D1, ASVS 2.2.1): per address and account, and per account.
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], key_func=_second_step_key, methods=["POST"])
@limiter.limit(
    lambda: current_app.config["RATELIMIT_LOGIN_ACCOUNT"], key_func=_second_step_account_key, methods=["POST"]
)
def second_step():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    user = _pending_user()
    if user is None:
        session.pop(PENDING, None)
        flash(_("Please sign in again."), "info")
        return redirect(url_for("auth.login"), code=303 if request.method == "POST" else 302)
    form = SecondStepForm()

    def refused(error: Exception) -> None:
        # ASVS 2.8.5, 7.2.1: every refused code is recorded, a replayed one as such.
        reason = error.reason if isinstance(error, two_factor.WrongCode) else "wrong"
        record("login_2fa", "failed", target=f"user:{user.id}:{reason}", actor_id=user.id)
        form.code.errors = [*form.code.errors, str(WRONG_CODE)]

    answers = Answers(
        target=f"user:{user.id}",
        done=lambda how: _second_step_passed(user, how),
        again=lambda status: (render_template("auth/second_step.html", form=form), status),
        invalid={two_factor.WrongCode: refused},
    )
    if request.method == "GET":
        return answers.again(200)
    # The accepted code is spent and the "login_2fa" row written in one transaction.
    _audit_as("login_2fa", target=f"user:{user.id}", actor_id=user.id)
    return submitted(
        form,
        lambda: two_factor.check_sign_in_code(
            db.session, user, form.code.data, now=context.now(), key=_key()
        ),
        answers,
    )


def _second_step_passed(user: User, how: str) -> ResponseReturnValue:
    next_url = safe_next(_pending().get("next"))
    _sign_in(user, second_step=True)
    if how == "recovery":
        left = recovery_codes_left(db.session, user.id)
        flash(
            ngettext(
                "You used a recovery code; %(num)d is left.",
                "You used a recovery code; %(num)d are left.",
                left,
            )
            + " "
            + _("When they run out, turn two-step sign-in off and on again for new ones."),
            "warning",
        )
    return redirect(next_url or home_for(user), code=303)


@bp.route("/logout", methods=["POST"])
def logout():
    # Flask sessions live in the signed cookie, so a copied cookie would outlive a plain logout.
    # Bumping the session version makes every copy worthless (D7, ASVS 3.3.1).
    if current_user.is_authenticated:
        accounts.sign_out_everywhere(db.session, current_user._get_current_object())
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"), code=303)


# --- one's own account: password and two-step sign-in ------------------------------------------


def _account_page(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """A page about one's own account: signed-in people only, and a session that skipped the
    second step it owed counts as signed out (as in every blueprint guard)."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if skipped_second_step():
            logout_user()
            session.clear()
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return view(*args, **kwargs)

    return guarded


def _own_account_key() -> str:
    who = current_user.id if current_user.is_authenticated else request.remote_addr
    return f"own-account|{who}"


@bp.route("/password", methods=["GET", "POST"])
@_account_page
def change_password():
    if must_enrol(current_user):
        return redirect(url_for("auth.two_factor"))
    form = ChangePasswordForm()
    answers = Answers(
        target=f"user:{current_user.id}",
        done=_signed_in_again,
        again=lambda status: (render_template("auth/change_password.html", form=form), status),
        invalid={
            accounts.WrongPassword: beside(form.current_password, _l("That is not your current password."))
        },
    )
    if request.method == "GET":
        return answers.again(200)
    return submitted(
        form,
        lambda: accounts.change_password(
            db.session,
            current_user._get_current_object(),
            form.current_password.data,
            form.new_password.data,
        ),
        answers,
    )


def _signed_in_again(user: User) -> ResponseReturnValue:
    """This session continues under the new password; every other one has ended (D8)."""
    _sign_in(user, second_step=bool(session.get(SECOND_STEP)))
    flash(_("Your password has been changed. Other sessions have been signed out."), "info")
    return redirect(home_for(user), code=303)


def _qr_code(uri: str) -> str:
    """The otpauth address as an SVG data URI (`img-src data:`; no script, no inline style)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, dark="#000", light="#fff"))


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _two_factor_page(
    start_form: StartTwoFactorForm | None = None,
    confirm_form: ConfirmTwoFactorForm | None = None,
    disable_form: DisableTwoFactorForm | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    user = current_user._get_current_object()
    secret = None if user.two_factor_on else two_factor.pending_secret(user, _key())
    qr = None
    if secret is not None:
        qr = _qr_code(two_factor.provisioning_uri(secret, user.email, current_app.config["ORG_NAME"]))
    return render_template(
        "auth/two_factor.html",
        user=user,
        secret=_grouped(secret) if secret is not None else None,
        qr=qr,
        start_form=start_form or StartTwoFactorForm(formdata=None),
        confirm_form=confirm_form or ConfirmTwoFactorForm(formdata=None),
        disable_form=disable_form or DisableTwoFactorForm(formdata=None),
        codes_left=recovery_codes_left(db.session, user.id) if user.two_factor_on else None,
        required=must_enrol(user),
        encouraged=user.role == Role.MANAGER,
    ), status


@bp.route("/two-factor", endpoint="two_factor")
@_account_page
def two_factor_page():
    return _two_factor_page()


@bp.route("/two-factor/start", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], key_func=_own_account_key, methods=["POST"])
@_account_page
def start_two_factor():
    user = current_user._get_current_object()
    form = StartTwoFactorForm()
    answers = Answers(
        target=f"user:{user.id}",
        done=go_to(url_for("auth.two_factor")),
        again=lambda status: _two_factor_page(start_form=form, status=status),
        invalid={
            accounts.WrongPassword: beside(form.password, _l("That is not your current password.")),
            two_factor.AlreadyOn: _l("Two-step sign-in is already on."),
        },
    )
    _audit_as(target=f"user:{user.id}")
    return submitted(
        form, lambda: two_factor.start(db.session, user, form.password.data, key=_key()), answers
    )


@bp.route("/two-factor/confirm", methods=["POST"])
@_account_page
def confirm_two_factor():
    user = current_user._get_current_object()
    form = ConfirmTwoFactorForm()
    answers = Answers(
        target=f"user:{user.id}",
        done=lambda codes: _turned_on(user, codes),
        again=lambda status: _two_factor_page(confirm_form=form, status=status),
        invalid={
            two_factor.WrongCode: beside(
                form.code, _l("That code is not right. Type the newest code your app shows.")
            ),
            two_factor.NotEnrolling: _l("Start the set-up first."),
            two_factor.AlreadyOn: _l("Two-step sign-in is already on."),
        },
    )
    _audit_as(target=f"user:{user.id}")
    return submitted(
        form,
        lambda: two_factor.confirm(db.session, user, form.code.data, now=context.now(), key=_key()),
        answers,
    )


def _turned_on(user: User, codes: list[str]) -> ResponseReturnValue:
    """This session goes on (it has just given a code); every other one ended with the new session
    version. The recovery codes are shown this once and kept nowhere in clear."""
    _sign_in(user, second_step=True)
    flash(_("Two-step sign-in is on. Other sessions have been signed out."), "success")
    return render_template("auth/recovery_codes.html", codes=codes)


@bp.route("/two-factor/disable", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], key_func=_own_account_key, methods=["POST"])
@_account_page
def disable_two_factor():
    user = current_user._get_current_object()
    form = DisableTwoFactorForm()
    answers = Answers(
        target=f"user:{user.id}",
        done=go_to(url_for("auth.two_factor")),
        again=lambda status: _two_factor_page(disable_form=form, status=status),
        invalid={
            accounts.WrongPassword: beside(form.password, _l("That is not your current password.")),
            two_factor.WrongCode: beside(form.code, WRONG_CODE),
            two_factor.NothingToReset: _l("Two-step sign-in is already off."),
        },
    )
    _audit_as(target=f"user:{user.id}")
    return submitted(
        form,
        lambda: two_factor.disable(
            db.session, user, form.password.data or "", form.code.data or "", now=context.now(), key=_key()
        ),
        answers,
        success=lambda outcome: _l("Two-step sign-in is off.") if outcome == "off" else _l("Set-up stopped."),
    )

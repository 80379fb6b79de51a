"""Staff sign-in and sign-out. Sessions die on password change or deactivation (ASVS 3.3)."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

from portal.auth import bp
from portal.auth.forms import ChangePasswordForm, LoginForm
from portal.domain.permissions import Role
from portal.extensions import db, limiter
from portal.models import User
from portal.queries.accounts import account_by_email
from portal.services import accounts
from portal.web.access import record
from portal.web.answers import Answers, beside, submitted
from portal.web.navigation import safe_next

# Checked against when the email is unknown, so both answers take the same time (D2).
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def home_for(user: User) -> str:
    if user.role == Role.ADMIN:
        return url_for("admin.users")
    return url_for("staff.queue")


def _login_key() -> str:
    return f"{request.remote_addr}|{(request.form.get('email') or '').strip().lower()}"


def _account_key() -> str:
    return "account|" + (request.form.get("email") or "").strip().lower()


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
            session.clear()  # a new session at sign-in (D6, ASVS 3.2.1)
            login_user(user)
            record("login", "ok", actor_id=user.id)
            return redirect(safe_next(request.args.get("next")) or home_for(user), code=303)
        printable = "".join(ch for ch in email if ch.isprintable())[:200]
        record("login", "failed", target=printable, actor_id=user.id if user else None)
        form.password.errors.append(_("That email and password do not match an active account."))
    return render_template("auth/login.html", form=form), 200 if request.method == "GET" else 422


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


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
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
    session.clear()
    login_user(user)
    flash(_("Your password has been changed. Other sessions have been signed out."), "info")
    return redirect(home_for(user), code=303)

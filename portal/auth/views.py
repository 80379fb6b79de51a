"""Staff sign-in and sign-out. Sessions die on password change or deactivation (ASVS 3.3)."""

from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from portal.auth import bp
from portal.auth.forms import ChangePasswordForm, LoginForm
from portal.domain.permissions import Role
from portal.extensions import db, limiter
from portal.models import User
from portal.services import audit
from portal.web.context import client_ip, now
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
            user = db.session.scalars(select(User).where(func.lower(User.email) == email)).first()
        password_ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, form.password.data)
        if user is not None and password_ok and user.active:
            session.clear()  # a new session at sign-in (D6, ASVS 3.2.1)
            login_user(user)
            audit.record(
                db.session,
                action="login",
                outcome="ok",
                now=now(),
                actor_id=user.id,
                request_id=g.request_id,
                ip=client_ip(),
            )
            return redirect(safe_next(request.args.get("next")) or home_for(user), code=303)
        audit.record(
            db.session,
            action="login",
            outcome="failed",
            now=now(),
            actor_id=user.id if user else None,
            target="".join(ch for ch in email if ch.isprintable())[:200],
            request_id=g.request_id,
            ip=client_ip(),
        )
        form.password.errors.append(_("That email and password do not match an active account."))
    return render_template("auth/login.html", form=form), 200 if request.method == "GET" else 422


@bp.route("/logout", methods=["POST"])
def logout():
    # Flask sessions live in the signed cookie, so a copied cookie would outlive a plain logout.
    # Bumping the session version makes every copy worthless (D7, ASVS 3.3.1) — it also signs the
    # user out on their other devices, which is the safer trade for a staff tool.
    if current_user.is_authenticated:
        current_user.session_version += 1
        db.session.commit()
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"), code=303)


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        if not user.check_password(form.current_password.data):
            form.current_password.errors.append(_("That is not your current password."))
        else:
            user.set_password(form.new_password.data)  # bumps the session version
            db.session.commit()
            session.clear()
            login_user(user)  # this session continues; every other one ends (D8)
            flash(_("Your password has been changed. Other sessions have been signed out."), "info")
            return redirect(home_for(current_user), code=303)
    status = 200 if request.method == "GET" else 422
    return render_template("auth/change_password.html", form=form), status

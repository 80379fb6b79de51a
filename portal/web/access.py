"""Who is asking, and the one place refused access is turned into a response and an audit row.

Blueprints decide who may enter (`staff_only`, `admin_only`); `ticket_or_404()` decides, per
object, through `visibility.visible_ticket()` — the SQL form of `permissions.can_view()`.
"""

from __future__ import annotations

from typing import Any, NoReturn
from urllib.parse import urlsplit

from flask import Response, abort, current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from portal.domain.permissions import Role, is_staff
from portal.extensions import db, login_manager
from portal.models import Ticket, User
from portal.queries.visibility import visible_ticket
from portal.services import audit, two_factor
from portal.web import context
from portal.web.context import client_ip
from portal.web.htmx import is_htmx
from portal.web.navigation import safe_next


def load_user_from_session_id(session_id: str) -> User | None:
    user_id, _sep, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def record(action: str, outcome: str, *, target: str | None = None, actor_id: int | None = None) -> None:
    """Write an audit row for this request: who (the signed-in user unless named), from where."""
    if actor_id is None and current_user.is_authenticated:
        actor_id = current_user.id
    audit.record(
        db.session,
        action=action,
        outcome=outcome,
        now=context.now(),
        actor_id=actor_id,
        target=target,
        request_id=g.get("request_id"),
        ip=client_ip(),
    )


def deny(action: str, target: str, status: int = 404) -> NoReturn:
    """Log the refusal (ASVS 7.2.2) and answer 404 where existence itself must not leak."""
    db.session.rollback()
    record(action, "denied", target=target)
    abort(status)


# A page marks the requests it makes by itself on a timer with this header (`hx-headers`): they
# are not the person at the desk, so they must not keep a session alive (ASVS 3.3.2, D10).
BACKGROUND_POLL_HEADER = "X-Background-Poll"
# Endpoints that only ever answer such timers: background even when a template forgets the header.
BACKGROUND_ENDPOINTS = frozenset({"staff.notification_count"})


def is_background_poll() -> bool:
    return request.headers.get(BACKGROUND_POLL_HEADER) == "1" or request.endpoint in BACKGROUND_ENDPOINTS


# The session key saying this session passed the second step of signing in, and the `g` flag a
# view sets just before `login_user()` when it has checked the code (portal/auth/views.py).
SECOND_STEP = "second_step"
SECOND_STEP_PASSED = "second_step_passed"


def stamp_sign_in(_sender: Any, **_extra: Any) -> None:
    """Flask-Login's `user_logged_in`: the session's absolute lifetime counts from this moment.

    Every sign-in (the login form, the new session after a password change) goes through
    `login_user()`, so none can forget the stamp; a session without one is over. The stamp also
    says whether the sign-in passed the second step (ASVS 4.3.1): for an account with two-step
    sign-in on, a session without that mark is not signed in (`skipped_second_step`).
    """
    stamp = int(context.now().timestamp())
    session["signed_in_at"] = stamp
    session["last_seen"] = stamp
    if g.pop(SECOND_STEP_PASSED, False):
        session[SECOND_STEP] = True


def skipped_second_step() -> bool:
    """The signed-in account has two-step sign-in on, but this session never gave a code."""
    return bool(current_user.is_authenticated and current_user.two_factor_on and not session.get(SECOND_STEP))


def must_enrol(user: User) -> bool:
    """The account's role must use two-step sign-in (TWO_FACTOR_REQUIRED_ROLES) and it is not on."""
    roles = two_factor.required_roles(
        current_app.config["PORTAL_ENV"], current_app.config.get("TWO_FACTOR_REQUIRED_ROLES")
    )
    return two_factor.must_enrol(user, roles)


def _to_enrolment() -> NoReturn:
    """An account that must set up two-step sign-in does nothing else first: pages go to the
    set-up, htmx requests take the whole tab there, other methods are refused (and audited)."""
    url = url_for("auth.two_factor")
    if is_htmx():
        response = Response(_("Set up two-step sign-in first."), status=403, mimetype="text/plain")
        response.headers["HX-Redirect"] = url
        abort(response)
    if request.method in ("GET", "HEAD"):
        flash(_("Your role needs two-step sign-in. Set it up to continue."), "warning")
        abort(redirect(url))
    deny("access_denied", f"two_factor_required:{request.path}"[:200], status=403)


def _session_over() -> str | None:
    """ASVS 3.3.2: why this staff session has ended ("lifetime" or "idle"), else note the activity.

    The lifetime (SESSION_LIFETIME_SECONDS) is absolute: counted from sign-in, whatever happened
    since. Idle time (SESSION_IDLE_MINUTES) is counted from the person's last request; background
    polls neither count as activity nor end a session early.
    """
    current = int(context.now().timestamp())
    started = session.get("signed_in_at")
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    if started is None or current - int(started) > lifetime:
        return "lifetime"
    seen = session.get("last_seen", started)
    if current - int(seen) > current_app.config["SESSION_IDLE_MINUTES"] * 60:
        return "idle"
    if not is_background_poll():
        session["last_seen"] = current
    return None


def _htmx_to_sign_in() -> Response:
    """An htmx request without a session (a header poll, a filter): 401, which htmx does not swap,
    and HX-Redirect, which takes the whole tab to the sign-in page — never a login form swapped
    into the header, and no personal page left on an unattended screen."""
    current = urlsplit(request.headers.get("HX-Current-URL", ""))
    back = safe_next(current.path + (f"?{current.query}" if current.query else ""))
    response = Response(_("Please sign in again."), status=401, mimetype="text/plain")
    response.headers["HX-Redirect"] = url_for("auth.login", next=back) if back else url_for("auth.login")
    return response


def require_login_then(role_check: str) -> None:
    """Blueprint guard: anonymous GETs go to the sign-in page, htmx requests are sent there as a
    whole page, other methods get 401. A session that skipped a second step it owed counts as
    anonymous; an account that must use two-step sign-in and has not set it up goes there first."""
    if current_user.is_authenticated:
        ended = _session_over()
        if ended is None and skipped_second_step():
            ended = "second_step"  # signed in by a path that never asked for the code: not signed in
        if ended is not None:
            logout_user()
            session.clear()
            if ended == "idle":
                flash(_("You were signed out after a period of inactivity. Please sign in again."), "info")
            elif ended == "lifetime":
                flash(_("Your session has reached its time limit. Please sign in again."), "info")
    if not current_user.is_authenticated:
        if is_htmx():
            abort(_htmx_to_sign_in())
        if request.method in ("GET", "HEAD"):
            abort(login_manager.unauthorized())
        abort(401)
    if must_enrol(current_user):
        _to_enrolment()
    allowed = {
        "staff": is_staff(current_user),
        "admin": current_user.role == Role.ADMIN,
        "manage": current_user.role in (Role.LEAD, Role.MANAGER),
    }[role_check]
    if not allowed:
        deny("access_denied", f"{request.blueprint}:{request.path}", status=403)


def staff_only() -> None:
    require_login_then("staff")


def admin_only() -> None:
    require_login_then("admin")


def leads_and_managers_only() -> None:
    require_login_then("manage")


def ticket_or_404(ticket_id: int) -> Ticket:
    """Load a ticket the current user may see, or refuse with 404 and an audit row (G1, F2)."""
    ticket = visible_ticket(db.session, current_user, ticket_id)
    if ticket is None:
        deny("access_denied", f"ticket:{ticket_id}")
    return ticket


AUDITED_BLUEPRINTS = frozenset({"auth", "staff", "manage", "admin"})


def audit_decisions() -> None:
    """Every change a staff request commits gets an audit row in the same transaction (R12, M1).

    The service layer adds the row (`audit.install_decision_hooks`); this only tells it who is
    asking, for what and from where. Customers' own requests are not staff decisions.
    """
    if request.blueprint not in AUDITED_BLUEPRINTS or request.method in ("GET", "HEAD", "OPTIONS"):
        return
    args = request.view_args or {}
    target = ",".join(f"{name.removesuffix('_id')}:{value}" for name, value in args.items()) or request.path
    db.session.info[audit.CONTEXT_KEY] = audit.AuditContext(
        action=request.endpoint or request.path,
        target=target[:200],
        request_id=g.get("request_id"),
        ip=client_ip(),
        actor_id=lambda: current_user.id if current_user.is_authenticated else None,
        clock=context.now,
    )

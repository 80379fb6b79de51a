"""Error pages: a clear message, an incident id, never a traceback (ASVS 7.4.1).

A screen whose form would lose what was typed (the customer's complaint and feedback forms) answers
a busy database (503) or a rate limit (429) with its own form instead of the plain page: it passes
a `page` to `database_error` or `too_many_requests` and keeps the status and `Retry-After` these set.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, g, render_template
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("portal.errors")

MESSAGES = {
    400: _l("The request could not be understood."),
    401: _l("Please sign in first."),
    403: _l("You do not have permission to do that."),
    404: _l("We could not find that page."),
    405: _l("That action is not available here."),
    409: _l("Someone else changed this first. Please look again and retry."),
    413: _l("What you sent is too large. Attachments may be up to 10 MB each."),
    429: _l("Too many attempts. Please wait a minute and try again."),
    500: _l("Something went wrong on our side. Nothing you sent has been lost."),
    503: _l("The service is busy right now. Please try again in a moment."),
}


def render_error(code: int, message: Any = None) -> tuple[str, int]:
    return (
        render_template(
            "errors/error.html",
            code=code,
            message=message or MESSAGES.get(code, MESSAGES[500]),
            request_id=g.get("request_id"),
        ),
        code,
    )


# Seconds a customer is asked to wait after a busy database (L1, L2), and after a rate limit
# whose window the limiter cannot tell (its storage unreachable, or a 429 raised by hand).
BUSY_RETRY_AFTER = 5
LIMIT_RETRY_AFTER = 60

# Renders the screen's own page, told how many seconds the customer is asked to wait.
Page = Callable[[int], str]


def wait_in_words(seconds: int) -> str:
    """When to try again, in words a person reads: 5 seconds, 2 minutes, 3 hours (rounded up)."""
    if seconds < 90:
        return str(ngettext("%(num)d second", "%(num)d seconds", seconds))
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return str(ngettext("%(num)d minute", "%(num)d minutes", minutes))
    return str(ngettext("%(num)d hour", "%(num)d hours", math.ceil(minutes / 60)))


def retry_after_seconds() -> int:
    """When the limit that refused this request lets the next one through (J1)."""
    from portal.extensions import limiter

    try:
        breached = limiter.current_limit
        if breached is None or not breached.breached:
            return LIMIT_RETRY_AFTER
        return max(1, math.ceil(breached.reset_at - time.time()))
    except Exception:  # the limiter's storage (Redis) went away: the refusal stands, the wait is a guess
        return LIMIT_RETRY_AFTER


def too_many_requests(page: Page | None = None) -> tuple[str, int, dict[str, str]]:
    """429 with the Retry-After of the limit that was hit: the screen's `page`, or the plain one."""
    seconds = retry_after_seconds()
    body = page(seconds) if page is not None else render_error(429)[0]
    return body, 429, {"Retry-After": str(seconds)}


def database_error(error: DBAPIError, page: Page | None = None) -> tuple[str, int, dict[str, str]]:
    """Log a busy or unreachable database with the request id, then answer 503 (L1, L2)."""
    log.error("database_unavailable request=%s error=%s", g.get("request_id"), error.orig)
    return database_unavailable(page)


def database_unavailable(page: Page | None = None) -> tuple[str, int, dict[str, str]]:
    """503 with Retry-After, rendered without touching the database again (L2).

    The page must not load the signed-in user (a query) nor read a loaded one (expired by the
    rollback, so a query again): for this one answer the layout sees an anonymous visitor.
    Flask-Login keeps the request's user in `g._login_user` and loads it only when that is unset.
    """
    from portal.extensions import db, login_manager

    g._login_user = login_manager.anonymous_user()
    try:
        db.session.rollback()
    except DBAPIError:  # the connection itself is gone; the pool replaces it on the next request
        db.session.invalidate()
    # The screen's own page is rendered only now, with the session rolled back and nobody signed in.
    body = page(BUSY_RETRY_AFTER) if page is not None else render_error(503)[0]
    return body, 503, {"Retry-After": str(BUSY_RETRY_AFTER)}


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError) -> tuple[str, int]:
        log.warning("csrf_failed request=%s reason=%r", g.get("request_id"), error.description)
        return render_error(
            400, _l("Your form expired or came from elsewhere. Go back, reload and try again.")
        )

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Any:
        if error.code is None or error.code < 400:
            return error
        if error.code == 429:
            return too_many_requests()
        return render_error(error.code)

    @app.errorhandler(DataError)
    def _bad_value(error: DataError) -> Any:
        # A value the database refuses (NUL on PostgreSQL, an out-of-range number) is bad input.
        from portal.extensions import db

        db.session.rollback()
        log.warning("data_error request=%s error=%s", g.get("request_id"), error.orig)
        return render_error(400)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database_unavailable(error: DBAPIError) -> Any:
        return database_error(error)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        log.exception("unhandled request=%s", g.get("request_id"))
        from portal.extensions import db

        # The failed transaction must end before the page reads the signed-in user again.
        try:
            db.session.rollback()
        except DBAPIError:
            db.session.invalidate()
        return render_error(500)

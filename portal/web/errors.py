"""Error pages: a clear message, an incident id, never a traceback (ASVS 7.4.1)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, render_template
from flask_babel import lazy_gettext as _l
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


def database_unavailable() -> tuple[str, int, dict[str, str]]:
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
    body, code = render_error(503)
    return body, code, {"Retry-After": "5"}


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
        response = render_error(error.code)
        if error.code == 429:
            return response[0], 429, {"Retry-After": "60"}
        return response

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
        log.error("database_unavailable request=%s error=%s", g.get("request_id"), error.orig)
        return database_unavailable()

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        log.exception("unhandled request=%s", g.get("request_id"))
        return render_error(500)

"""What a request knows besides its form: the moment, the day, the client, the organisation's rules.

Views pass these to services as arguments (`now=now()`, `rules=rules()`), so a service never reads
Flask's request or clock itself and the CLI and jobs can call it the same way.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app, g, request

from portal.extensions import db
from portal.models import utcnow
from portal.services import settings as settings_service
from portal.services.settings import Rules


def now() -> datetime:
    return utcnow()


def today() -> date:
    """Today in the organisation's time zone (the day a person at the desk would write)."""
    return now().astimezone(ZoneInfo(current_app.config["ORG_TIMEZONE"])).date()


def client_ip() -> str | None:
    return request.remote_addr


def rules() -> Rules:
    """The organisation's clocks and thresholds as configured now (env defaults + admin settings).

    Read once per request (three queries): a ticket page asks for them for its choices and again
    for the action it runs.
    """
    if "rules" not in g:
        g.rules = settings_service.load_rules(db.session, current_app.config, now())
    return g.rules  # type: ignore[no-any-return]

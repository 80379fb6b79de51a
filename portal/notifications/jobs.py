"""The RQ jobs an `rq worker portal` process runs: deliver the outbox, apply the service clocks.

The worker imports this module by name; it builds the application once per process and takes the
rules from the settings service, as the CLI does.
"""

from __future__ import annotations

from functools import lru_cache

from flask import Flask


@lru_cache(maxsize=1)
def _worker_app() -> Flask:
    from portal.app import create_app

    return create_app()


def run_dispatch() -> str:
    """RQ job: deliver what the outbox holds."""
    from portal.extensions import db
    from portal.models import utcnow
    from portal.notifications.dispatch import dispatch_due

    with _worker_app().app_context():
        result = dispatch_due(db.session, utcnow())
        db.session.remove()
    return f"sent {result.sent}, failed {result.failed}, dead {result.dead}"


def run_sweep() -> str:
    """RQ job: apply the service clocks."""
    from portal.extensions import db
    from portal.models import utcnow
    from portal.services.sla_sweep import sweep
    from portal.web.context import rules

    with _worker_app().app_context():
        result = sweep(db.session, now=utcnow(), rules=rules())
        db.session.remove()
    return f"escalated {len(result.escalated_ticket_ids)}"

"""The RQ jobs: deliver the outbox, apply the service clocks.

A worker imports this module by name. Run by `flask rq-worker` (RQ's SimpleWorker, in-process)
a job uses that command's application; run by a plain `rq worker`, which forks for every job, it
builds one per process. Either way the rules come from the settings service, as the CLI's do.
"""

from __future__ import annotations

from functools import lru_cache

from flask import Flask, current_app, has_app_context


@lru_cache(maxsize=1)
def _worker_app() -> Flask:
    from portal.app import create_app

    return create_app()


def _app() -> Flask:
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]
    return _worker_app()


def run_dispatch() -> str:
    """RQ job: deliver what the outbox holds."""
    from portal.extensions import db
    from portal.models import utcnow
    from portal.notifications.dispatch import dispatch_due

    with _app().app_context():
        result = dispatch_due(db.session, utcnow())
        db.session.remove()
    dropped = f", dropped {result.dropped}" if result.dropped else ""
    return f"sent {result.sent}, failed {result.failed}, dead {result.dead}{dropped}"


def run_sweep() -> str:
    """RQ job: apply the service clocks."""
    from portal.extensions import db
    from portal.models import utcnow
    from portal.services.settings import load_rules
    from portal.services.sla_sweep import sweep

    app = _app()
    with app.app_context():
        now = utcnow()
        result = sweep(db.session, now=now, rules=load_rules(db.session, app.config, now))
        db.session.remove()
    return f"escalated {len(result.escalated_ticket_ids)}"

"""Waking the job engine: queue RQ jobs by name when REDIS_URL is set, and only after a commit
that wrote outbox rows.

Web requests never send mail themselves. Whether or not Redis answers, the rows are in the
database, so `flask worker` (or the next job) delivers them once things are back (R13: nothing
lost). This module never imports the application: the job functions themselves live in
`portal.notifications.jobs`, which the worker process imports by name.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal.models import Notification

log = logging.getLogger("portal.notifications")
QUEUE_NAME = "portal"
DISPATCH_JOB = "portal.notifications.jobs.run_dispatch"
SWEEP_JOB = "portal.notifications.jobs.run_sweep"


def queue(redis_url: str) -> Any:
    from redis import Redis
    from rq import Queue

    connection = Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=2)
    return Queue(QUEUE_NAME, connection=connection)


def enqueue(function_path: str, redis_url: str, *, quiet: bool = False) -> bool:
    """Queue a job by name; False (and a log line unless quiet) when Redis is unreachable —
    the rows still wait in the database."""
    try:
        queue(redis_url).enqueue(function_path, job_timeout=300, result_ttl=60, failure_ttl=86_400)
        return True
    except Exception as error:  # Redis down must never break the request that caused it
        if not quiet:
            log.warning("could not queue %s: %s", function_path, error)
        return False


_registered = False


def register(app: Flask) -> None:
    """After a commit that wrote outbox rows, ask a worker to send them now (when Redis is set).

    The hooks sit on the process-wide scoped session, so they are installed once and read the
    current application's REDIS_URL when they fire.
    """
    global _registered
    if _registered:
        return
    _registered = True
    from portal.extensions import db

    @event.listens_for(db.session, "after_flush")
    def _note_outbox_rows(session: Session, _context: Any) -> None:
        if any(isinstance(obj, Notification) and obj.channel != "in_app" for obj in session.new):
            session.info["outbox_written"] = True

    @event.listens_for(db.session, "after_commit")
    def _queue_dispatch(session: Session) -> None:
        redis_url = current_app.config.get("REDIS_URL")
        if session.info.pop("outbox_written", False) and redis_url:
            enqueue(DISPATCH_JOB, redis_url)

    @event.listens_for(db.session, "after_rollback")
    def _forget(session: Session) -> None:
        session.info.pop("outbox_written", None)

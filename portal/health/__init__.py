"""Health checks for the operator's load balancer and supervisor (issue 15.6).

`/healthz/live`: the process answers (no I/O at all). `/healthz/ready`: the database answers,
and Redis too when REDIS_URL is set — each checked quickly; 503 when either is down. The answer
names the parts and their state, never an address, a version or an error text.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app

from portal.queries import health

bp = Blueprint("health", __name__)

NO_STORE = {"Cache-Control": "no-store"}


@bp.route("/healthz/live")
def live() -> Any:
    return {"status": "ok"}, 200, NO_STORE


@bp.route("/healthz/ready")
def ready() -> Any:
    parts = {"database": health.database_answers()}
    redis_url = current_app.config.get("REDIS_URL")
    if redis_url:
        parts["redis"] = health.redis_answers(redis_url)
    ok = all(parts.values())
    body = {
        "status": "ready" if ok else "unavailable",
        **{k: "ok" if v else "down" for k, v in parts.items()},
    }
    return body, 200 if ok else 503, NO_STORE

"""Is the database there, is Redis there: one cheap round trip each, failures swallowed."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db

log = logging.getLogger("portal.health")


def database_answers() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError as error:
        log.warning("ready: database unavailable: %s", error.__class__.__name__)
        return False
    finally:
        try:
            db.session.rollback()
        except SQLAlchemyError:
            db.session.invalidate()


def redis_answers(redis_url: str) -> bool:
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        connection = Redis.from_url(redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(connection.ping())
        finally:
            connection.close()
    except (RedisError, OSError) as error:
        log.warning("ready: redis unavailable: %s", error.__class__.__name__)
        return False

"""Delivering the outbox: render each notification, send it, retry with back-off (R13).

The outbox rows are written by services (portal/services/outbox.py) in the same transaction as
the change they report; this package reads them after commit, with the application's templates
and settings, in a worker (RQ when REDIS_URL is set, `flask worker` otherwise).
"""

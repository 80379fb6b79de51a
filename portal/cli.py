"""Command-line tasks: `flask --app wsgi demo | create-user`, calling the same services."""

from __future__ import annotations

import time

import click
from flask import Flask, current_app
from sqlalchemy import select

from portal import demo
from portal.domain.permissions import Role
from portal.extensions import db
from portal.models import Department, User, utcnow
from portal.services.settings import Rules, load_rules


def _rules() -> Rules:
    """The rules as configured now: the same source web requests and jobs use."""
    return load_rules(db.session, current_app.config, utcnow())


def register(app: Flask) -> None:
    @app.cli.command("demo")
    @click.option("--if-empty", is_flag=True, help="Only load into an empty database.")
    def demo_command(if_empty: bool) -> None:
        """Load the demo organisation (development only)."""

        if not current_app.config["LOAD_DEMO_DATA"]:
            raise click.ClickException("demo data is never loaded when PORTAL_ENV=production")
        if not demo.is_empty(db.session):
            if if_empty:
                click.echo("Database already has data; demo not loaded.")
                return
            raise click.ClickException("the database is not empty")
        demo.load(db.session, _rules(), utcnow())
        click.echo(f"Demo loaded. Sign in as responder@example.com / {demo.DEMO_PASSWORD} (see README).")

    @app.cli.command("sla-sweep")
    @click.option("--every", type=int, default=0, help="Repeat every N seconds (0: run once).")
    def sla_sweep_command(every: int) -> None:
        """Apply the service clocks: escalate breaches and missed promises, close unanswered (R3–R16)."""
        from portal.services.sla_sweep import sweep

        while True:
            # No request context: the sweep's transaction starts with BEGIN IMMEDIATE on SQLite.
            result = sweep(db.session, now=utcnow(), rules=_rules())
            db.session.remove()
            click.echo(
                f"{utcnow():%Y-%m-%d %H:%M:%S} sweep: "
                f"{result.acknowledgement_breached} acknowledgement and "
                f"{result.resolution_breached} resolution breaches, "
                f"{result.promises_missed} promises missed, "
                f"{result.closed_without_answer} closed without answer"
            )
            if every <= 0:
                return
            time.sleep(every)

    @app.cli.command("dispatch")
    def dispatch_command() -> None:
        """Send what the notification outbox holds (once)."""
        from portal.notifications.dispatch import dispatch_due

        result = dispatch_due(db.session, utcnow())
        click.echo(f"sent {result.sent}, failed {result.failed}, dead {result.dead}")

    @app.cli.command("worker")
    @click.option("--dispatch-every", type=int, default=None, help="Seconds between outbox runs.")
    @click.option("--sweep-every", type=int, default=None, help="Seconds between SLA sweeps.")
    def worker_command(dispatch_every: int | None, sweep_every: int | None) -> None:
        """Run the background work: deliver the outbox and apply the clocks, forever.

        With REDIS_URL set this only schedules: it queues the jobs for `rq worker portal`.
        Without Redis it does the work itself, so `make run` needs nothing else.
        """
        from portal.notifications import queueing
        from portal.notifications.dispatch import dispatch_due
        from portal.services.sla_sweep import sweep

        dispatch_every = dispatch_every or current_app.config["DISPATCH_INTERVAL_SECONDS"]
        sweep_every = sweep_every or current_app.config["SWEEP_INTERVAL_SECONDS"]
        redis_url = current_app.config["REDIS_URL"]
        next_sweep = 0.0
        click.echo(
            f"worker: outbox every {dispatch_every}s, sweep every {sweep_every}s"
            + (" (queued on Redis)" if redis_url else " (in this process)")
        )
        while True:
            started = time.monotonic()
            try:
                if redis_url:
                    queueing.enqueue(queueing.DISPATCH_JOB, redis_url)
                    if started >= next_sweep:
                        queueing.enqueue(queueing.SWEEP_JOB, redis_url)
                        next_sweep = started + sweep_every
                else:
                    dispatch_due(db.session, utcnow())
                    if started >= next_sweep:
                        sweep(db.session, now=utcnow(), rules=_rules())
                        next_sweep = started + sweep_every
            except Exception as error:  # keep the worker alive through a database or mail outage
                db.session.rollback()
                click.echo(f"worker: {error.__class__.__name__}: {error}", err=True)
            finally:
                db.session.remove()
            time.sleep(dispatch_every)

    @app.cli.command("audit-verify")
    def audit_verify_command() -> None:
        """Walk the audit chain; name the first row that was changed, removed or inserted (M2)."""
        from portal.services import audit

        checked, broken = audit.verify(db.session)
        if broken is None:
            click.echo(f"audit chain intact: {checked} rows")
            return
        where = f"row {broken.row_id}" if broken.row_id is not None else "the end of the chain"
        raise click.ClickException(f"audit chain broken at {where}: {broken.reason} ({checked} rows held)")

    @app.cli.command("create-user")
    @click.option("--email", required=True)
    @click.option("--name", required=True)
    @click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
    @click.option("--department", required=True, help="Department name; created if missing.")
    @click.password_option()
    def create_user(email: str, name: str, role: str, department: str, password: str) -> None:
        """Create a staff account (the only way to create the first administrator)."""
        if len(password) < 12:
            raise click.ClickException("passwords need at least 12 characters")
        dept = db.session.scalars(select(Department).where(Department.name == department)).first()
        if dept is None:
            dept = Department(name=department)
            db.session.add(dept)
            db.session.flush()
        user = User(email=email.lower(), name=name, role=role, department_id=dept.id)
        user.set_password(password)
        db.session.add(user)
        db.session.commit()
        click.echo(f"Created {role} {email}.")

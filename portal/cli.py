"""Command-line tasks: `flask --app wsgi demo | create-user`, calling the same services."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click
from flask import Flask, current_app

from portal import demo
from portal.domain.permissions import Role
from portal.extensions import db
from portal.models import utcnow
from portal.services.settings import Rules, load_rules

TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def _rules() -> Rules:
    """The rules as configured now: the same source web requests and jobs use."""
    return load_rules(db.session, current_app.config, utcnow())


def _work_in_this_process(*, sweep: bool) -> None:
    """Deliver the outbox (and apply the clocks when due) here; survive a database outage."""
    from portal.notifications.dispatch import dispatch_due
    from portal.services.sla_sweep import sweep as apply_clocks

    try:
        dispatch_due(db.session, utcnow())
        if sweep:
            # No request context: the sweep's transaction starts with BEGIN IMMEDIATE on SQLite.
            apply_clocks(db.session, now=utcnow(), rules=_rules())
    except Exception as error:  # keep the worker alive through a database or mail outage
        db.session.rollback()
        click.echo(f"worker: {error.__class__.__name__}: {error}", err=True)
    finally:
        db.session.remove()


def _create_user(
    email: str, name: str, role: str, department: str, password: str, *, new_department: bool = False
) -> None:
    from portal.services import starter
    from portal.services.admin import DuplicateName

    if len(password) < 12:
        raise click.ClickException("passwords need at least 12 characters")
    try:
        starter.create_user(
            db.session,
            name=name,
            email=email,
            role=role,
            department=department,
            password=password,
            new_department=new_department,
        )
    except DuplicateName:
        db.session.rollback()
        raise click.ClickException(f"an account with the email {email} exists already") from None
    except starter.UnknownDepartment:
        db.session.rollback()
        known = ", ".join(starter.department_names(db.session)) or "none yet"
        raise click.ClickException(
            f"no department is called {department!r} (known: {known}); use --new-department to create it"
        ) from None
    click.echo(f"Created {role} {email.strip().lower()}.")


def _welcome(*, loaded_demo: bool) -> None:
    """A newcomer's first minute: where the pages are, who to sign in as, where mail lands."""
    base = current_app.config["BASE_URL"].rstrip("/")
    lines = [
        "",
        f"  Customers:       {base}/",
        f"  Staff sign-in:   {base}/auth/login",
    ]
    if loaded_demo:
        lines.append(f"  Demo accounts (password {demo.DEMO_PASSWORD}):")
        lines += [
            f"    {email:<26} {role.value:<10} {department}" for _n, email, role, department in demo.ACCOUNTS
        ]
    if current_app.config["MAIL_BACKEND"] == "file":
        lines.append(f"  Mail is not sent: each message is a file in {current_app.config['MAIL_DIR']}/")
    click.echo("\n".join([*lines, ""]))


def compile_translations() -> int:
    """Compile every catalog (.po → .mo) shipped in portal/translations; returns how many."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    count = 0
    for source in sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
        with source.open("rb") as po_file:
            catalog = read_po(po_file)
        with source.with_suffix(".mo").open("wb") as mo_file:
            write_mo(mo_file, catalog)
        count += 1
    return count


def register(app: Flask) -> None:
    @app.cli.command("demo")
    @click.option("--if-empty", is_flag=True, help="Only load into an empty database.")
    def demo_command(if_empty: bool) -> None:
        """Load the demo organisation (development only), then say where to start."""
        if not current_app.config["LOAD_DEMO_DATA"]:
            raise click.ClickException("demo data is never loaded when PORTAL_ENV=production")
        if not demo.is_empty(db.session):
            if not if_empty:
                raise click.ClickException("the database is not empty")
            click.echo("Database already has data; demo not loaded.")
        else:
            demo.load(db.session, _rules(), utcnow())
            click.echo("Demo loaded.")
        _welcome(loaded_demo=demo.has_demo_accounts(db.session))

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
        click.echo(
            f"sent {result.sent}, failed {result.failed}, dead {result.dead}"
            + (f", dropped {result.dropped}" if result.dropped else "")
        )

    @app.cli.command("worker")
    @click.option("--dispatch-every", type=int, default=None, help="Seconds between outbox runs.")
    @click.option("--sweep-every", type=int, default=None, help="Seconds between SLA sweeps.")
    def worker_command(dispatch_every: int | None, sweep_every: int | None) -> None:
        """Run the background work forever: deliver the outbox and apply the clocks.

        Without REDIS_URL it does the work itself (so `make run` needs nothing else). With Redis
        it only schedules: the sweep and a catch-up delivery once a minute, for `flask
        rq-worker` to run (commits that write mail queue their own delivery job). While Redis is
        unreachable it does the work itself again, until Redis answers.
        """
        from portal.notifications import queueing

        dispatch_every = dispatch_every or current_app.config["DISPATCH_INTERVAL_SECONDS"]
        sweep_every = sweep_every or current_app.config["SWEEP_INTERVAL_SECONDS"]
        redis_url = current_app.config["REDIS_URL"]
        click.echo(
            f"worker: sweep every {sweep_every}s"
            + (" (queued on Redis)" if redis_url else f", outbox every {dispatch_every}s (in this process)")
        )
        redis_up, next_sweep = bool(redis_url), 0.0
        while True:
            started = time.monotonic()
            sweep_due = started >= next_sweep
            if redis_url and (sweep_due or not redis_up):
                queued = queueing.enqueue(queueing.DISPATCH_JOB, redis_url, quiet=not redis_up)
                queued = queued and (not sweep_due or queueing.enqueue(queueing.SWEEP_JOB, redis_url))
                if queued != redis_up:
                    click.echo(
                        "worker: Redis answers again; jobs are queued"
                        if queued
                        else "worker: Redis unreachable; delivering and sweeping in this process",
                        err=not queued,
                    )
                redis_up = queued
                if queued and sweep_due:
                    next_sweep = started + sweep_every
            if not redis_up:
                _work_in_this_process(sweep=sweep_due)
                if sweep_due:
                    next_sweep = started + sweep_every
            pause = next_sweep - time.monotonic() if redis_up else dispatch_every
            time.sleep(max(1.0, min(pause, sweep_every)))

    @app.cli.command("rq-worker")
    @click.option("--burst", is_flag=True, help="Run what is queued, then stop.")
    def rq_worker_command(burst: bool) -> None:
        """Run the queued jobs in this process, with the application built once (not per job)."""
        from redis import Redis
        from rq import Queue, SimpleWorker

        from portal.notifications import queueing

        redis_url = current_app.config["REDIS_URL"]
        if not redis_url:
            raise click.ClickException("REDIS_URL is not set: `flask worker` does the work itself")
        # No socket timeout here: the worker blocks on Redis while it waits for jobs.
        connection = Redis.from_url(redis_url)
        queue = Queue(queueing.QUEUE_NAME, connection=connection)
        SimpleWorker([queue], connection=connection).work(burst=burst, logging_level="WARNING")

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
    @click.option("--department", required=True, help="The name of an existing department.")
    @click.option("--new-department", is_flag=True, help="Create the department if it does not exist.")
    @click.password_option()
    def create_user_command(
        email: str, name: str, role: str, department: str, new_department: bool, password: str
    ) -> None:
        """Create a staff account (the way to create the first administrator)."""
        _create_user(email, name, role, department, password, new_department=new_department)

    @app.cli.command("setup")
    @click.option("--admin-email", help="The first administrator's email (asked if missing).")
    @click.option("--admin-name", help="The first administrator's name (asked if missing).")
    @click.option(
        "--starter/--no-starter",
        "starter_set",
        default=None,
        help="Create the starter departments and categories (R5 routing) on an empty database.",
    )
    def setup_command(admin_email: str | None, admin_name: str | None, starter_set: bool | None) -> None:
        """Prepare an installation: migrate, compile translations, starter organisation, first admin.

        Safe to run again: each step only does what is still missing.
        """
        from flask_migrate import upgrade

        from portal.services import starter

        upgrade()
        click.echo("database: migrated to the latest schema")
        compiled = compile_translations()
        click.echo(f"translations: {compiled} catalogs compiled")
        if not starter.has_departments(db.session):
            wanted = starter_set
            if wanted is None:
                wanted = click.confirm(
                    "No departments yet. Create the starter departments and categories?", default=True
                )
            if wanted:
                starter.create_starter_organisation(db.session)
                db.session.commit()
                click.echo(
                    f"organisation: {len(starter.STARTER_DEPARTMENTS)} departments and "
                    f"{len(starter.STARTER_CATEGORIES)} categories created (change them under Admin)"
                )
            else:
                click.echo("organisation: none created; add departments and categories under Admin")
        if starter.has_administrator(db.session):
            click.echo("administrator: one exists already")
            return
        departments = starter.department_names(db.session)
        if not departments:
            raise click.ClickException("an administrator needs a department: run setup again with --starter")
        email = admin_email or click.prompt("First administrator's email")
        name = admin_name or click.prompt("First administrator's name")
        password = os.environ.get("PORTAL_ADMIN_PASSWORD") or click.prompt(
            "Password (12+ characters)", hide_input=True, confirmation_prompt=True
        )
        home = "Management Office" if "Management Office" in departments else departments[0]
        _create_user(email, name, Role.ADMIN.value, home, password)

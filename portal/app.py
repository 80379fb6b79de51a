"""Application factory: create_app() and its register_* steps, nothing else."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, abort, g, request, session
from flask_babel import get_locale
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.config import DEV_SECRET_KEY, INSTANCE_PATH, Config
from portal.extensions import babel, csrf, db, limiter, login_manager, migrate
from portal.services import audit
from portal.web.access import audit_decisions
from portal.web.routing import BoundedIntConverter


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(
        "portal",
        template_folder="../templates",
        static_folder="../static",
        instance_path=str(INSTANCE_PATH),
        instance_relative_config=True,
    )
    app.config.from_object(Config)
    app.config.from_pyfile("config.py", silent=True)
    if overrides:
        app.config.update(overrides)
    check_production_config(app)
    trust_proxies(app)
    # Ids beyond a 32-bit integer (PostgreSQL's INTEGER) are simply not found (A12), never a 500.
    app.url_map.converters["int"] = BoundedIntConverter
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    register_extensions(app)
    register_blueprints(app)
    register_request_hooks(app)
    register_error_handlers(app)
    register_template_helpers(app)
    register_jobs(app)
    register_cli(app)
    return app


def check_production_config(app: Flask) -> None:
    if app.config["PORTAL_ENV"] == "production":
        key = app.config.get("SECRET_KEY") or ""
        if key == DEV_SECRET_KEY or len(key) < 32:
            raise RuntimeError("PORTAL_ENV=production needs a random SECRET_KEY of 32+ characters")
        app.config["LOAD_DEMO_DATA"] = False


def trust_proxies(app: Flask) -> None:
    """Take the client's address and scheme from the proxies we were told to trust, no more.

    Each trusted proxy appends one X-Forwarded-For entry; ProxyFix takes the n-th from the right,
    so entries a client wrote itself in front of them are never believed.
    """
    hops = app.config["TRUSTED_PROXIES"]
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(INSTANCE_PATH.parent / "migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    from flask_login import user_logged_in

    from portal.web.access import load_user_from_session_id, stamp_sign_in

    login_manager.user_loader(load_user_from_session_id)
    # Every sign-in stamps its time in the session: the 12-hour limit is absolute (ASVS 3.3.2).
    user_logged_in.connect(stamp_sign_in, app)
    audit.install_decision_hooks(db.session)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])


def configure_sqlite(engine: Any, busy_timeout_ms: int = 5000) -> None:
    """Make SQLite safe for several workers: WAL, durable commits, waits, IMMEDIATE writes."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's begin hook emits BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")  # first: the next ones may wait
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # no acknowledged complaint lost on power loss
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads then writes fails at once with SQLITE_BUSY,
        # ignoring busy_timeout; writers therefore take the lock up front (security.md §3.2).
        # A GET's transactions only read, except those opened as writers (`audit.WRITES`:
        # the audit row of a refusal or an export), which wait their turn like any write.
        from flask import has_request_context

        writes = (
            bool(connection.get_execution_options().get(audit.WRITES))
            or not has_request_context()
            or request.method not in ("GET", "HEAD")
        )
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def select_locale() -> str | None:
    languages = list(_configured_languages())
    chosen = request.args.get("lang")
    if chosen in languages:
        session["lang"] = chosen
        return chosen
    if session.get("lang") in languages:
        return str(session["lang"])
    return request.accept_languages.best_match(languages)


def _configured_languages() -> tuple[str, ...]:
    from flask import current_app

    return tuple(current_app.config["LANGUAGES"])


def register_blueprints(app: Flask) -> None:
    from portal.admin import bp as admin_bp
    from portal.auth import bp as auth_bp
    from portal.health import bp as health_bp
    from portal.manage import bp as manage_bp
    from portal.public import bp as public_bp
    from portal.staff import bp as staff_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(auth_bp, url_prefix="/auth")
    app.register_blueprint(staff_bp, url_prefix="/staff")
    app.register_blueprint(manage_bp, url_prefix="/manage")
    app.register_blueprint(admin_bp, url_prefix="/admin")


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def register_request_hooks(app: Flask) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from portal.web.request_log import install_redaction

    install_redaction()  # request lines name /track/<redacted>, never the private link (I4, M4)

    @app.before_request
    def _assign_request_id() -> None:
        g.request_id = secrets.token_hex(8)

    app.before_request(audit_decisions)

    @app.before_request
    def _no_nul_in_paths() -> None:
        # No page's address contains NUL, and PostgreSQL cannot compare text with one: not found.
        if "\x00" in request.path:
            abort(404)

    @app.after_request
    def _security_headers(response: Any) -> Any:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        if "request_id" in g:
            headers["X-Request-ID"] = g.request_id
        # Anything behind a login or a tracking link is personal: never cache it (ASVS 8.2.1).
        if request.endpoint != "static" and (
            request.blueprint in ("staff", "manage", "admin", "auth") or g.get("personal_page")
        ):
            headers["Cache-Control"] = "no-store, private"
        if app.config["PORTAL_ENV"] == "production":
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response


def register_error_handlers(app: Flask) -> None:
    from portal.web.errors import register

    register(app)


def register_template_helpers(app: Flask) -> None:
    from portal.web import presentation

    presentation.register(app)
    app.jinja_env.globals["get_locale"] = get_locale


def register_jobs(app: Flask) -> None:
    from portal.notifications import queueing

    queueing.register(app)


def register_cli(app: Flask) -> None:
    from portal.cli import register

    register(app)

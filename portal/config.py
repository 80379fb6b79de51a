"""Configuration read from the environment in one place.

Every setting has a safe development default so `make run` needs nothing; production
(`PORTAL_ENV=production`) refuses to start without a real SECRET_KEY.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

REPO_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_PATH = REPO_ROOT / "instance"
DEV_SECRET_KEY = "dev-only-secret-key-change-me"  # noqa: S105 - refused in production


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    PORTAL_ENV = os.environ.get("PORTAL_ENV", "development")
    SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE_PATH / 'portal.db'}")
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, object]] = {"pool_pre_ping": True}
    # How long an SQLite request waits for another writer before answering 503 (busy).
    SQLITE_BUSY_TIMEOUT_MS = int(os.environ.get("SQLITE_BUSY_TIMEOUT_MS", "5000"))
    REDIS_URL = os.environ.get("REDIS_URL", "")

    # Public base URL used to build tracking links; never taken from the request's Host.
    BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:5000")
    ORG_NAME = os.environ.get("ORG_NAME", "Example Service Centre")
    ORG_TIMEZONE = os.environ.get("ORG_TIMEZONE", "Asia/Shanghai")
    HOLIDAY_COUNTRY = os.environ.get("HOLIDAY_COUNTRY", "CN")
    REFERENCE_PREFIX = os.environ.get("REFERENCE_PREFIX", "CP")

    # Uploads (security.md §4 defaults): ≤5 files, ≤10 MB each, ≤25 MB per request.
    UPLOAD_FOLDER = os.environ.get("UPLOAD_FOLDER", str(INSTANCE_PATH / "uploads"))
    MAX_ATTACHMENTS = _int("MAX_ATTACHMENTS", 5)
    MAX_ATTACHMENT_BYTES = _int("MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024)
    MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 26 * 1024 * 1024)
    MAX_FORM_MEMORY_SIZE = _int("MAX_FORM_MEMORY_SIZE", 500 * 1024)
    MAX_FORM_PARTS = _int("MAX_FORM_PARTS", 1000)

    # Service targets until the configurable clocks arrive (R3, R7).
    ACKNOWLEDGE_WITHIN_HOURS = _int("ACKNOWLEDGE_WITHIN_HOURS", 24)
    RESOLVE_WITHIN_WORKING_DAYS = _int("RESOLVE_WITHIN_WORKING_DAYS", 3)
    MAX_WORKING_DAYS = _int("MAX_WORKING_DAYS", 7)
    # R12: compensation above this (in minor units: 50000 = 500.00) needs a manager's approval.
    APPROVAL_THRESHOLD_MINOR = _int("APPROVAL_THRESHOLD_MINOR", 50_000)
    CURRENCY = os.environ.get("CURRENCY", "CNY")
    # R15: no answer to the outcome within this many days closes the complaint.
    FEEDBACK_WINDOW_DAYS = _int("FEEDBACK_WINDOW_DAYS", 7)
    CALLBACK_WITHIN_HOURS = _int("CALLBACK_WITHIN_HOURS", 24)  # R17
    SWEEP_INTERVAL_SECONDS = _int("SWEEP_INTERVAL_SECONDS", 60)
    # R18: the share of a quarter's resolved complaints drawn for a spot check.
    SPOT_CHECK_PERCENT = _int("SPOT_CHECK_PERCENT", 20)
    # R22: early warnings on the dashboard (administrators can change them at run time).
    WARN_REPEAT_COMPLAINTS = _int("WARN_REPEAT_COMPLAINTS", 3)
    WARN_REPEAT_DAYS = _int("WARN_REPEAT_DAYS", 30)
    WARN_SPIKE_FACTOR = float(os.environ.get("WARN_SPIKE_FACTOR", "2"))
    WARN_SPIKE_WEEKS = _int("WARN_SPIKE_WEEKS", 8)
    WARN_SPIKE_MIN_COUNT = _int("WARN_SPIKE_MIN_COUNT", 3)
    WARN_PROMISE_HOURS = _int("WARN_PROMISE_HOURS", 2)

    QUEUE_PAGE_SIZE = _int("QUEUE_PAGE_SIZE", 50)

    # Notifications (R13). "file" writes .eml files to MAIL_DIR (development); "smtp" sends.
    MAIL_BACKEND = os.environ.get("MAIL_BACKEND", "smtp" if PORTAL_ENV == "production" else "file")
    MAIL_DIR = os.environ.get("MAIL_DIR", str(INSTANCE_PATH / "mail"))
    MAIL_FROM = os.environ.get("MAIL_FROM", "Complaints <complaints@example.com>")
    # Our Message-IDs end in @MAIL_DOMAIN (default: the host of BASE_URL), never @localhost.
    MAIL_DOMAIN = os.environ.get("MAIL_DOMAIN", "")
    SMTP_HOST = os.environ.get("SMTP_HOST", "localhost")
    SMTP_PORT = _int("SMTP_PORT", 587)
    SMTP_USERNAME = os.environ.get("SMTP_USERNAME", "")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
    SMTP_STARTTLS = _bool("SMTP_STARTTLS", True)
    SMTP_TIMEOUT_SECONDS = _int("SMTP_TIMEOUT_SECONDS", 10)
    SMS_BACKEND = os.environ.get("SMS_BACKEND", "log")
    NOTIFY_MAX_ATTEMPTS = _int("NOTIFY_MAX_ATTEMPTS", 6)
    DISPATCH_INTERVAL_SECONDS = _int("DISPATCH_INTERVAL_SECONDS", 5)
    RATELIMIT_LOST_LINK = os.environ.get("RATELIMIT_LOST_LINK", "3/minute;10/hour")

    # How many reverse proxies (TLS terminator, load balancer) stand in front of the app and set
    # X-Forwarded-For / -Proto. 0 (the default) ignores those headers: a client could forge them.
    # Behind one proxy, set 1 — otherwise every customer shares the proxy's rate limit.
    TRUSTED_PROXIES = _int("TRUSTED_PROXIES", 0)

    # Rate limits (security.md §4). Redis-backed when REDIS_URL is set, else per process.
    RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = os.environ.get("REDIS_URL") or "memory://"
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_FILE_COMPLAINT = os.environ.get("RATELIMIT_FILE_COMPLAINT", "5/minute;30/day")
    RATELIMIT_TRACKING = os.environ.get("RATELIMIT_TRACKING", "10/minute")
    RATELIMIT_LOGIN = os.environ.get("RATELIMIT_LOGIN", "5/minute")
    RATELIMIT_LOGIN_ACCOUNT = os.environ.get("RATELIMIT_LOGIN_ACCOUNT", "100/hour")

    # Customers take their time over a complaint; an expired token re-renders their text (E4).
    WTF_CSRF_TIME_LIMIT = _int("WTF_CSRF_TIME_LIMIT", 4 * 3600)

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", PORTAL_ENV == "production")
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = _int("SESSION_LIFETIME_SECONDS", 12 * 3600)
    SESSION_IDLE_MINUTES = _int("SESSION_IDLE_MINUTES", 30)  # ASVS 3.3.2

    # Two-step sign-in (ASVS 4.3.1): the roles (comma-separated) that must use it. Unset, it is
    # "admin" when the app runs with PORTAL_ENV=production and nobody otherwise; it is decided when
    # asked (services.two_factor.required_roles), so an app created as production gets it too.
    # Set it to an empty value to require nobody.
    TWO_FACTOR_REQUIRED_ROLES = os.environ.get("TWO_FACTOR_REQUIRED_ROLES")
    # How long the code may take after a correct password before the password is asked again.
    TWO_FACTOR_PENDING_SECONDS = _int("TWO_FACTOR_PENDING_SECONDS", 300)

    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    LANGUAGES = ("en", "zh", "ko")

    LOAD_DEMO_DATA = PORTAL_ENV != "production"

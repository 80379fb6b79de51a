"""A live portal on a real port, driven by Debian's headless Chromium through Playwright.

The app runs on its own SQLite file (built by the real migrations) in a werkzeug server thread,
once per session; every test starts from empty tables and the personas of security.md §4.
Each page is watched: an uncaught script error, a console error (CSP violations land there) or
a JavaScript dialog fails the test that caused it. Every address a test visited is opened again
at the end with axe-core (pinned in tests/browser/vendor/, MPL-2.0) and any serious or critical
accessibility violation fails the test too (WCAG 2.2 AA).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

from portal import create_app
from portal.extensions import db
from portal.models import Category, User, utcnow
from portal.notifications.dispatch import dispatch_due
from tests.conftest import _empty_tables, base_config
from tests.factories import PASSWORD, PERSONAS, Org, make_org

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
AXE = Path(__file__).resolve().parent / "vendor" / "axe-4.14.1.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
# Addresses that are downloads or one-time answers, not pages to look at again.
NOT_PAGES = (".csv", "/attachments/", "/track/", "about:blank")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

expect.set_options(timeout=5_000)


# --- the live server -----------------------------------------------------------------------


@dataclass
class LiveServer:
    url: str
    app: Flask
    upload_dir: Path
    mail_dir: Path

    def email(self, persona: str) -> str:
        return f"{persona}@example.com"

    def org(self) -> Org:
        """The organisation `live` seeded, looked up again (call inside an app context)."""
        org = Org()
        for key, category in (("A", "Product quality"), ("B", "Staff attitude")):
            org.categories[key] = db.session.scalars(select(Category).where(Category.name == category)).one()
            org.departments[key] = org.categories[key].department
        for persona in PERSONAS:
            org.users[persona] = db.session.scalars(
                select(User).where(User.email == self.email(persona))
            ).one()
        return org

    def deliver_mail(self) -> list[EmailMessage]:
        """Run the outbox dispatcher as the worker would, then read every mail sent so far.

        The live app writes each message as an .eml file to `mail_dir` (MAIL_BACKEND="file");
        a message that could not be sent fails the test that caused it.
        """
        with self.app.app_context():
            result = dispatch_due(db.session, utcnow())
            db.session.remove()
        assert result.failed == 0 and result.dead == 0, f"the outbox could not send everything: {result}"
        return [
            cast(EmailMessage, message_from_bytes(path.read_bytes(), policy=policy.default))
            for path in sorted(self.mail_dir.glob("*.eml"))
        ]

    def mail_to(self, address: str) -> list[EmailMessage]:
        """`deliver_mail()`, keeping the messages addressed to `address`."""
        return [m for m in self.deliver_mail() if address in str(m["To"])]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("live")
    config = base_config(f"sqlite:///{tmp / 'browser.db'}", tmp)
    config.update(MAIL_BACKEND="file", MAIL_DIR=str(tmp / "mail"))
    app = create_app(config)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    # Tracking links are built from BASE_URL, never from the request's Host.
    app.config["BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, name="live-portal", daemon=True)
    thread.start()
    try:
        yield LiveServer(
            url=url, app=app, upload_dir=Path(config["UPLOAD_FOLDER"]), mail_dir=Path(config["MAIL_DIR"])
        )
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def live(live_server: LiveServer) -> Iterator[LiveServer]:
    """The live server with empty tables, an empty mail folder and the personas (passwords:
    factories.PASSWORD)."""
    for sent in live_server.mail_dir.glob("*.eml"):
        sent.unlink()
    with live_server.app.app_context():
        _empty_tables()
        make_org(db.session)
        db.session.remove()
    yield live_server
    with live_server.app.app_context():
        db.session.remove()


# --- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: CI must run the browser tests, not skip them")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Browsing:
    """Opens watched pages in fresh contexts and collects everything that went wrong in them."""

    browser: Browser
    base_url: str
    problems: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)
    allowed_console: list[str] = field(default_factory=list)
    visited: dict[str, BrowserContext] = field(default_factory=dict)  # address → where it was seen
    user_agents: dict[int, str] = field(default_factory=dict)  # a context's own user agent, if set

    def new_page(self, **context_options: Any) -> Page:
        options: dict[str, Any] = {"viewport": DESKTOP, "base_url": self.base_url}
        options.update(context_options)
        context = self.browser.new_context(**options)
        if "user_agent" in options:
            self.user_agents[id(context)] = options["user_agent"]
        self.contexts.append(context)
        page = context.new_page()
        self.watch(page)
        return page

    def watch(self, page: Page) -> None:
        def on_console(message: Any) -> None:
            if message.type != "error" or any(a in message.text for a in self.allowed_console):
                return
            source = (message.location or {}).get("url", "")
            if source.endswith("/favicon.ico"):
                return  # Chromium asks for it on its own; the portal has none (not an app error)
            self.problems.append(f"console error on {page.url} ({source}): {message.text}")

        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(f"{dialog.type} dialog on {page.url}: {dialog.message}")
            dialog.dismiss()

        def on_request(request: Any) -> None:
            # Pages reached by GET can be opened again; a POST's answer is not an address.
            if (
                request.is_navigation_request()
                and request.method == "GET"
                and request.frame == page.main_frame
                and not any(part in request.url for part in NOT_PAGES)
            ):
                self.visited.setdefault(request.url, page.context)

        page.on("request", on_request)
        page.on("pageerror", lambda error: self.problems.append(f"page error on {page.url}: {error}"))
        page.on("console", on_console)
        page.on("dialog", on_dialog)

    def allow_console_error(self, text: str) -> None:
        """An expected console line, e.g. Chromium logging a deliberate 422 answer."""
        self.allowed_console.append(text)

    def check_accessibility(self) -> None:
        """Open every visited address again, as the user who saw it, and run axe on it.

        The check runs in a fresh context with the visitor's cookies and user agent (Flask-Login's
        strong session protection checks it) and with JavaScript on, even for a visit made with
        it off: axe is a script.
        """
        checkers: dict[int, BrowserContext] = {}
        try:
            for url, visited_in in self.visited.items():
                if id(visited_in) not in checkers:
                    user_agent = self.user_agents.get(id(visited_in))
                    checkers[id(visited_in)] = self.browser.new_context(
                        base_url=self.base_url,
                        viewport=DESKTOP,
                        storage_state=visited_in.storage_state(),
                        **({"user_agent": user_agent} if user_agent else {}),
                    )
                self.problems.extend(self._axe(checkers[id(visited_in)], url))
        finally:
            for checker in checkers.values():
                checker.close()

    def _axe(self, context: BrowserContext, url: str) -> list[str]:
        page = context.new_page()
        try:
            # An init script is injected by the browser itself, so the page's CSP still holds.
            page.add_init_script(path=str(AXE))
            page.goto(url)
            violations: list[str] = page.evaluate(
                """tags => Promise.race([
                    axe.run(document, {runOnly: {type: "tag", values: tags}}).then(result =>
                        result.violations
                            .filter(v => v.impact === "serious" || v.impact === "critical")
                            .map(v => `${v.impact} ${v.id}: ${v.help} — ` +
                                 v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | "))),
                    new Promise(done => setTimeout(() => done(["axe did not finish in 20 s"]), 20000)),
                ])""",
                AXE_TAGS,
            )
            return [f"accessibility on {url}: {violation}" for violation in violations]
        finally:
            page.close()

    def assert_clean(self) -> None:
        assert not self.dialogs, f"a script ran and opened a dialog: {self.dialogs}"
        assert not self.problems, f"errors in the browser: {self.problems}"

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()

    def screenshot(self, page: Page, name: str) -> None:
        """Save docs/screenshots/<name>-desktop.png (1280×900) and <name>-phone.png (390×844).

        The phone shot reopens the same address in a phone-sized context that shares the page's
        cookies and user agent (Flask-Login's strong session protection checks the latter).
        """
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size(DESKTOP)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-desktop.png"), full_page=True)
        phone = self.browser.new_context(
            base_url=self.base_url,
            viewport=PHONE,
            is_mobile=True,
            has_touch=True,
            device_scale_factor=2,
            user_agent=page.evaluate("navigator.userAgent"),
            storage_state=page.context.storage_state(),
        )
        try:
            phone_page = phone.new_page()
            self.watch(phone_page)
            phone_page.goto(page.url)
            phone_page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
        finally:
            phone.close()


@pytest.fixture
def browsing(browser: Browser, live: LiveServer) -> Iterator[Browsing]:
    session = Browsing(browser=browser, base_url=live.url)
    try:
        yield session
        session.check_accessibility()
    finally:
        session.close()
    session.assert_clean()


@pytest.fixture
def sign_in(browsing: Browsing, live: LiveServer) -> Callable[..., Page]:
    """`sign_in("resp_a1")` → a page in a fresh context, signed in through /auth/login."""

    def _sign_in(persona: str, **context_options: Any) -> Page:
        page = browsing.new_page(**context_options)
        page.goto("/auth/login")
        page.get_by_label("Email").fill(live.email(persona))
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/staff/queue**")
        return page

    return _sign_in

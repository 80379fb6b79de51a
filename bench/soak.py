"""`make soak`: the whole stack under a mixed load for SOAK_MINUTES, with planned kills, then a
reconciliation of what every client was shown against the database and a mail sink (issue 12).

What runs, on a fresh temporary database (SQLite, or PostgreSQL with SOAK_DATABASE=postgres):
  gunicorn (3 sync workers), `flask worker` (the scheduler: sweep and catch-up delivery) and
  `flask rq-worker` (the jobs), with Redis on a spare database number of the local server, and
  an SMTP sink in this process that records every message (Message-ID, To, Subject, reference).

The load, from client threads that each behave like a browser (cookies, CSRF tokens, 303s):
  customers file complaints (some with a small text or PNG attachment; some forms posted twice
  with the same idempotency key, one after the other or at the same moment), come back to their
  case through their private session, add messages, and answer outcomes (yes or no);
  responders claim, reply, write notes, escalate, resolve small problems and propose
  compensation above the approval threshold; leads work the escalated cases; managers resolve
  (propose) at their tier and approve the others' proposals (four-eyes).
At 40% and 70% of the time one gunicorn worker (a child of the master) and the rq-worker are
killed with SIGKILL; gunicorn replaces its worker, the soak restarts the rq-worker. A request in
flight on the killed worker fails (reset, no answer): it is counted apart, and the client does
what a browser user would: a filing is sent again with the same idempotency key; any other
action is checked on the page first and only sent again if it did not happen.

Afterwards the load stops, the background work drains (up to a minute), everything is stopped,
and the client log is reconciled with the database and the sink:
  - every reference a client was shown is stored exactly once, with its attachment if one was
    sent, and its acknowledgement reached the sink exactly once (by Message-ID; duplicates of one
    Message-ID are counted, two Message-IDs for one acknowledgement fail);
  - every email the outbox marks sent arrived; nothing is left pending, failed or dead;
  - no 5xx at all, and no failed connection that a planned kill does not explain;
  - every action answered 303 is in the ticket's events exactly once; a refused one (409/422)
    left no event;
  - SQLite `PRAGMA integrity_check` is ok (PostgreSQL: count cross-checks, done on both), and
    `flask audit-verify` passes.
Exit status 0 only when nothing missed.

Environment (all optional):
  SOAK_MINUTES=10        minutes of load (the kills at 40% and 70%)
  SOAK_DATABASE=sqlite   or postgres
  SOAK_POSTGRES_URL      postgresql+psycopg://postgres@127.0.0.1:5432/soak (dropped and created;
                         the database name must start with "soak")
  SOAK_REDIS_URL         redis://127.0.0.1:6379/11 (flushed at start and end)
  SOAK_CUSTOMERS=4       customer threads (staff: 8 threads, one per account)
  SOAK_THINK=1.0         mean pause between one client's actions, in seconds
  SOAK_AWAIT_RESEND=1    after the drain, also wait for sends cut off by the rq-worker kill to be
                         sent again (the app resends a claim after 10 minutes)
  KEEP=1                 keep the temporary directory (and the PostgreSQL database); both are
                         kept anyway when the soak misses something
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import html as htmllib
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
USER_AGENT = "portal-soak/1"  # Flask-Login's strong session protection ties a session to it
PASSWORD = "soak-staff-password-2026"  # noqa: S105 - throwaway soak database only
WEB_WORKERS = 3
SWEEP_EVERY = 20  # seconds: the scheduler queues the sweep and a catch-up delivery this often
STALE_CLAIM_SECONDS = 600  # portal.notifications.dispatch.STALE_CLAIM: an interrupted send is resent
MAIL_DOMAIN = "soak.example"
REFERENCE = re.compile(r"\b(?:CP|FB)-\d{4}-\d{6}\b")
MARKER = re.compile(r"soak-m-[0-9a-f]{12}")
OUTBOX_ID = re.compile(r"^<outbox-(\d+)@")
ACK_SUBJECT = "We have received your complaint"
# Staff accounts: (name, email, role, department). Responders and leads where complaints go (R5).
STAFF = [
    ("Quinn Responder", "responder.q1@soak.example", "responder", "Quality"),
    ("Quentin Responder", "responder.q2@soak.example", "responder", "Quality"),
    ("Ada Responder", "responder.a1@soak.example", "responder", "After-sales"),
    ("Cai Responder", "responder.c1@soak.example", "responder", "Customer Service"),
    ("Lena Lead", "lead.q@soak.example", "lead", "Quality"),
    ("Arne Lead", "lead.a@soak.example", "lead", "After-sales"),
    ("Mira Manager", "manager.1@soak.example", "manager", "Management Office"),
    ("Mats Manager", "manager.2@soak.example", "manager", "Management Office"),
]
# Categories whose department has responders (Staff attitude → Management Office has none here).
CATEGORIES = (
    "Product quality",
    "Delivery and installation",
    "Repairs and after-sales service",
    "Billing and charges",
    "Something else",
)


def env_text(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def new_marker() -> str:
    return f"soak-m-{secrets.token_hex(6)}"


# --- the client log ------------------------------------------------------------------------------


@dataclass
class Hit:
    """One HTTP request as the client saw it: a status, or the error instead of an answer."""

    who: str
    route: str
    started: float
    ended: float
    status: int | None
    error: str | None = None
    location: str | None = None


@dataclass
class FilingRecord:
    """One complaint form: every answer it got and every reference its confirmation page showed."""

    key: str
    email: str
    attachment_sha256: str | None
    double: str  # "", "sequential" or "concurrent": the same form posted twice
    shown: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)  # "303", "422", "reset" ... per POST


@dataclass
class ActionRecord:
    """One state-changing click other than filing, and what it must have left in the events."""

    who: str
    kind: str  # claim, reply, note, escalate, resolve, propose, approve, message, answer
    event: str  # the ticket event it must leave: claimed, reply, note, escalated ...
    ticket_id: int | None = None
    reference: str | None = None
    marker: str | None = None  # in the event's body (None: matched by actor instead)
    actor_id: int | None = None
    attachment_sha256: str | None = None
    answers: list[str] = field(default_factory=list)
    outcome: str = "unknown"  # done | refused | unknown (no answer after the retries)


@dataclass
class Kill:
    what: str  # "web" or "jobs"
    pid: int
    at: float
    replaced_by: int | None = None
    replaced_after: float | None = None
    resend_awaited: bool = False  # the drain waited for the sends this kill cut off


class ClientLog:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hits: list[Hit] = []
        self.filings: list[FilingRecord] = []
        self.actions: list[ActionRecord] = []
        self.crashes: list[str] = []

    def hit(self, hit: Hit) -> None:
        with self.lock:
            self.hits.append(hit)

    def filing(self, record: FilingRecord) -> None:
        with self.lock:
            self.filings.append(record)

    def action(self, record: ActionRecord) -> None:
        with self.lock:
            self.actions.append(record)

    def crash(self, text: str) -> None:
        with self.lock:
            self.crashes.append(text)

    def save(self, path: Path, kills: list[Kill]) -> None:
        """The client log as JSON: every request, form, action and kill (kept with KEEP=1)."""
        with self.lock:
            data = {
                "kills": [asdict(k) for k in kills],
                "filings": [asdict(f) for f in self.filings],
                "actions": [asdict(a) for a in self.actions],
                "requests": [asdict(h) for h in self.hits],
                "client failures": self.crashes,
            }
        path.write_text(json.dumps(data, indent=1))


# --- the SMTP sink -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SinkMessage:
    message_id: str
    to: str
    subject: str
    references: tuple[str, ...]
    at: float


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    timeout = 30

    def say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        sink: SmtpSink = self.server.sink  # type: ignore[attr-defined]
        try:
            self.say("220 soak-sink ESMTP")
            data: list[bytes] | None = None
            while True:
                line = self.rfile.readline(1_000_000)
                if not line:
                    return
                if data is not None:
                    if line in (b".\r\n", b".\n"):
                        sink.record(b"".join(data))
                        data = None
                        self.say("250 2.0.0 queued")
                    else:
                        data.append(line[1:] if line.startswith(b"..") else line)
                    continue
                verb = line.strip().split(b" ", 1)[0].upper()
                if verb == b"EHLO":
                    self.wfile.write(b"250-soak-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                    self.wfile.flush()
                elif verb == b"DATA":
                    data = []
                    self.say("354 end with <CRLF>.<CRLF>")
                elif verb == b"QUIT":
                    self.say("221 bye")
                    return
                elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                    self.say("250 ok")
                else:
                    self.say("502 not implemented")
        except OSError:
            return


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class SmtpSink:
    """A local SMTP server that keeps every message it is handed."""

    def __init__(self) -> None:
        self.messages: list[SinkMessage] = []
        self.lock = threading.Lock()
        self.server = _SmtpServer(("127.0.0.1", 0), _SmtpHandler)
        self.server.sink = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.2,), daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def record(self, raw: bytes) -> None:
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
        subject = str(message.get("Subject", ""))
        found = SinkMessage(
            message_id=str(message.get("Message-ID", "")).strip(),
            to=str(message.get("To", "")),
            subject=subject,
            references=tuple(dict.fromkeys(REFERENCE.findall(subject))),
            at=time.time(),
        )
        with self.lock:
            self.messages.append(found)

    def snapshot(self) -> list[SinkMessage]:
        with self.lock:
            return list(self.messages)


# --- a browser, more or less ---------------------------------------------------------------------


class Reset(Exception):
    """The request got no answer: connection reset or closed, or timed out."""


@dataclass
class Page:
    status: int
    location: str | None
    text: str


INPUT_TAG = re.compile(r"<input\b[^>]*>", re.IGNORECASE)
ATTRIBUTE = re.compile(r'([a-zA-Z_:-]+)="([^"]*)"')


def inputs(page: str) -> dict[str, str]:
    """name → value of the page's <input> fields (the first of each name)."""
    found: dict[str, str] = {}
    for tag in INPUT_TAG.findall(page):
        attrs = {k.lower(): htmllib.unescape(v) for k, v in ATTRIBUTE.findall(tag)}
        if "name" in attrs:
            found.setdefault(attrs["name"], attrs.get("value", ""))
    return found


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes, str]]) -> tuple[bytes, str]:
    boundary = "soak" + secrets.token_hex(12)
    parts: list[bytes] = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(head.encode() + value.encode() + b"\r\n")
    for name, filename, data, content_type in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def route_of(method: str, path: str) -> str:
    """A path with its ids, references and tokens taken out, for counting answers per route."""
    path = urlsplit(path).path
    path = REFERENCE.sub("REF", path)
    path = re.sub(r"/track/[^/]+", "/track/TOKEN", path)
    path = re.sub(r"/\d+", "/N", path)
    return f"{method} {path}"


class Browser:
    def __init__(self, port: int, who: str, log: ClientLog) -> None:
        self.port = port
        self.who = who
        self.log = log
        self.cookies: dict[str, str] = {}
        self.lock = threading.Lock()

    def get(self, path: str) -> Page:
        return self.request("GET", path)

    def post(
        self, path: str, fields: dict[str, str], files: list[tuple[str, str, bytes, str]] | None = None
    ) -> Page:
        if files is not None:
            body, content_type = multipart(fields, files)
        else:
            body, content_type = urlencode(fields).encode(), "application/x-www-form-urlencoded"
        return self.request("POST", path, body, content_type)

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str = "") -> Page:
        headers = {"User-Agent": USER_AGENT, "Accept-Language": "en"}
        with self.lock:
            if self.cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = content_type
        started = time.time()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as error:
            self.log.hit(
                Hit(self.who, route_of(method, path), started, time.time(), None, type(error).__name__)
            )
            raise Reset(type(error).__name__) from error
        finally:
            conn.close()
        location = response.getheader("Location")
        self.log.hit(
            Hit(self.who, route_of(method, path), started, time.time(), response.status, None, location)
        )
        self._keep_cookies(response)
        return Page(response.status, urlsplit(location).path if location else None, text)

    def _keep_cookies(self, response: http.client.HTTPResponse) -> None:
        for header in response.msg.get_all("Set-Cookie") or []:
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(header)
            with self.lock:
                for name, morsel in parsed.items():
                    if morsel.value == "" or morsel["max-age"] == "0":
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.value


EVENT_ITEM = re.compile(r'<li class="event event-([a-z_]+)[^"]*">(.*?)</li>', re.DOTALL)


def page_has_event(page: str, kind: str, marker: str | None = None, actor_name: str | None = None) -> bool:
    """Whether the page's timeline shows an event of `kind` with the marker (and by the actor)."""
    for found_kind, body in EVENT_ITEM.findall(page):
        if found_kind != kind:
            continue
        if marker is not None and marker not in body:
            continue
        if actor_name is not None and htmllib.escape(actor_name) not in body:
            continue
        return True
    return False


def tiny_png(text: str) -> bytes:
    """A valid 1×1 PNG carrying `text`, so every attachment has its own SHA-256."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", b"Comment\x00" + text.encode())
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


def sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def maybe_attachment(
    rng: random.Random, share: float
) -> tuple[list[tuple[str, str, bytes, str]], str | None]:
    if rng.random() >= share:
        return [], None
    label = secrets.token_hex(8)
    if rng.random() < 0.5:
        data = f"Receipt {label}\nPaid 129.00 at the counter.\n".encode()
        return [("attachments", f"receipt-{label}.txt", data, "text/plain")], sha256(data)
    data = tiny_png(label)
    return [("attachments", f"photo-{label}.png", data, "image/png")], sha256(data)


# --- the load ------------------------------------------------------------------------------------


@dataclass
class Case:
    reference: str
    tracking_path: str | None


@dataclass
class Persona:
    """One customer's browser: the complaints it filed are in its session (up to 20 are kept)."""

    browser: Browser
    number: int
    cases: list[Case] = field(default_factory=list)
    filed: int = 0


class Load:
    def __init__(
        self,
        port: int,
        log: ClientLog,
        deadline: float,
        think: float,
        staff_ids: dict[str, int],
        category_ids: list[int],
    ) -> None:
        self.port = port
        self.log = log
        self.deadline = deadline
        self.think = think
        self.staff_ids = staff_ids
        self.category_ids = category_ids
        self.stop = threading.Event()

    def running(self) -> bool:
        return not self.stop.is_set() and time.time() < self.deadline

    def pause(self, rng: random.Random) -> None:
        self.stop.wait(rng.uniform(0.5 * self.think, 1.5 * self.think))


def perform(
    action: ActionRecord,
    send: Callable[[], Page],
    happened: Callable[[], bool],
    *,
    done_statuses: tuple[int, ...] = (303,),
) -> Page | None:
    """Send a state-changing form as a careful user would: after a failed connection (or a 5xx),
    look at the page first, and send again only when it did not happen (at most three tries)."""
    for _attempt in range(3):
        try:
            page = send()
        except Reset:
            action.answers.append("reset")
        else:
            action.answers.append(str(page.status))
            if page.status < 500:
                action.outcome = "done" if page.status in done_statuses else "refused"
                return page
        time.sleep(1)
        try:
            if happened():
                action.outcome = "done"
                return None
        except Reset:
            action.answers.append("reset (checking)")
    return None


def get_retrying(browser: Browser, path: str, tries: int = 3) -> Page | None:
    for _attempt in range(tries):
        try:
            return browser.get(path)
        except Reset:
            time.sleep(1)
    return None


# customers


def file_complaint(load: Load, persona: Persona, rng: random.Random, thread: int) -> None:
    form_page = get_retrying(persona.browser, "/complaints/new")
    if form_page is None or form_page.status != 200:
        return
    given = inputs(form_page.text)
    persona.filed += 1
    address = f"customer.{thread}.{persona.number}.{persona.filed}@example.org"
    files, digest = maybe_attachment(rng, 0.25)
    double = rng.choices(["", "sequential", "concurrent"], [80, 10, 10])[0]
    record = FilingRecord(
        key=given.get("idempotency_key", ""), email=address, attachment_sha256=digest, double=double
    )
    fields = {
        "csrf_token": given.get("csrf_token", ""),
        "idempotency_key": record.key,
        "name": f"Customer {thread}-{persona.number}",
        "email": address,
        "phone": "",
        "preferred_contact": "email",
        "category": str(rng.choice(load.category_ids)),
        "subject": f"Soak complaint {thread}-{persona.number}-{persona.filed}",
        "description": "The delivery came late and the box was damaged. Please call me back.",
        "about": "",
        "order_number": f"SO-{rng.randint(10000, 99999)}",
        "address": "",
        "consent": "y",
    }
    load.log.filing(record)

    def submit() -> None:
        """One post of the form; after a failed connection, the same form again (same key)."""
        for _attempt in range(5):
            try:
                page = persona.browser.post("/complaints/new", fields, files)
            except Reset:
                record.answers.append("reset")
                time.sleep(1)
                continue
            record.answers.append(str(page.status))
            if page.status >= 500:
                time.sleep(2)  # "Please try again in a moment"
                continue
            if page.status == 303 and page.location:
                shown = get_retrying(persona.browser, page.location)
                if shown is not None and shown.status == 200:
                    match = re.search(r'id="reference">\s*([^<\s]+)\s*<', shown.text)
                    link = re.search(r'id="tracking-link" href="([^"]+)"', shown.text)
                    if match:
                        reference = match.group(1)
                        record.shown.append(reference)
                        if all(c.reference != reference for c in persona.cases):
                            tracking = urlsplit(htmllib.unescape(link.group(1))).path if link else None
                            persona.cases.append(Case(reference, tracking))
            return

    if double == "concurrent":
        twins = [threading.Thread(target=submit, daemon=True) for _ in range(2)]
        for twin in twins:
            twin.start()
        for twin in twins:
            twin.join(timeout=400)
    else:
        submit()
        if double == "sequential":
            submit()


def visit_case(load: Load, browser: Browser, case: Case, rng: random.Random) -> None:
    """The customer looks at the case: answers an outcome if one waits, or writes a message."""
    path = f"/case/{case.reference}"
    page = get_retrying(browser, path)
    if page is None or page.status != 200:
        return
    token = inputs(page.text).get("csrf_token", "")
    if 'id="answer"' in page.text:
        marker = new_marker()
        satisfied = rng.random() < 0.7
        action = ActionRecord(
            who=browser.who,
            kind="answer",
            event="customer_confirmed" if satisfied else "customer_reopened",
            reference=case.reference,
            marker=marker,
        )
        load.log.action(action)
        fields = {
            "csrf_token": token,
            "resolved": "yes" if satisfied else "no",
            "satisfaction": "5" if satisfied else "2",
            "comment": f"{'Thanks' if satisfied else 'Still broken'} {marker}",
        }
        answered = perform(
            action,
            lambda: browser.post(f"{path}/answer", fields),
            lambda: page_has_event(browser.get(path).text, action.event, marker),
        )
        if answered is not None and answered.status == 303 and answered.location:
            # An answer given already is thanked with a 303 as well: the page says which it was.
            after = get_retrying(browser, answered.location)
            if after is not None and "We already have your answer" in after.text:
                action.outcome = "refused"
                action.answers.append("already answered")
        return
    if f"{path}/messages" in page.text and rng.random() < 0.6:
        marker = new_marker()
        files, digest = maybe_attachment(rng, 0.3)
        action = ActionRecord(
            who=browser.who,
            kind="message",
            event="customer_message",
            reference=case.reference,
            marker=marker,
            attachment_sha256=digest,
        )
        load.log.action(action)
        fields = {"csrf_token": token, "body": f"Any news on this? {marker}"}
        perform(
            action,
            lambda: browser.post(f"{path}/messages", fields, files),
            lambda: page_has_event(browser.get(path).text, "customer_message", marker),
        )


def open_private_link(load: Load, case: Case, thread: int, rng: random.Random) -> None:
    """The customer opens the link from the acknowledgement on another device: a fresh browser,
    303 from /track/<token> to the case, and then the same as any visit."""
    if not case.tracking_path:
        return
    browser = Browser(load.port, f"customer-{thread}-link", load.log)
    with contextlib.suppress(Reset):
        page = browser.get(case.tracking_path)
        if page.status == 303 and page.location:
            visit_case(load, browser, case, rng)


def customer(load: Load, thread: int) -> None:
    rng = random.Random(f"customer-{thread}-{secrets.token_hex(4)}")
    personas: list[Persona] = []
    while load.running():
        if not personas or personas[-1].filed >= 6:
            personas.append(Persona(Browser(load.port, f"customer-{thread}", load.log), len(personas) + 1))
        cases = [(p, c) for p in personas for c in p.cases]
        roll = rng.random()
        if not cases or roll < 0.4:
            file_complaint(load, personas[-1], rng, thread)
        elif roll < 0.85:
            persona, case = rng.choice(cases)
            visit_case(load, persona.browser, case, rng)
        else:
            open_private_link(load, rng.choice(cases)[1], thread, rng)
        load.pause(rng)


# staff


@dataclass
class Row:
    ticket_id: int
    status: str
    tier: int


QUEUE_ROW = re.compile(r'<tr id="ticket-row-(\d+)"(.*?)</tr>', re.DOTALL)


def queue_rows(page: str) -> list[Row]:
    rows = []
    for ticket_id, body in QUEUE_ROW.findall(page):
        status = re.search(r"badge status-([a-z_]+)", body)
        tier = re.search(r"badge tier-(\d)", body)
        rows.append(Row(int(ticket_id), status.group(1) if status else "", int(tier.group(1)) if tier else 1))
    return rows


@dataclass
class TicketPage:
    text: str
    status: str
    tier: int
    version: str
    token: str
    owner: str | None


def ticket_page(browser: Browser, ticket_id: int) -> TicketPage | None:
    page = get_retrying(browser, f"/staff/tickets/{ticket_id}")
    if page is None or page.status != 200:
        return None
    head = page.text.split('id="ticket-timeline"', 1)[0]
    status = re.search(r"badge status-([a-z_]+)", head)
    tier = re.search(r"badge tier-(\d)", head)
    owner = re.search(r"Owner: <strong><bdi>([^<]*)</bdi>", head)
    given = inputs(page.text)
    return TicketPage(
        text=page.text,
        status=status.group(1) if status else "",
        tier=int(tier.group(1)) if tier else 1,
        version=given.get("version", ""),
        token=given.get("csrf_token", ""),
        owner=htmllib.unescape(owner.group(1)) if owner else None,
    )


class Staff:
    def __init__(self, load: Load, name: str, email: str, role: str) -> None:
        self.load = load
        self.name = name
        self.email = email
        self.role = role
        self.id = load.staff_ids[email]
        self.browser = Browser(load.port, email, load.log)
        self.rng = random.Random(f"{email}-{secrets.token_hex(4)}")

    def sign_in(self) -> bool:
        for _attempt in range(5):
            with contextlib.suppress(Reset):
                self.browser.cookies.clear()
                form = self.browser.get("/auth/login")
                token = inputs(form.text).get("csrf_token", "")
                answer = self.browser.post(
                    "/auth/login", {"email": self.email, "password": PASSWORD, "csrf_token": token}
                )
                if answer.status == 303:
                    return True
            time.sleep(1)
        return False

    def queue(self, scope: str, status: str) -> list[Row] | None:
        page = get_retrying(self.browser, f"/staff/queue?scope={scope}&status={status}")
        if page is None:
            return None
        if page.status in (302, 303, 401):  # signed out (idle, or a session the kill lost)
            self.sign_in()
            return None
        return queue_rows(page.text) if page.status == 200 else None

    def record(self, kind: str, event: str, ticket_id: int, marker: str | None) -> ActionRecord:
        action = ActionRecord(
            who=self.email, kind=kind, event=event, ticket_id=ticket_id, marker=marker, actor_id=self.id
        )
        self.load.log.action(action)
        return action

    def happened(self, ticket_id: int, kind: str, marker: str | None) -> Callable[[], bool]:
        def check() -> bool:
            page = self.browser.get(f"/staff/tickets/{ticket_id}")
            return page_has_event(page.text, kind, marker, self.name)

        return check

    def claim(self, ticket_id: int) -> None:
        page = ticket_page(self.browser, ticket_id)
        if page is None or page.owner is not None:
            return
        action = self.record("claim", "claimed", ticket_id, None)
        perform(
            action,
            lambda: self.browser.post(f"/staff/tickets/{ticket_id}/claim", {"csrf_token": page.token}),
            self.happened(ticket_id, "claimed", None),
        )

    def act(self, ticket_id: int, choices: dict[str, int]) -> None:
        """One action on the ticket, chosen by weight among those its page allows now."""
        page = ticket_page(self.browser, ticket_id)
        if page is None:
            return
        allowed = dict(choices)
        if page.status not in ("acknowledged", "in_progress"):
            allowed = {k: v for k, v in allowed.items() if k in ("reply", "note")}
        if page.tier >= 3 or (self.role == "lead" and page.tier != 2):
            allowed.pop("escalate", None)
        if not allowed:
            return
        kind = self.rng.choices(list(allowed), list(allowed.values()))[0]
        marker = new_marker()
        base = f"/staff/tickets/{ticket_id}"
        fields: dict[str, str] = {"csrf_token": page.token}
        if kind == "reply":
            path, event = f"{base}/reply", "reply"
            fields.update(body=f"We are looking into it. {marker}", promise_by="")
        elif kind == "note":
            path, event = f"{base}/notes", "note"
            fields.update(body=f"Checked the order history. {marker}")
        elif kind == "escalate":
            path, event = f"{base}/escalate", "escalated"
            fields.update(version=page.version, reason=f"Needs the next tier. {marker}")
        else:  # resolve (no approval needed) or propose (compensation above the threshold, or tier 3)
            amount = "800.00" if kind == "propose" else self.rng.choice(["", "50.00"])
            needs_manager = kind == "propose" or page.tier >= 3
            path, event = f"{base}/resolve", "proposed" if needs_manager else "resolved"
            kind = "propose" if needs_manager else "resolve"
            fields.update(
                version=page.version,
                outcome="compensation" if amount else "explanation",
                amount=amount,
                root_cause="0",
                summary=f"Refund agreed with the customer. {marker}",
                customer_reply=f"We have sorted this out for you. {marker}",
            )
        action = self.record(kind, event, ticket_id, marker)
        perform(action, lambda: self.browser.post(path, fields), self.happened(ticket_id, event, marker))

    def approve(self) -> bool:
        page = get_retrying(self.browser, "/manage/approvals")
        if page is None or page.status != 200:
            return False
        cards = re.findall(
            r'<article class="proposal-card" id="proposal-(\d+)">(.*?)</article>', page.text, re.DOTALL
        )
        open_cards = [(int(pid), body) for pid, body in cards if f"/manage/proposals/{pid}/approve" in body]
        if not open_cards:
            return False
        proposal_id, body = self.rng.choice(open_cards)
        ticket = re.search(r"/staff/tickets/(\d+)", body)
        marker = MARKER.search(body)
        if ticket is None or marker is None:
            return False
        ticket_id = int(ticket.group(1))
        action = self.record("approve", "approved", ticket_id, marker.group(0))
        token = inputs(page.text).get("csrf_token", "")
        perform(
            action,
            lambda: self.browser.post(f"/manage/proposals/{proposal_id}/approve", {"csrf_token": token}),
            self.happened(ticket_id, "approved", marker.group(0)),
        )
        return True

    def run(self) -> None:
        if not self.sign_in():
            self.load.log.crash(f"{self.email}: could not sign in")
            return
        while self.load.running():
            if self.role == "responder":
                self.responder_step()
            elif self.role == "lead":
                self.lead_step()
            else:
                self.manager_step()
            self.load.pause(self.rng)

    def responder_step(self) -> None:
        mine = self.queue("mine", "open")
        if mine is None:
            return
        workable = [r for r in mine if r.status in ("acknowledged", "in_progress")]
        if len(workable) < 3 and self.rng.random() < 0.7:
            waiting = self.queue("unassigned", "new")
            if waiting:
                self.claim(self.rng.choice(waiting[:10]).ticket_id)
                return
        if workable:
            weights = {"reply": 30, "note": 10, "escalate": 10, "resolve": 35, "propose": 15}
            self.act(self.rng.choice(workable).ticket_id, weights)

    def lead_step(self) -> None:
        rows = self.queue("department", "open")
        if not rows:
            return
        escalated = [r for r in rows if r.tier == 2 and r.status in ("acknowledged", "in_progress")]
        if escalated:
            weights = {"reply": 25, "note": 15, "escalate": 20, "resolve": 40}
            self.act(self.rng.choice(escalated).ticket_id, weights)
        elif self.rng.random() < 0.3:
            self.act(self.rng.choice(rows).ticket_id, {"note": 1})

    def manager_step(self) -> None:
        if self.rng.random() < 0.6 and self.approve():
            return
        rows = self.queue("all", "in_progress")
        top = [r for r in rows or [] if r.tier == 3]
        if top:
            self.act(self.rng.choice(top).ticket_id, {"reply": 30, "propose": 70})


def guarded(log: ClientLog, name: str, body: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            body()
        except Exception:
            log.crash(f"{name}: {traceback.format_exc()}")

    return run


# --- the stack -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def code_fingerprint() -> dict[str, tuple[int, int]]:
    """Size and modification time of every file the processes load: a process started later (a
    replacement worker, the restarted rq-worker) runs the tree as it is then, not as it was."""
    found = {}
    for folder in ("portal", "migrations", "templates"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".mo":
                stat = path.stat()
                found[str(path.relative_to(ROOT))] = (stat.st_mtime_ns, stat.st_size)
    wsgi = ROOT / "wsgi.py"
    found["wsgi.py"] = (wsgi.stat().st_mtime_ns, wsgi.stat().st_size)
    return found


def code_changes(before: dict[str, tuple[int, int]]) -> list[str]:
    after = code_fingerprint()
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if fields and fields[1] == str(pid):
            found.append(int(entry.name))
    return found


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


class Stack:
    """gunicorn, the scheduler and the job worker, each in its own process group."""

    def __init__(self, workdir: Path, env: dict[str, str], port: int) -> None:
        self.workdir = workdir
        self.env = env
        self.port = port
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.dead: list[subprocess.Popen[bytes]] = []
        self.lock = threading.Lock()

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        with self.log(name).open("ab") as out:
            process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        with self.lock:
            self.processes[name] = process
        return process

    def start(self) -> None:
        self.spawn(
            "gunicorn",
            [
                GUNICORN,
                "--workers",
                str(WEB_WORKERS),
                "--worker-class",
                "sync",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--chdir",
                str(ROOT),
                "--timeout",
                "60",
                "--graceful-timeout",
                "10",
                "--log-level",
                "warning",
                "wsgi:app",
            ],
        )
        self.spawn("scheduler", [*FLASK, "worker", "--sweep-every", str(SWEEP_EVERY)])
        self.spawn("rq-worker", [*FLASK, "rq-worker"])
        deadline = time.time() + 120
        while time.time() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail(self.log(name))}")
            if len(self.web_workers()) == WEB_WORKERS:
                with contextlib.suppress(OSError, http.client.HTTPException):
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                    conn.request("GET", "/healthz/ready")
                    if conn.getresponse().status == 200:
                        return
            time.sleep(0.5)
        raise RuntimeError(f"gunicorn not ready within 120 s:\n{tail(self.log('gunicorn'))}")

    def web_workers(self) -> list[int]:
        return children_of(self.processes["gunicorn"].pid)

    def kill_web_worker(self, rng: random.Random) -> Kill:
        before = self.web_workers()
        if not before:
            raise RuntimeError("gunicorn has no workers to kill")
        # The busiest worker (CPU over the last 0.2 s) is the likeliest to have a request in flight.
        first = {pid: cpu_ticks(pid) for pid in before}
        time.sleep(0.2)
        busy = {pid: cpu_ticks(pid) - first[pid] for pid in before}
        top = max(busy.values())
        victim = rng.choice([pid for pid, used in busy.items() if used == top])
        os.kill(victim, signal.SIGKILL)
        kill = Kill("web", victim, time.time())
        deadline = time.time() + 90
        while time.time() < deadline:
            now = self.web_workers()
            fresh = [pid for pid in now if pid not in before]
            if len(now) == WEB_WORKERS and fresh:
                kill.replaced_by, kill.replaced_after = fresh[0], time.time() - kill.at
                break
            time.sleep(0.2)
        return kill

    def kill_jobs(self) -> Kill:
        process = self.processes["rq-worker"]
        os.kill(process.pid, signal.SIGKILL)
        kill = Kill("jobs", process.pid, time.time())
        process.wait(timeout=10)
        self.dead.append(process)
        time.sleep(2)
        restarted = self.spawn("rq-worker", [*FLASK, "rq-worker"])
        kill.replaced_by, kill.replaced_after = restarted.pid, time.time() - kill.at
        return kill

    def stop(self) -> None:
        with self.lock:
            processes = list(self.processes.items())
        for name, process in reversed(processes):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGINT if name == "gunicorn" else signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=20)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # anything left in its group
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        for process in self.dead:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=1)


# --- facts from the database ---------------------------------------------------------------------


@dataclass(frozen=True)
class TicketFact:
    id: int
    reference: str
    idempotency_key: str | None
    customer_email: str | None


@dataclass(frozen=True)
class EventFact:
    id: int
    ticket_id: int
    kind: str
    actor_id: int | None
    body: str | None


@dataclass(frozen=True)
class AttachmentFact:
    ticket_id: int
    event_id: int | None
    sha256: str
    file_ok: bool  # the stored file exists and has that SHA-256


@dataclass(frozen=True)
class NotificationFact:
    id: int
    ticket_id: int | None
    event: str
    channel: str
    status: str
    claimed_at: float | None
    to_address: str | None


@dataclass
class Facts:
    tickets: list[TicketFact]
    events: list[EventFact]
    attachments: list[AttachmentFact]
    notifications: list[NotificationFact]
    counts: dict[str, int]
    integrity: str  # "ok", or what the check said; "n/a" on PostgreSQL
    audit_ok: bool
    audit_said: str
    orphan_files: int


def epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return float(value.timestamp())


def engine_for(url: str) -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(url, poolclass=NullPool)


def gather_facts(url: str, upload_dir: Path, sqlite_path: Path | None, env: dict[str, str]) -> Facts:
    from sqlalchemy import text

    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            tickets = [
                TicketFact(int(r[0]), r[1], r[2], r[3])
                for r in conn.execute(
                    text("SELECT id, reference, idempotency_key, customer_email FROM ticket")
                )
            ]
            events = [
                EventFact(int(r[0]), int(r[1]), r[2], r[3], r[4])
                for r in conn.execute(text("SELECT id, ticket_id, kind, actor_id, body FROM ticket_event"))
            ]
            rows = conn.execute(text("SELECT ticket_id, event_id, sha256, stored_name FROM attachment")).all()
            notifications = [
                NotificationFact(int(r[0]), r[1], r[2], r[3], r[4], epoch(r[5]), r[6])
                for r in conn.execute(
                    text(
                        "SELECT id, ticket_id, event, channel, status, claimed_at, to_address "
                        "FROM notification WHERE channel <> 'in_app'"
                    )
                )
            ]
            counts = {
                "audit rows": int(conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()),
                "audit chain length": int(
                    conn.execute(text("SELECT coalesce(max(row_count), 0) FROM audit_chain")).scalar_one()
                ),
            }
    finally:
        engine.dispose()
    attachments = []
    stored = set()
    for ticket_id, event_id, digest, stored_name in rows:
        stored.add(stored_name)
        path = upload_dir / stored_name
        attachments.append(
            AttachmentFact(
                int(ticket_id), event_id, digest, path.is_file() and sha256(path.read_bytes()) == digest
            )
        )
    on_disk = {p.name for p in upload_dir.iterdir()} if upload_dir.is_dir() else set()
    counts.update(
        {
            "tickets": len(tickets),
            "filed events": sum(1 for e in events if e.kind == "filed"),
            "tickets with a filed event": len({e.ticket_id for e in events if e.kind == "filed"}),
            "acknowledgement rows": sum(1 for n in notifications if n.event == "filed"),
            "attachment rows": len(attachments),
            "attachment files": len(on_disk & stored),
        }
    )
    integrity = "n/a"
    if sqlite_path is not None:
        import sqlite3

        conn3 = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
        try:
            result = [r[0] for r in conn3.execute("PRAGMA integrity_check").fetchall()]
            broken_keys = conn3.execute("PRAGMA foreign_key_check").fetchall()
        finally:
            conn3.close()
        integrity = (
            "ok" if result == ["ok"] and not broken_keys else "; ".join(map(str, result + broken_keys))[:500]
        )
    verify = subprocess.run(
        [*FLASK, "audit-verify"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    said = (verify.stdout + verify.stderr).strip().splitlines()
    return Facts(
        tickets=tickets,
        events=events,
        attachments=attachments,
        notifications=notifications,
        counts=counts,
        integrity=integrity,
        audit_ok=verify.returncode == 0 and "intact" in verify.stdout,
        audit_said=said[-1] if said else "",
        orphan_files=len(on_disk - stored),
    )


def outstanding_mail(url: str, explained_before: float | None) -> int:
    """Email/SMS rows not sent yet that a live worker should still send (for the drain)."""
    from sqlalchemy import text

    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT status, claimed_at FROM notification "
                    "WHERE channel <> 'in_app' AND status IN ('pending', 'failed', 'sending')"
                )
            ).all()
    finally:
        engine.dispose()
    waiting = 0
    for status, claimed_at in rows:
        claimed = epoch(claimed_at)
        cut_off = status == "sending" and explained_before is not None and claimed is not None
        if not (cut_off and claimed <= explained_before):
            waiting += 1
    return waiting


# --- reconciliation (pure) -----------------------------------------------------------------------


@dataclass
class Report:
    figures: list[tuple[str, str]] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def figure(self, label: str, value: object) -> None:
        self.figures.append((label, str(value)))

    def miss(self, text: str) -> None:
        self.misses.append(text)


KILL_SLACK = 1.0  # seconds: a request that failed this soon after a kill was on the killed worker


def explained_by_kill(hit: Hit, kills: Iterable[Kill]) -> bool:
    return any(k.what == "web" and hit.started - 0.05 <= k.at <= hit.ended + KILL_SLACK for k in kills)


def cut_off_by_kill(claimed_at: float | None, kills: Iterable[Kill]) -> bool:
    """A send claimed before an rq-worker kill and never finished: the kill cut it off (unless the
    soak waited for the app to send it again, SOAK_AWAIT_RESEND: then nothing is excused)."""
    jobs = [k.at for k in kills if k.what == "jobs" and not k.resend_awaited]
    return claimed_at is not None and any(claimed_at <= at + 0.5 for at in jobs)


def _listed(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" … (+{len(items) - limit})" if len(items) > limit else "")


def reconcile_http(hits: list[Hit], kills: list[Kill], report: Report) -> None:
    by_status = Counter(str(h.status) if h.status is not None else "no answer" for h in hits)
    report.figure("requests", len(hits))
    report.figure(
        "answers", ", ".join(f"{k} × {v}" for k, v in sorted(by_status.items(), key=lambda kv: kv[0]))
    )
    routes: dict[str, Counter[str]] = defaultdict(Counter)
    for hit in hits:
        routes[hit.route][str(hit.status) if hit.status is not None else "no answer"] += 1
    for route in sorted(routes):
        counts = routes[route]
        report.notes.append(f"{route:<42} " + ", ".join(f"{k} × {v}" for k, v in sorted(counts.items())))
    server_errors = [h for h in hits if h.status is not None and h.status >= 500]
    report.figure("5xx answers", len(server_errors))
    for hit in server_errors:
        at = datetime.fromtimestamp(hit.started, UTC).strftime("%H:%M:%S")
        report.miss(f"{hit.status} on {hit.route} at {at} UTC ({hit.who})")
    failed = [h for h in hits if h.status is None]
    explained = [h for h in failed if explained_by_kill(h, kills)]
    report.figure("requests cut off by the planned worker kills (reset, no answer)", len(explained))
    for hit in failed:
        if hit not in explained:
            at = datetime.fromtimestamp(hit.started, UTC).strftime("%H:%M:%S")
            report.miss(f"{hit.error} on {hit.route} at {at} UTC ({hit.who}), not near a planned kill")


def reconcile_filings(filings: list[FilingRecord], facts: Facts, report: Report) -> dict[str, FilingRecord]:
    """Every reference shown is stored exactly once, under its form's key, with its attachment."""
    by_key: dict[str, list[TicketFact]] = defaultdict(list)
    for ticket in facts.tickets:
        if ticket.idempotency_key:
            by_key[ticket.idempotency_key].append(ticket)
    attachments_of: dict[int, list[AttachmentFact]] = defaultdict(list)
    for attachment in facts.attachments:
        attachments_of[attachment.ticket_id].append(attachment)
    filed_event = {e.ticket_id: e.id for e in facts.events if e.kind == "filed"}
    shown: dict[str, FilingRecord] = {}
    never_confirmed = 0
    for record in filings:
        references = set(record.shown)
        stored = by_key.get(record.key, [])
        if len(references) > 1:
            report.miss(
                f"one form (key {record.key[:10]}…) showed {len(references)} references: {sorted(references)}"
            )
        if len(stored) > 1:
            report.miss(f"key {record.key[:10]}… stored {len(stored)} times: {[t.reference for t in stored]}")
        if not references:
            if stored:
                never_confirmed += 1
            continue
        for reference in references:
            shown[reference] = record
            if not any(t.reference == reference for t in stored):
                report.miss(f"{reference} was shown to a customer but is not stored under its form's key")
        if len(stored) == 1:
            ticket = stored[0]
            if ticket.customer_email != record.email:
                report.miss(
                    f"{ticket.reference} stored with {ticket.customer_email}, filed as {record.email}"
                )
            on_filing = [a for a in attachments_of[ticket.id] if a.event_id == filed_event.get(ticket.id)]
            if record.attachment_sha256 is None and on_filing:
                report.miss(f"{ticket.reference}: {len(on_filing)} attachments stored, none sent")
            elif record.attachment_sha256 is not None:
                same = [a for a in on_filing if a.sha256 == record.attachment_sha256]
                if len(same) != 1 or len(on_filing) != 1:
                    report.miss(f"{ticket.reference}: attachment sent once, stored {len(same)} times")
                elif not same[0].file_ok:
                    report.miss(f"{ticket.reference}: the attachment's file is missing or changed")
    logged = {r.key for r in filings}
    phantoms = [t.reference for t in facts.tickets if t.idempotency_key not in logged]
    if phantoms:
        report.miss(f"stored complaints no client filed: {_listed(phantoms)}")
    doubles = [r for r in filings if r.double and r.shown]
    report.figure("complaint forms sent", len(filings))
    report.figure("references shown to customers", len(shown))
    sequential = sum(r.double == "sequential" for r in doubles)
    concurrent = sum(r.double == "concurrent" for r in doubles)
    one_each = all(len(set(r.shown)) == 1 and len(by_key.get(r.key, [])) == 1 for r in doubles)
    report.figure(
        "double submits (sequential / concurrent)",
        f"{sequential} / {concurrent}, each one complaint: {'yes' if one_each else 'NO'}",
    )
    report.figure(
        "filings sent again after a failed connection",
        sum(1 for r in filings if "reset" in r.answers and r.shown),
    )
    with_files = [r for r in filings if r.attachment_sha256 and r.shown]
    report.figure("filings with an attachment (stored with it)", len(with_files))
    report.figure("complaints stored", len(facts.tickets))
    if never_confirmed:
        report.figure("stored although the client never saw its confirmation", never_confirmed)
    return shown


def reconcile_mail(
    shown: dict[str, FilingRecord], facts: Facts, sink: list[SinkMessage], kills: list[Kill], report: Report
) -> None:
    """Each acknowledgement reached the sink exactly once (by Message-ID); every sent email arrived."""
    ticket_by_reference = {t.reference: t for t in facts.tickets}
    rows_by_id = {n.id: n for n in facts.notifications}
    acks_by_ticket: dict[int, list[NotificationFact]] = defaultdict(list)
    for row in facts.notifications:
        if row.event == "filed" and row.ticket_id is not None:
            acks_by_ticket[row.ticket_id].append(row)
    arrivals: Counter[str] = Counter(m.message_id for m in sink)
    ack_ids: dict[str, set[str]] = defaultdict(set)
    for message in sink:
        if message.subject.startswith(ACK_SUBJECT):
            for reference in message.references:
                ack_ids[reference].add(message.message_id)
    delivered_once = duplicates = deferred = 0
    for reference, record in sorted(shown.items()):
        ticket = ticket_by_reference.get(reference)
        if ticket is None:
            continue  # already a miss
        rows = acks_by_ticket.get(ticket.id, [])
        if len(rows) != 1:
            report.miss(f"{reference}: {len(rows)} acknowledgement rows in the outbox")
            continue
        row = rows[0]
        ids = ack_ids.get(reference, set())
        if len(ids) > 1:
            report.miss(f"{reference}: acknowledged under {len(ids)} Message-IDs: {sorted(ids)}")
        elif len(ids) == 1:
            (message_id,) = ids
            match = OUTBOX_ID.match(message_id)
            if match is None or int(match.group(1)) != row.id:
                report.miss(f"{reference}: acknowledgement {message_id} is not outbox row {row.id}")
            delivered_once += 1
            duplicates += arrivals[message_id] - 1
            sent_to = {m.to for m in sink if m.message_id == message_id}
            if not any(record.email in to for to in sent_to):
                report.miss(f"{reference}: acknowledgement went to {sorted(sent_to)}, not {record.email}")
        elif row.status == "sending" and cut_off_by_kill(row.claimed_at, kills):
            deferred += 1
        else:
            report.miss(f"{reference}: acknowledgement never arrived (outbox row {row.id} is {row.status})")
    report.figure(
        "acknowledgements delivered exactly once (by Message-ID)", f"{delivered_once} of {len(shown)}"
    )
    report.figure("duplicate deliveries of one Message-ID (at-least-once resend)", duplicates)
    report.figure(
        "acknowledgements held by a send the rq-worker kill cut off (resent after 10 min)", deferred
    )
    # Every outbox email: sent ones arrived, nothing stuck; nothing arrived that the outbox never had.
    emails = [n for n in facts.notifications if n.channel == "email"]
    states = Counter(n.status for n in emails)
    report.figure(
        "outbox emails by status", ", ".join(f"{k} × {v}" for k, v in sorted(states.items())) or "none"
    )
    for row in emails:
        message_id = f"<outbox-{row.id}@{MAIL_DOMAIN}>"
        if row.status == "sent" and arrivals[message_id] == 0:
            report.miss(f"outbox row {row.id} ({row.event}) is marked sent but never arrived")
        elif row.status in ("pending", "failed", "dead"):
            report.miss(f"outbox row {row.id} ({row.event}) still {row.status} after the drain")
        elif row.status == "sending" and not cut_off_by_kill(row.claimed_at, kills):
            report.miss(f"outbox row {row.id} ({row.event}) stuck in sending, not by a planned kill")
    strangers = []
    for message_id in arrivals:
        match = OUTBOX_ID.match(message_id)
        if match is None or int(match.group(1)) not in rows_by_id:
            strangers.append(message_id)
    if strangers:
        report.miss(f"messages with no outbox row: {_listed(strangers)}")
    report.figure(
        "mail sink",
        f"{len(sink)} messages, {len(arrivals)} distinct Message-IDs, "
        f"{sum(v - 1 for v in arrivals.values())} repeated",
    )


def reconcile_actions(actions: list[ActionRecord], facts: Facts, report: Report) -> None:
    """Every action answered 303 left its event exactly once; a refused one left none."""
    ticket_id_of = {t.reference: t.id for t in facts.tickets}
    attachments_on_event: dict[int, list[AttachmentFact]] = defaultdict(list)
    for attachment in facts.attachments:
        if attachment.event_id is not None:
            attachments_on_event[attachment.event_id].append(attachment)
    with_marker: dict[tuple[int, str, str], list[EventFact]] = defaultdict(list)
    for event in facts.events:
        for marker in set(MARKER.findall(event.body or "")):
            with_marker[(event.ticket_id, event.kind, marker)].append(event)
    claims: dict[tuple[int, int | None], int] = Counter(
        (e.ticket_id, e.actor_id) for e in facts.events if e.kind == "claimed"
    )
    tally: Counter[str] = Counter()
    for action in actions:
        ticket_id = (
            action.ticket_id if action.ticket_id is not None else ticket_id_of.get(action.reference or "")
        )
        label = (
            f"{action.kind} by {action.who} on ticket {ticket_id} ({'/'.join(action.answers) or 'no answer'})"
        )
        if ticket_id is None:
            report.miss(f"{label}: the ticket is not stored")
            continue
        if action.marker is None:  # claim: matched by the claimant
            found_count = claims.get((ticket_id, action.actor_id), 0)
            found: list[EventFact] = []
        else:
            found = with_marker.get((ticket_id, action.event, action.marker), [])
            if action.actor_id is not None:
                found = [e for e in found if e.actor_id == action.actor_id]
            found_count = len(found)
        tally[f"{action.kind} {action.outcome}"] += 1
        if action.outcome == "done" and found_count != 1:
            report.miss(f"{label}: {found_count} '{action.event}' events, expected 1")
        elif action.outcome == "refused" and found_count != 0:
            report.miss(f"{label}: refused, yet {found_count} '{action.event}' events")
        elif action.outcome == "unknown" and found_count > 1:
            report.miss(f"{label}: {found_count} '{action.event}' events")
        if action.attachment_sha256 and action.outcome == "done" and len(found) == 1:
            files = attachments_on_event.get(found[0].id, [])
            if [a.sha256 for a in files] != [action.attachment_sha256] or not all(a.file_ok for a in files):
                report.miss(f"{label}: attachment sent once, stored {len(files)} times (or changed)")
    kinds = sorted({a.kind for a in actions})
    for kind in kinds:
        done = tally[f"{kind} done"]
        refused = tally[f"{kind} refused"]
        unknown = tally[f"{kind} unknown"]
        report.figure(
            f"  {kind}",
            f"{done} done (303), {refused} refused (409/422)"
            + (f", {unknown} unanswered" if unknown else ""),
        )
    report.figure("actions, each in the ticket's events exactly once when done", len(actions))


def reconcile_store(facts: Facts, report: Report) -> None:
    counts = facts.counts
    report.figure("cross-check", ", ".join(f"{k} {v}" for k, v in counts.items()))
    pairs = [
        ("tickets", "filed events"),
        ("tickets", "tickets with a filed event"),
        ("tickets", "acknowledgement rows"),
        ("audit rows", "audit chain length"),
        ("attachment rows", "attachment files"),
    ]
    for left, right in pairs:
        if counts.get(left) != counts.get(right):
            report.miss(f"count cross-check: {left} {counts.get(left)} ≠ {right} {counts.get(right)}")
    bad_files = sum(1 for a in facts.attachments if not a.file_ok)
    if bad_files:
        report.miss(f"{bad_files} attachment files missing or changed")
    report.figure("files written but not stored (a kill between writing and committing)", facts.orphan_files)
    report.figure("integrity_check", facts.integrity)
    if facts.integrity not in ("ok", "n/a"):
        report.miss(f"integrity_check: {facts.integrity}")
    report.figure("audit-verify", facts.audit_said)
    if not facts.audit_ok:
        report.miss(f"flask audit-verify failed: {facts.audit_said}")


def reconcile(log: ClientLog, facts: Facts, sink: list[SinkMessage], kills: list[Kill]) -> Report:
    report = Report()
    reconcile_http(log.hits, kills, report)
    shown = reconcile_filings(log.filings, facts, report)
    reconcile_mail(shown, facts, sink, kills, report)
    reconcile_actions(log.actions, facts, report)
    reconcile_store(facts, report)
    for crash in log.crashes:
        report.miss(f"client thread failed: {crash.strip().splitlines()[-1]}")
    return report


# --- setting up ----------------------------------------------------------------------------------


def setup_organisation() -> None:
    """`python bench/soak.py --setup-organisation`, in the soak's environment: the starter
    departments and categories and the staff accounts, through the app's own services."""
    sys.path.insert(0, str(ROOT))  # run as a script, bench/ is on the path, not the checkout
    from sqlalchemy import select

    from portal.app import create_app
    from portal.extensions import db
    from portal.models import Category
    from portal.services import starter

    app = create_app()
    with app.app_context():
        starter.create_starter_organisation(db.session)
        db.session.commit()
        staff = {}
        for name, address, role, department in STAFF:
            user = starter.create_user(
                db.session, name=name, email=address, role=role, department=department, password=PASSWORD
            )
            staff[address] = user.id
        categories = {c.name: c.id for c in db.session.scalars(select(Category))}
    print("SOAK-ORGANISATION " + json.dumps({"staff": staff, "categories": categories}))


def prepare_postgres(url: str) -> None:
    import psycopg

    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1))
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"soak[a-z0-9_]*", name):
        raise SystemExit(f"SOAK_POSTGRES_URL must name a database called soak…, not {name!r}: it is dropped")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_postgres(url: str) -> None:
    import psycopg

    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1))
    name = parts.path.lstrip("/")
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flush_redis(url: str) -> None:
    from redis import Redis

    Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5).flushdb()


# --- the run -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    minutes: float
    database: str
    postgres_url: str
    redis_url: str
    customers: int
    think: float
    await_resend: bool
    keep: bool

    @classmethod
    def from_env(cls) -> Settings:
        database = env_text("SOAK_DATABASE", "sqlite").lower()
        if database not in ("sqlite", "postgres"):
            raise SystemExit("SOAK_DATABASE is sqlite or postgres")
        return cls(
            minutes=float(env_text("SOAK_MINUTES", "10")),
            database=database,
            postgres_url=env_text("SOAK_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/soak"),
            redis_url=env_text("SOAK_REDIS_URL", "redis://127.0.0.1:6379/11"),
            customers=int(env_text("SOAK_CUSTOMERS", "4")),
            think=float(env_text("SOAK_THINK", "1.0")),
            await_resend=env_flag("SOAK_AWAIT_RESEND"),
            keep=env_flag("KEEP") or env_flag("SOAK_KEEP"),
        )


def watchdog(limit: float, stack_ref: list[Stack]) -> None:
    """Whatever happens, the soak ends: past the limit, stop every process and leave."""

    def fire() -> None:
        time.sleep(limit)
        print(f"\nsoak: still running after {limit:.0f} s; stopping everything", file=sys.stderr, flush=True)
        for stack in stack_ref:
            with contextlib.suppress(Exception):
                stack.stop()
        os._exit(3)

    threading.Thread(target=fire, daemon=True).start()


def progress(log: ClientLog, sink: SmtpSink, began: float) -> str:
    with log.lock:
        requests, filings, actions = len(log.hits), len(log.filings), len(log.actions)
        failed = sum(1 for h in log.hits if h.status is None or h.status >= 500)
    return (
        f"  {time.time() - began:6.0f} s: {requests} requests, {filings} forms, {actions} actions, "
        f"{len(sink.snapshot())} mails, {failed} failed; load {load_average()}"
    )


def run_load(settings: Settings, stack: Stack, load: Load, sink: SmtpSink) -> list[Kill]:
    threads = [
        threading.Thread(
            target=guarded(load.log, f"customer-{i}", lambda i=i: customer(load, i)), daemon=True
        )
        for i in range(1, settings.customers + 1)
    ]
    for name, address, role, _department in STAFF:
        person = Staff(load, name, address, role)
        threads.append(threading.Thread(target=guarded(load.log, address, person.run), daemon=True))
    began = time.time()
    duration = load.deadline - began
    for thread in threads:
        thread.start()
    kills: list[Kill] = []
    plan = [began + duration * 0.4, began + duration * 0.7]
    rng = random.Random()
    next_report = began + 30
    try:
        while time.time() < load.deadline:
            if plan and time.time() >= plan[0]:
                plan.pop(0)
                web = stack.kill_web_worker(rng)
                print(
                    f"  kill: gunicorn worker {web.pid} (SIGKILL); replaced by {web.replaced_by} "
                    f"after {web.replaced_after or 0:.1f} s",
                    flush=True,
                )
                jobs = stack.kill_jobs()
                print(f"  kill: rq-worker {jobs.pid} (SIGKILL); restarted as {jobs.replaced_by}", flush=True)
                kills += [web, jobs]
            if time.time() >= next_report:
                print(progress(load.log, sink, began), flush=True)
                next_report += 30
            time.sleep(0.2)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=150)
    return kills


def drain(url: str, sink: SmtpSink, kills: list[Kill], await_resend: bool) -> float:
    """Let the background work finish what the load left: up to a minute (more with
    SOAK_AWAIT_RESEND, for the sends the rq-worker kill cut off)."""
    began = time.time()
    last_jobs_kill = max((k.at for k in kills if k.what == "jobs"), default=None)
    limit = began + 60
    if await_resend and last_jobs_kill is not None:
        limit = max(limit, last_jobs_kill + STALE_CLAIM_SECONDS + SWEEP_EVERY * 2 + 30)
    explained = None if await_resend else (last_jobs_kill + 0.5 if last_jobs_kill else None)
    quiet_since, seen = time.time(), len(sink.snapshot())
    while time.time() < limit:
        waiting = outstanding_mail(url, explained)
        count = len(sink.snapshot())
        if count != seen:
            quiet_since, seen = time.time(), count
        if waiting == 0 and time.time() - quiet_since >= 3:
            break
        time.sleep(2)
    return time.time() - began


def print_report(report: Report, settings: Settings, kills: list[Kill]) -> None:
    print("\nAnswers per route:")
    for line in report.notes:
        print(f"  {line}")
    print("\nPlanned kills:")
    for kill in kills:
        at = datetime.fromtimestamp(kill.at, UTC).strftime("%H:%M:%S")
        what = "gunicorn worker" if kill.what == "web" else "rq-worker"
        replaced = (
            f"replaced by {kill.replaced_by} after {kill.replaced_after:.1f} s"
            if kill.replaced_by
            else "NOT replaced"
        )
        print(f"  {at} UTC  {what} {kill.pid}: {replaced}")
    print(f"\nFigures ({settings.database}, {settings.minutes:g} min):")
    width = max(len(label) for label, _value in report.figures)
    for label, value in report.figures:
        print(f"  {label:<{width}}  {value}")
    if report.misses:
        print(f"\nMISSES ({len(report.misses)}):")
        for text in report.misses[:200]:
            print(f"  - {text}")
        if len(report.misses) > 200:
            print(f"  … and {len(report.misses) - 200} more")
    else:
        print("\nNo misses: every reference shown is stored once and acknowledged once; no event lost.")


def interrupted(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def log_findings(stack: Stack) -> str:
    """What the processes logged that a person should look at: unhandled errors and tracebacks."""
    found = []
    for name in ("gunicorn", "scheduler", "rq-worker"):
        text = stack.log(name).read_text(errors="replace") if stack.log(name).exists() else ""
        said = f"{name}: {text.count('Traceback')} tracebacks"
        if name == "gunicorn":
            said += (
                f", {text.count('unhandled request')} unhandled requests, "
                f"{text.count('was sent SIGKILL')} workers killed"
            )
        found.append(said)
    return "; ".join(found)


def main() -> int:
    settings = Settings.from_env()
    if not Path(GUNICORN).exists():
        print(f"{GUNICORN} is missing; run `make install-runtime` first", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, interrupted)
    load_seconds = settings.minutes * 60
    stacks: list[Stack] = []
    drain_limit = 60 + (STALE_CLAIM_SECONDS + 120 if settings.await_resend else 0)
    watchdog(load_seconds + drain_limit + 900, stacks)
    workdir = Path(tempfile.mkdtemp(prefix="portal-soak-"))
    sink = SmtpSink()
    sqlite_path = workdir / "soak.db" if settings.database == "sqlite" else None
    url = f"sqlite:///{sqlite_path}" if sqlite_path else settings.postgres_url
    failed = True
    code = code_fingerprint()
    try:
        print(f"soak: {settings.minutes:g} minutes on {settings.database}, in {workdir}")
        print(f"load average before: {load_average()} ({os.cpu_count()} cores, shared with other work)")
        if settings.database == "postgres":
            prepare_postgres(url)
        flush_redis(settings.redis_url)
        sink.start()
        port = free_port()
        env = {
            **os.environ,
            "PORTAL_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": url,
            "REDIS_URL": settings.redis_url,
            "RATELIMIT_ENABLED": "0",  # the limits would (rightly) refuse a load from one address
            "SESSION_COOKIE_SECURE": "0",  # plain HTTP on 127.0.0.1
            "UPLOAD_FOLDER": str(workdir / "uploads"),
            "BASE_URL": f"http://127.0.0.1:{port}",
            "MAIL_BACKEND": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(sink.port),
            "SMTP_STARTTLS": "0",
            "SMTP_TIMEOUT_SECONDS": "10",
            "MAIL_FROM": f"Complaints <complaints@{MAIL_DOMAIN}>",
            "MAIL_DOMAIN": MAIL_DOMAIN,
            # Staff sign in with a password here; two-step sign-in has tests of its own.
            "TWO_FACTOR_REQUIRED_ROLES": "",
            "PYTHONUNBUFFERED": "1",
        }
        subprocess.run(
            [*FLASK, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300
        )
        made = subprocess.run(
            [sys.executable, __file__, "--setup-organisation"],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        line = next(x for x in made.stdout.splitlines() if x.startswith("SOAK-ORGANISATION "))
        organisation = json.loads(line.removeprefix("SOAK-ORGANISATION "))
        stack = Stack(workdir, env, port)
        stacks.append(stack)
        stack.start()
        print(
            f"stack: gunicorn ({WEB_WORKERS} workers) on 127.0.0.1:{port}, flask worker, flask rq-worker "
            f"(Redis {settings.redis_url}), SMTP sink on 127.0.0.1:{sink.port}; "
            f"{settings.customers} customers and {len(STAFF)} staff",
            flush=True,
        )
        log = ClientLog()
        load = Load(
            port=port,
            log=log,
            deadline=time.time() + load_seconds,
            think=settings.think,
            staff_ids=organisation["staff"],
            category_ids=[organisation["categories"][name] for name in CATEGORIES],
        )
        kills = run_load(settings, stack, load, sink)
        print(progress(log, sink, load.deadline - load_seconds), flush=True)
        drained = drain(url, sink, kills, settings.await_resend)
        for kill in kills:
            kill.resend_awaited = settings.await_resend
        print(f"  load stopped; background work drained for {drained:.0f} s", flush=True)
        stack.stop()
        log.save(workdir / "client-log.json", kills)
        facts = gather_facts(url, workdir / "uploads", sqlite_path, env)
        report = reconcile(log, facts, sink.snapshot(), kills)
        print_report(report, settings, kills)
        print(f"\nlogs: {log_findings(stack)}")
        changed = code_changes(code)
        if changed:
            print(
                f"WARNING: {len(changed)} files of the app changed while the soak ran "
                f"({_listed(changed, 6)}); processes started after a change (replacement workers, "
                "the restarted rq-worker) ran other code than the rest"
            )
        print(f"load average after: {load_average()}")
        failed = bool(report.misses)
        return 1 if failed else 0
    except KeyboardInterrupt:
        print("\ninterrupted; stopping everything", file=sys.stderr)
        return 130
    except Exception as error:
        traceback.print_exc()
        if isinstance(error, subprocess.CalledProcessError):
            print(f"--- its output ---\n{error.stdout or ''}{error.stderr or ''}", file=sys.stderr)
        for stack in stacks:
            for name in ("gunicorn", "scheduler", "rq-worker"):
                print(f"--- {name}.log (last lines) ---\n{tail(stack.log(name))}", file=sys.stderr)
        return 1
    finally:
        for stack in stacks:
            stack.stop()
        sink.stop()
        with contextlib.suppress(Exception):
            flush_redis(settings.redis_url)
        if settings.keep or failed:
            print(
                f"kept {workdir}"
                + (" and the PostgreSQL database" if settings.database == "postgres" else "")
            )
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            if settings.database == "postgres":
                with contextlib.suppress(Exception):
                    drop_postgres(url)


if __name__ == "__main__":
    if sys.argv[1:] == ["--setup-organisation"]:
        setup_organisation()
        raise SystemExit(0)
    raise SystemExit(main())

"""Seed a fresh SQLite database for the benchmark: N tickets with realistic histories, fast.

The schema comes from the real migrations (`flask_migrate.upgrade()`); the rows go in with
plain `executemany` batches inside one transaction, not through the per-ticket service, so a
million tickets take about a minute instead of hours. Times are written exactly as SQLAlchemy
writes naive UTC on SQLite (`YYYY-MM-DD HH:MM:SS.ffffff`), so the app reads them back as usual.

What the data looks like:
- four departments, six categories and 23 staff accounts, shaped like `portal/demo.py`;
- tickets received at a steady rate over a span that grows with N (30 days to 3 years);
- a bounded open backlog — the newest `OPEN_BACKLOG` tickets (2,000 unless N is small) — spread
  over departments and open states, part of it owned by the benchmark responder;
- everything older resolved or (mostly) closed, some of it transferred, a few breaches;
- 3–7 events per ticket (about 4.5 on average), and one known open ticket, owned by the
  benchmark responder, with exactly 20 timeline events for the ticket-page benchmark.

Run on its own: `.venv/bin/python bench/seed.py /tmp/bench.db 100000`.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

PASSWORD = "portal-bench-2026"  # noqa: S105 - throwaway benchmark database only
RESPONDER_EMAIL = "responder@example.com"
MANAGER_EMAIL = "manager@example.com"
OPEN_BACKLOG = 2_000
TIMELINE_EVENTS = 20
BATCH = 20_000

DEPARTMENTS = [  # name, handles feedback
    ("Customer Service", True),
    ("Quality", False),
    ("After-sales", False),
    ("Management Office", False),
]
CATEGORIES = [  # name, department, share of complaints
    ("Product quality", "Quality", 30),
    ("Delivery and installation", "After-sales", 22),
    ("Repairs and after-sales service", "After-sales", 18),
    ("Staff attitude or negligence", "Management Office", 8),
    ("Billing and charges", "Customer Service", 14),
    ("Something else", "Customer Service", 8),
]
NAMED_ACCOUNTS = [  # as in portal/demo.py; the first and the fourth are the benchmark users
    ("Rui Chen", RESPONDER_EMAIL, "responder", "Quality"),
    ("Min-jun Park", "responder2@example.com", "responder", "Customer Service"),
    ("Li Wei", "lead@example.com", "lead", "Quality"),
    ("Ji-woo Kim", MANAGER_EMAIL, "manager", "Management Office"),
    ("Alex Admin", "admin@example.com", "admin", "Management Office"),
    ("Sun Li", "manager2@example.com", "manager", "Management Office"),
]
SUBJECTS = {
    "Product quality": [
        "Fridge stopped cooling after two weeks",
        "Washing machine leaks from the door",
        "Screen flickers on new television",
        "Kettle switch broke on first use",
    ],
    "Delivery and installation": [
        "Delivery arrived three days late",
        "Installation left a hole in the wall",
        "Wrong colour delivered",
        "Parcel left in the rain",
    ],
    "Repairs and after-sales service": [
        "Technician did not turn up",
        "Warranty repair refused",
        "Repair took six weeks",
    ],
    "Staff attitude or negligence": [
        "Rude answer at the service desk",
        "Nobody called back as promised",
        "Complaint form lost by the branch",
    ],
    "Billing and charges": [
        "Charged twice for one order",
        "Refund not received after return",
        "Delivery fee charged although free",
    ],
    "Something else": ["Website would not accept my address", "Question about opening hours"],
}
NAMES = [
    "Wang Fang",
    "Zhang Wei",
    "Kim Seo-yeon",
    "Lee Ji-ho",
    "Maria Santos",
    "O'Hara Sean",
    "Liu Yang",
    "Chen Jing",
    "Park Min-seo",
    "Zhao Lei",
    "Huang Mei",
    "Choi Yuna",
]
REPLIES = [
    "Thank you for telling us. We are looking into it and will update you.",
    "We have asked the warehouse for the delivery record and will come back to you tomorrow.",
    "A technician will call you to arrange a visit this week.",
    "We are sorry for the trouble. Could you send us a photo of the label?",
]
NOTES = [
    "Checked the order history.",
    "Called the branch; they confirm the visit was missed.",
    "Waiting for the supplier's answer.",
    "Customer is a repeat buyer; offer a goodwill voucher.",
]
MESSAGES = [
    "Any news? It has been a few days.",
    "Here is the photo you asked for.",
    "I am available on weekday mornings.",
]
RESOLUTIONS = [
    "We have arranged a replacement and apologise for the trouble.",
    "The double charge has been refunded to your card.",
    "A technician repaired the appliance on site.",
    "We explained the policy and offered a voucher, which the customer accepted.",
]
FEEDBACK = [
    ("praise", "The installer was careful and friendly. Thank you!"),
    ("suggestion", "Please add SMS updates."),
    ("question", "Do you deliver on Sundays?"),
]
OPEN_STATES = ["new", "acknowledged", "in_progress", "awaiting_approval"]


@dataclass(frozen=True)
class SeedInfo:
    tickets: int
    events: int
    open_tickets: int
    timeline_ticket_id: int
    category_ids: list[int]
    responder_email: str
    manager_email: str
    password: str
    seconds: float


def ts(value: datetime) -> str:
    """A naive UTC time as SQLAlchemy stores it on SQLite (and as UTCDateTime expects back)."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _sql_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return ts(value.astimezone(UTC) if value.tzinfo else value)
    if isinstance(value, str | int | float) or value is None:
        return str(value) if isinstance(value, str) else value  # str() turns a StrEnum into text
    raise TypeError(f"cannot store {value!r}")


class Inserter:
    """Buffered `executemany` into one table, filling NOT NULL columns we do not name from the
    model's own defaults — so a column a later migration adds does not break the benchmark,
    and one without a default stops it with a clear message instead of bad data."""

    def __init__(
        self, conn: sqlite3.Connection, table: str, columns: Sequence[str], model_table: Any
    ) -> None:
        self.conn = conn
        self.rows: list[tuple[Any, ...]] = []
        self.count = 0
        extras: dict[str, Any] = {}
        for _cid, name, _type, notnull, default, pk in conn.execute(f"PRAGMA table_info({table})"):
            if name in columns or pk or not notnull or default is not None:
                continue
            column = model_table.c.get(name) if model_table is not None else None
            model_default = column.default if column is not None else None
            if model_default is None:
                raise RuntimeError(f"{table}.{name} is NOT NULL and bench/seed.py does not fill it")
            value = model_default.arg(None) if model_default.is_callable else model_default.arg
            extras[name] = _sql_value(value)
        self.suffix = tuple(extras.values())
        names = [*columns, *extras]
        marks = ", ".join("?" for _ in names)
        self.sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row + self.suffix if self.suffix else row)
        if len(self.rows) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.conn.executemany(self.sql, self.rows)
            self.count += len(self.rows)
            self.rows = []


def migrate(db_path: Path, upload_dir: Path) -> dict[str, Any]:
    """Build the schema with the real migrations; return the model tables (for defaults)."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.extensions import db

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
            "UPLOAD_FOLDER": str(upload_dir),
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        upgrade()
        tables = dict(db.metadata.tables)
        db.engine.dispose()
    return tables


TICKET_COLUMNS = (
    "id", "reference", "kind", "channel", "status", "priority", "category_id", "department_id",
    "owner_id", "concerns_user_id", "registered_by_id", "customer_name", "customer_email",
    "customer_phone", "preferred_contact", "subject", "description", "feedback_kind", "rating",
    "resolution_summary", "received_at", "consent_at", "acknowledged_at", "resolved_at", "closed_at",
    "updated_at", "due_at", "ack_due_at", "resolve_due_at", "ack_breached_at", "resolve_breached_at",
    "tier", "serious", "customer_tier", "customer_satisfied", "satisfaction", "tracking_token_hash",
    "idempotency_key", "version", "first_response_at", "reopen_count", "root_cause_id",
)  # fmt: skip
ROOT_CAUSES = ["Manufacturing defect", "Courier delay", "Staff training gap", "Billing system error",
               "Customer misunderstanding"]  # fmt: skip
ESCALATION_COLUMNS = ("ticket_id", "at", "from_tier", "to_tier", "cause", "reason")
CALLBACK_COLUMNS = ("ticket_id", "owner_id", "created_at", "due_at", "completed_at", "reached", "satisfied")
EVENT_COLUMNS = (
    "ticket_id", "at", "actor_id", "actor_kind", "kind", "is_public", "body", "old_value", "new_value",
)  # fmt: skip


def seed(db_path: Path, n: int, *, upload_dir: Path, rng_seed: int = 2026, quiet: bool = False) -> SeedInfo:
    if n < 100:
        raise ValueError("N must be at least 100")
    started = time.monotonic()
    upload_dir.mkdir(parents=True, exist_ok=True)
    tables = migrate(db_path, upload_dir)
    from werkzeug.security import generate_password_hash

    rng = random.Random(rng_seed)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")  # a throwaway database: no journal while loading
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-400000")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("BEGIN")

    # --- the organisation ------------------------------------------------------------------
    dept_ids = {name: i for i, (name, _f) in enumerate(DEPARTMENTS, start=1)}
    dept_names = {i: name for name, i in dept_ids.items()}
    ins = Inserter(conn, "department", ("id", "name", "handles_feedback"), tables.get("department"))
    for name, feedback in DEPARTMENTS:
        ins.add((dept_ids[name], name, int(feedback)))
    ins.flush()
    cat_ids = {name: i for i, (name, _d, _w) in enumerate(CATEGORIES, start=1)}
    ins = Inserter(conn, "category", ("id", "name", "department_id", "active"), tables.get("category"))
    for name, dept, _w in CATEGORIES:
        ins.add((cat_ids[name], name, dept_ids[dept], 1))
    ins.flush()

    ins = Inserter(conn, "root_cause", ("id", "name", "active"), tables.get("root_cause"))
    for cause_id, name in enumerate(ROOT_CAUSES, start=1):
        ins.add((cause_id, name, 1))
    ins.flush()

    accounts = list(NAMED_ACCOUNTS)
    for dept, _feedback in DEPARTMENTS:
        slug = dept.lower().replace(" ", "-")
        accounts.append((f"{dept} Lead", f"{slug}.lead@example.com", "lead", dept))
        for k in range(1, 4):
            accounts.append((f"{dept} Responder {k}", f"{slug}.responder{k}@example.com", "responder", dept))
    password_hash = generate_password_hash(PASSWORD)  # one hash: every account has the same password
    ins = Inserter(
        conn,
        "user_account",
        ("id", "email", "name", "password_hash", "role", "department_id", "active", "session_version",
         "created_at"),
        tables.get("user_account"),
    )  # fmt: skip
    user_ids: dict[str, int] = {}
    workers: dict[int, list[int]] = {i: [] for i in dept_names}  # who handles tickets, per department
    for uid, (name, email, role, dept) in enumerate(accounts, start=1):
        user_ids[email] = uid
        if role in ("responder", "lead"):
            workers[dept_ids[dept]].append(uid)
        ins.add((uid, email, name, password_hash, role, dept_ids[dept], 1, 1, ts(now - timedelta(days=1200))))
    ins.flush()
    responder = user_ids[RESPONDER_EMAIL]
    all_staff = [uid for ids in workers.values() for uid in ids]

    # --- tickets and their histories -------------------------------------------------------
    tickets = Inserter(conn, "ticket", TICKET_COLUMNS, tables.get("ticket"))
    events = Inserter(conn, "ticket_event", EVENT_COLUMNS, tables.get("ticket_event"))
    escalations = Inserter(conn, "escalation", ESCALATION_COLUMNS, tables.get("escalation"))
    callbacks = Inserter(conn, "callback", CALLBACK_COLUMNS, tables.get("callback"))
    backlog = min(OPEN_BACKLOG, n // 5)
    span = timedelta(days=min(1095, max(30, n / 1000))).total_seconds()
    step = span / n
    timeline_id = n - backlog // 2  # an open ticket in the middle of the backlog
    cat_names = [name for name, _d, _w in CATEGORIES]
    cat_weights = [w for _n, _d, w in CATEGORIES]
    cat_dept = {cat_ids[name]: dept_ids[dept] for name, dept, _w in CATEGORIES}
    feedback_desk = dept_ids["Customer Service"]
    day = 86_400.0

    def at(base: datetime, seconds: float) -> datetime:
        return base + timedelta(seconds=seconds)

    for tid in range(1, n + 1):
        received = now - timedelta(seconds=(n - tid) * step + rng.random() * step + 60)
        age = (now - received).total_seconds()
        is_open = tid > n - backlog
        feedback = rng.random() < 0.06 and tid != timeline_id
        if feedback:
            fb_kind, text = rng.choice(FEEDBACK)
            category_id, dept = None, feedback_desk
            subject, description = f"{fb_kind.capitalize()} from the website", text
            rating = rng.randint(1, 5)
        else:
            fb_kind, rating = None, None
            cat_name = "Product quality" if tid == timeline_id else rng.choices(cat_names, cat_weights)[0]
            category_id = cat_ids[cat_name]
            dept = cat_dept[category_id]
            subject = rng.choice(SUBJECTS[cat_name])
            description = (
                f"{subject}. I would like this sorted out, please. Order placed in store {tid % 97}."
            )
        channel = "web" if rng.random() < 0.8 else rng.choice(("phone", "phone", "visit", "letter"))
        registered_by = rng.choice(all_staff) if channel != "web" else None
        customer = NAMES[tid % len(NAMES)]
        priority = rng.choices(("low", "normal", "high", "urgent"), (10, 70, 15, 5))[0]

        if is_open:
            fresh = tid > n - backlog // 4
            weights = (70, 15, 12, 3) if fresh else (8, 22, 58, 12)
            status = "in_progress" if tid == timeline_id else rng.choices(OPEN_STATES, weights)[0]
        else:
            status = "resolved" if rng.random() < (0.35 if age < 14 * day else 0.03) else "closed"

        owner = None
        if status != "new":
            if tid == timeline_id or (dept == dept_ids["Quality"] and rng.random() < 0.4):
                owner = responder
            else:
                owner = rng.choice(workers[dept])
        # About 2% were handed to another department; the owner stays the owner (R6).
        first_contact = not is_open and rng.random() < 0.3  # R4: resolved at first contact
        transferred_from = None
        if owner is not None and not first_contact and tid != timeline_id and rng.random() < 0.02:
            transferred_from = dept
            dept = rng.choice([d for d in dept_names if d != dept])
        concerns = rng.choice(all_staff) if rng.random() < 0.01 and tid != timeline_id else None
        if concerns == owner:
            concerns = None

        ack_due = received + timedelta(hours=24)
        resolve_due = received + timedelta(days=5)
        # The history: (seconds after receipt, actor, kind, public, body, old, new).
        history: list[tuple[float, int | None, str, bool, str | None, str | None, str | None]] = []
        acknowledged = resolved = closed = None
        summary = None
        satisfied = satisfaction = None
        if status == "new":
            if rng.random() < 0.25:
                history.append((age * 0.5, None, "customer_message", True, rng.choice(MESSAGES), None, None))
        else:
            window = age if is_open else min(age * 0.9, rng.uniform(0.3, 8) * day)
            claim_at = min(window * 0.1, rng.uniform(0.05, 0.9) * day)
            acknowledged = at(received, claim_at)
            if not first_contact:
                history.append((claim_at, owner, "claimed", True, None, None, str(owner)))
            middle: list[tuple[str, bool]] = []
            if status != "acknowledged" and not first_contact:
                middle.append(("reply", True))
                extra = rng.choice((0, 0, 1, 1, 2, 3)) if status != "awaiting_approval" else rng.randint(1, 3)
                for _ in range(extra):
                    middle.append(rng.choice((("note", False), ("note", False), ("customer_message", True))))
                if priority in ("high", "urgent") and rng.random() < 0.3:
                    middle.append(("reprioritised", False))
            elif status == "acknowledged" and rng.random() < 0.4:
                middle.append(("note", False))
            if transferred_from is not None:
                middle.append(("transferred", False))
            if tid == timeline_id:
                middle = [("reply", True), ("note", False), ("customer_message", True), ("note", False)] * 4
                middle += [("reprioritised", False), ("reply", True)]
            end = window if is_open else window * 0.7
            points = sorted(rng.uniform(claim_at, end) for _ in middle)
            for offset, (kind, public) in zip(points, middle, strict=True):
                actor: int | None = owner
                body: str | None = None
                old = new = None
                if kind == "reply":
                    body = rng.choice(REPLIES)
                elif kind == "note":
                    body = rng.choice(NOTES)
                    actor = owner if rng.random() < 0.8 else rng.choice(workers[dept] or all_staff)
                elif kind == "customer_message":
                    actor, body = None, rng.choice(MESSAGES)
                elif kind == "reprioritised":
                    old, new = "normal", priority
                elif kind == "transferred":
                    body = "The installer works for them."
                    old, new = dept_names[transferred_from or dept], dept_names[dept]
                history.append((offset, actor, kind, public, body, old, new))
            if not is_open:
                summary = rng.choice(RESOLUTIONS)
                resolved_after = window * 0.75 if not first_contact else claim_at
                resolved = at(received, resolved_after)
                history.append((resolved_after, owner, "resolved", True, summary, None, None))
                if status == "closed":
                    closed_after = resolved_after + min(
                        rng.uniform(1, 10) * day, (age - resolved_after) * 0.9
                    )
                    closed = at(received, closed_after)
                    history.append((closed_after, owner, "closed", True, None, None, None))
                    if rng.random() < 0.3:
                        satisfied = rng.random() < 0.8
                        satisfaction = rng.randint(4, 5) if satisfied else rng.randint(1, 2)
        history.sort(key=lambda item: item[0])
        if tid == timeline_id:
            assert len(history) + 1 == TIMELINE_EVENTS, len(history)

        due = ack_due if status == "new" else resolve_due
        ack_breached = ack_due if (acknowledged or now) > ack_due else None
        done = resolved or now
        resolve_breached = resolve_due if status != "new" and done > resolve_due else None
        tier = 1
        if is_open and resolve_breached is not None:
            tier = rng.choice((1, 2, 2, 3))
        last = at(received, history[-1][0]) if history else received
        # The first written answer (R13): a reply, a promise or the outcome, as the services record it.
        answered = next((o for o, a, k, *_ in history if a is not None and k in ("reply", "resolved")), None)
        first_response = at(received, answered) if answered is not None else None
        root_cause = rng.randint(1, len(ROOT_CAUSES)) if resolved and not feedback else None
        reopened = 1 if resolved and rng.random() < 0.04 else 0
        if tier > 1 and resolve_breached is not None:
            for step in range(1, tier):
                escalations.add(
                    (
                        tid,
                        ts(resolve_breached + timedelta(hours=step)),
                        step,
                        step + 1,
                        "resolution_breached",
                        None,
                    )
                )
        if resolved and owner is not None and not feedback:
            called = closed is not None and rng.random() < 0.9
            callbacks.add(
                (
                    tid, owner, ts(resolved), ts(resolved + timedelta(hours=24)),
                    ts(resolved + timedelta(hours=rng.uniform(2, 30))) if called else None,
                    int(rng.random() < 0.85) if called else None,
                    int(rng.random() < 0.8) if called else None,
                )
            )  # fmt: skip
        phone = f"+86138{tid % 100_000_000:08d}" if rng.random() < 0.5 else None
        prefix = "CP" if not feedback else "FB"
        tickets.add(
            (
                tid, f"{prefix}-{received.year}-{tid:06d}", "feedback" if feedback else "complaint", channel,
                status, priority, category_id, dept, owner, concerns, registered_by, customer,
                f"customer{tid}@example.org", phone,
                "email", subject, description, fb_kind, rating, summary,
                ts(received), ts(received) if not feedback else None,
                ts(acknowledged) if acknowledged else None, ts(resolved) if resolved else None,
                ts(closed) if closed else None, ts(last), ts(due), ts(ack_due), ts(resolve_due),
                ts(ack_breached) if ack_breached else None,
                ts(resolve_breached) if resolve_breached else None,
                tier, int(rng.random() < 0.01), "vip" if rng.random() < 0.03 else "regular",
                None if satisfied is None else int(satisfied), satisfaction,
                hashlib.sha256(f"bench-ticket-{tid}".encode()).hexdigest(),
                f"seed-{tid:012d}" if channel == "web" else None, 1 + len(history),
                ts(first_response) if first_response else None, reopened, root_cause,
            )
        )  # fmt: skip
        filer = registered_by
        events.add(
            (tid, ts(received), filer, "staff" if filer else "customer", "filed", 1, None, None, channel)
        )
        for offset, actor, kind, public, body, old, new in history:
            when = at(received, offset)
            events.add(
                (tid, ts(when), actor, "staff" if actor else "customer", kind, int(public), body, old, new)
            )
        if not quiet and tid % 100_000 == 0:
            print(f"  seeded {tid:,} / {n:,} tickets", file=sys.stderr, flush=True)
    tickets.flush()
    events.flush()
    escalations.flush()
    callbacks.flush()
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA optimize")
    conn.execute("PRAGMA journal_mode=WAL")  # as the app runs it
    open_count = conn.execute(
        "SELECT count(*) FROM ticket WHERE status IN ('new','acknowledged','in_progress','awaiting_approval')"
    ).fetchone()[0]
    timeline_len = conn.execute(
        "SELECT count(*) FROM ticket_event WHERE ticket_id = ?", (timeline_id,)
    ).fetchone()
    conn.close()
    assert timeline_len[0] == TIMELINE_EVENTS, timeline_len
    return SeedInfo(
        tickets=tickets.count,
        events=events.count,
        open_tickets=open_count,
        timeline_ticket_id=timeline_id,
        category_ids=sorted(cat_ids.values()),
        responder_email=RESPONDER_EMAIL,
        manager_email=MANAGER_EMAIL,
        password=PASSWORD,
        seconds=time.monotonic() - started,
    )


def _main(argv: Iterable[str]) -> None:
    args = list(argv)
    if len(args) != 2:
        raise SystemExit("usage: bench/seed.py DB_PATH N")
    path = Path(args[0]).resolve()
    if path.exists():
        raise SystemExit(f"{path} exists; the seed builds a fresh database")
    info = seed(path, int(args[1]), upload_dir=path.parent / "uploads")
    print(info)


if __name__ == "__main__":
    _main(sys.argv[1:])

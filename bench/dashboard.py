"""`make bench-dashboard`: seed N tickets (100,000 by default) and time the dashboard and its CSV.

The dashboard must answer "well under a second" on SQLite at 100k tickets (issue 5). This runs
the real app in-process (Flask test client, PORTAL_ENV=production templates and settings) on a
database built by `bench/seed.py`, signs in as the benchmark manager and as a lead, and times:

- the figures alone (`services.reports.dashboard`: every aggregate query, no rendering);
- GET /manage/dashboard (last 30 days, the default) and for the last quarter, as a manager;
- the same page as a department lead (one department's figures);
- two CSV exports (the per-staff table and the intake series).

Each is run REPEAT times (default 7) after one warm-up; the median and the slowest are printed.
Environment: N, REPEAT, KEEP=1 (keep the temporary database), DB=path (time a database that
`bench/seed.py` built before, instead of seeding a new one; it is migrated to the latest schema).
Wall-clock figures on a shared
machine vary; the queries' plans do not (see docs/performance.md).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import seed as seeding  # bench/ is not a package: `python bench/dashboard.py` puts it on the path

LEAD_EMAIL = "quality.lead@example.com"
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def timed(label: str, run: Callable[[], object], repeat: int) -> tuple[str, float, float, float]:
    """Median and slowest wall clock, and median CPU time of this process (SQLite runs in it, so
    CPU time is the fairer figure on a machine shared with other work)."""
    run()  # warm caches (SQLite pages, Jinja templates) as a running server would have them
    wall, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return label, statistics.median(wall), max(wall), statistics.median(cpu)


def main() -> None:
    n = int(os.environ.get("N", "100000"))
    repeat = int(os.environ.get("REPEAT", "7"))
    workdir = Path(tempfile.mkdtemp(prefix="portal-bench-dashboard-"))
    if os.environ.get("DB"):
        db_path = Path(os.environ["DB"]).resolve()
        seeding.migrate(db_path, workdir / "uploads")
        info = seeding.SeedInfo(
            0, 0, 0, 0, [], seeding.RESPONDER_EMAIL, seeding.MANAGER_EMAIL, seeding.PASSWORD, 0
        )
        n = sqlite3.connect(db_path).execute("SELECT count(*) FROM ticket").fetchone()[0]
    else:
        db_path = workdir / "bench.db"
        print(f"seeding {n:,} tickets into {db_path} …", flush=True)
        info = seeding.seed(db_path, n, upload_dir=workdir / "uploads", quiet=True)
        print(f"  {info.tickets:,} tickets, {info.events:,} events in {info.seconds:.0f} s", flush=True)

    os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 40)
    from portal import create_app
    from portal.domain.reporting import WarningThresholds, last_days
    from portal.extensions import db
    from portal.models import User, utcnow
    from portal.services import reports

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
            "UPLOAD_FOLDER": str(workdir / "uploads"),
            "RATELIMIT_ENABLED": False,
            "SESSION_COOKIE_SECURE": False,
        }
    )

    def signed_in(email: str):  # type: ignore[no-untyped-def]
        client = app.test_client()
        client.environ_base["HTTP_USER_AGENT"] = "portal-bench/1"
        page = client.get("/auth/login").get_data(as_text=True)
        token = CSRF_FIELD.search(page)
        assert token, "no sign-in form"
        response = client.post(
            "/auth/login", data={"email": email, "password": info.password, "csrf_token": token.group(1)}
        )
        assert response.status_code == 303, response.status_code
        return client

    manager, lead = signed_in(info.manager_email), signed_in(LEAD_EMAIL)

    def get(client, url: str) -> Callable[[], object]:  # type: ignore[no-untyped-def]
        def run() -> object:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            return response.get_data()

        return run

    with app.app_context():
        boss = db.session.scalars(db.select(User).where(User.email == info.manager_email)).one()
        zone = app.config["ORG_TIMEZONE"]

        def figures() -> object:
            db.session.expire_all()
            return reports.dashboard(
                db.session,
                boss,
                reports.ReportScope(),
                last_days(utcnow().date(), 30),
                now=utcnow(),
                timezone=zone,
                ack_hours=24,
                thresholds=WarningThresholds(),
            )

        rows = [
            timed("figures only (services.reports.dashboard, 30 days)", figures, repeat),
            timed("GET /manage/dashboard as manager (30 days)", get(manager, "/manage/dashboard"), repeat),
            timed(
                "GET /manage/dashboard as manager (last quarter)",
                get(manager, "/manage/dashboard?preset=last_quarter"),
                repeat,
            ),
            timed("GET /manage/dashboard as lead (30 days)", get(lead, "/manage/dashboard"), repeat),
            timed("GET /manage/dashboard/staff.csv", get(manager, "/manage/dashboard/staff.csv"), repeat),
            timed(
                "GET /manage/dashboard/intake.csv (last quarter)",
                get(manager, "/manage/dashboard/intake.csv?preset=last_quarter"),
                repeat,
            ),
        ]
        db.session.remove()
        db.engine.dispose()

    print(f"\nN={n:,} tickets, SQLite, in-process, {repeat} runs each after one warm-up\n")
    print(f"{'what':58} {'median':>9} {'slowest':>9} {'CPU':>9}")
    for label, median, slowest, cpu in rows:
        print(f"{label:58} {median * 1000:6.0f} ms {slowest * 1000:6.0f} ms {cpu * 1000:6.0f} ms")
    if os.environ.get("KEEP"):
        print(f"\nkept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

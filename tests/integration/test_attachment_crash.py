"""A process killed while filing a complaint with attachments leaves no file that looks like an
attachment, no row without its file, and nothing the sweep does not clear (security.md L, C1;
issue 12 hole 7).

The fault is real: a separate process files a complaint through the intake service and stops at
the worst moment — on a hook of its own database session, just before the commit (the files are
written, the rows flushed) or just after it (before the files get their final names) — and is
killed there with SIGKILL. Nothing is mocked; the upload folder is a real directory.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Attachment, Ticket, utcnow
from portal.services import filing, sla_sweep
from portal.services.attachments import IncomingFile, check_file
from tests.factories import Org, rules_for_tests

ROOT = Path(__file__).resolve().parents[2]
STRAY_NAME = "Killed Mid-Write"
KILLED_BYTES = b"paid 20 yuan for the kettle\n"

# Files one complaint with one attachment through the real service; `moment` names the session
# event ("before_commit" / "after_commit") at which it says "stopped" and waits to be killed.
DRIVER = """
import sys, time
from sqlalchemy import event
from portal.app import create_app
from portal.extensions import db
from portal.models import utcnow
from portal.services import filing
from portal.services.attachments import IncomingFile, check_file
from tests.factories import rules_for_tests

url, upload_dir, category_id, moment, name = sys.argv[1:6]
app = create_app({"SQLALCHEMY_DATABASE_URI": url, "UPLOAD_FOLDER": upload_dir, "TESTING": True})
with app.app_context():
    def stop_here(*_args):
        print("stopped", flush=True)
        time.sleep(600)

    event.listen(db.session, moment, stop_here)
    filing.file_ticket(
        db.session,
        filing.Intake(customer_name=name, subject="Receipt", description="See the file.",
                      category_id=int(category_id), consent=True),
        [check_file(IncomingFile("receipt.txt", sys.stdin.buffer.read()), 1024)],
        now=utcnow(),
        rules=rules_for_tests(upload_dir),
    )
    print("finished", flush=True)
"""


def killed_while_filing(app: Flask, org: Org, moment: str, tmp_path: Path) -> None:
    """Run the driver until it stops at `moment`, then SIGKILL it."""
    category_id = org.categories["A"].id
    db.session.commit()  # the test holds no transaction (SQLite: no lock) while the driver writes
    errors = tmp_path / f"driver-{moment}.err"
    with errors.open("wb") as stderr:
        driver = subprocess.Popen(
            [
                sys.executable,
                "-c",
                DRIVER,
                app.config["SQLALCHEMY_DATABASE_URI"],
                app.config["UPLOAD_FOLDER"],
                str(category_id),
                moment,
                STRAY_NAME,
            ],
            cwd=ROOT,
            env={**os.environ, "REDIS_URL": ""},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        try:
            assert driver.stdin is not None and driver.stdout is not None
            driver.stdin.write(KILLED_BYTES)
            driver.stdin.close()
            line = driver.stdout.readline().decode().strip()
            assert line == "stopped", errors.read_text()
        finally:
            driver.send_signal(signal.SIGKILL)
            driver.wait(timeout=30)
            driver.stdout.close()  # type: ignore[union-attr]
    assert driver.returncode == -signal.SIGKILL


def file_kept_complaint(app: Flask, org: Org) -> Attachment:
    """A complaint whose attachment committed normally: the clean-up must never touch its file."""
    filed = filing.file_ticket(
        db.session,
        filing.Intake(
            customer_name="Kept",
            subject="Photo",
            description="Attached.",
            consent=True,
            category_id=org.categories["A"].id,
        ),
        [check_file(IncomingFile("kept.txt", b"keep me\n"), 1024)],
        now=utcnow(),
        rules=rules_for_tests(app.config["UPLOAD_FOLDER"]),
    )
    return db.session.scalars(select(Attachment).where(Attachment.ticket_id == filed.ticket.id)).one()


def folder(app: Flask) -> Path:
    return Path(app.config["UPLOAD_FOLDER"])


def names_on_disk(app: Flask) -> set[str]:
    return {path.name for path in folder(app).iterdir()}


def row_names() -> set[str]:
    db.session.rollback()
    return set(db.session.scalars(select(Attachment.stored_name)))


def assert_every_row_has_its_file(app: Flask) -> None:
    for stored_name in row_names():
        assert (folder(app) / stored_name).is_file(), f"attachment row {stored_name} has no file"


def sweep_at(app: Flask, minutes_from_now: float) -> None:
    """The real background sweep (clocks and clean-up), run as if `minutes_from_now` had passed."""
    moment = utcnow() + timedelta(minutes=minutes_from_now)
    sla_sweep.sweep(db.session, now=moment, rules=rules_for_tests(app.config["UPLOAD_FOLDER"]))


def test_a_process_killed_before_the_commit_leaves_only_a_temporary_file_which_the_sweep_clears_after_an_hour(
    app: Flask, org: Org, tmp_path: Path
) -> None:
    kept = file_kept_complaint(app, org)
    killed_while_filing(app, org, "before_commit", tmp_path)

    db.session.rollback()
    assert db.session.scalar(select(func.count(Ticket.id)).where(Ticket.customer_name == STRAY_NAME)) == 0
    assert row_names() == {kept.stored_name}
    stray = names_on_disk(app) - {kept.stored_name}
    assert len(stray) == 1 and next(iter(stray)).endswith(".part")  # nothing looks like an attachment
    assert_every_row_has_its_file(app)

    sweep_at(app, 0)  # younger than an hour: it may still be a request on its way to commit
    assert names_on_disk(app) == {kept.stored_name, *stray}
    sweep_at(app, 61)
    assert names_on_disk(app) == {kept.stored_name}
    assert (folder(app) / kept.stored_name).read_bytes() == b"keep me\n"
    assert_every_row_has_its_file(app)


@pytest.mark.parametrize("finisher", ["download", "sweep"])
def test_a_process_killed_after_the_commit_leaves_a_row_whose_file_is_still_served_and_given_its_name(
    app: Flask, org: Org, tmp_path: Path, login_as: Any, finisher: str
) -> None:
    killed_while_filing(app, org, "after_commit", tmp_path)

    db.session.rollback()
    row = db.session.scalars(
        select(Attachment)
        .join(Ticket, Ticket.id == Attachment.ticket_id)
        .where(Ticket.customer_name == STRAY_NAME)
    ).one()
    assert names_on_disk(app) == {f"{row.stored_name}.part"}  # it was killed before the rename

    if finisher == "download":
        response = login_as("resp_a1").get(f"/staff/tickets/{row.ticket_id}/attachments/{row.id}")
        body = response.get_data()
        response.close()  # a streamed file stays open until the response is closed
        assert response.status_code == 200
        assert body == KILLED_BYTES
    else:
        sweep_at(app, 61)
    assert names_on_disk(app) == {row.stored_name}
    assert_every_row_has_its_file(app)
    sweep_at(app, 24 * 60)  # however late the clean-up runs, a file with a row stays
    assert (folder(app) / row.stored_name).read_bytes() == KILLED_BYTES


def test_the_sweep_removes_files_no_row_names_after_an_hour_and_leaves_what_is_not_ours(
    app: Flask, org: Org
) -> None:
    kept = file_kept_complaint(app, org)
    orphan = folder(app) / secrets.token_hex(16)  # a file whose row never committed (an older crash)
    orphan.write_bytes(b"no row names me\n")
    not_ours = folder(app) / "README.txt"  # a name write_files never gives: not ours to delete
    not_ours.write_bytes(b"put here by an operator\n")

    sweep_at(app, 30)
    assert names_on_disk(app) == {kept.stored_name, orphan.name, not_ours.name}
    sweep_at(app, 61)
    assert names_on_disk(app) == {kept.stored_name, not_ours.name}
    assert_every_row_has_its_file(app)

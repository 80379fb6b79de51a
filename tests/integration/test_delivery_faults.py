"""A message interrupted mid-send is sent again, never lost (security.md J-cases, issue: "nothing
lost under faults"; R3, R13).

The fault is real: `flask dispatch` runs as its own process, talks to an SMTP server that takes
the whole message and then never answers, and is killed with SIGKILL at that moment — the worst
one, when the message may or may not have been delivered.
"""

from __future__ import annotations

import email
import email.policy
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from portal.extensions import db
from portal.models import Notification, utcnow
from portal.notifications.dispatch import STALE_CLAIM, dispatch_due
from tests.conftest import base_config
from tests.factories import Org, make_ticket

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    config = base_config(database_url, tmp_path)
    config.update(MAIL_BACKEND="file", MAIL_DIR=str(tmp_path / "mail"), REDIS_URL="")
    return config


class SwallowingSmtp:
    """Takes a whole message, then never answers the final dot: the sender hangs right there."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.message = b""
        self.swallowed = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        connection, _address = self.listener.accept()
        with connection, connection.makefile("rwb") as stream:

            def say(line: str) -> None:
                stream.write(line.encode() + b"\r\n")
                stream.flush()

            say("220 sink.test ESMTP")
            while line := stream.readline():
                verb = line.strip().upper()
                if verb == b"DATA":
                    say("354 go ahead")
                    while (chunk := stream.readline()) and chunk != b".\r\n":
                        self.message += chunk
                    self.swallowed.set()
                    stream.read()  # never answer; wait until the sender's process is gone
                    return
                say("250 OK")

    def close(self) -> None:
        self.listener.close()
        self.thread.join(5)


@pytest.fixture
def swallowing_smtp() -> Iterator[SwallowingSmtp]:
    server = SwallowingSmtp()
    try:
        yield server
    finally:
        server.close()


def test_a_worker_killed_mid_send_leaves_the_message_to_be_sent_again_with_the_same_message_id(
    app: Flask, org: Org, swallowing_smtp: SwallowingSmtp
) -> None:
    ticket = make_ticket(db.session, org, app.config["UPLOAD_FOLDER"])
    row_id = db.session.scalar(
        select(Notification.id).where(Notification.ticket_id == ticket.id, Notification.channel == "email")
    )
    db.session.commit()
    environment = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "MAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(swallowing_smtp.port),
        "SMTP_STARTTLS": "0",
        "BASE_URL": app.config["BASE_URL"],
        "REDIS_URL": "",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "dispatch"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert swallowing_smtp.swallowed.wait(60), "the worker never reached the SMTP server"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    first_copy = email.message_from_bytes(swallowing_smtp.message, policy=email.policy.default)

    db.session.expire_all()
    row = db.session.get(Notification, row_id)
    assert (row.status, row.sent_at) == ("sending", None)  # cut off: nobody knows if it arrived

    # Still within the claim's lifetime: perhaps another worker is sending it. Left alone.
    assert dispatch_due(db.session, utcnow()).sent == 0

    later = utcnow() + STALE_CLAIM + timedelta(minutes=1)
    result = dispatch_due(db.session, later)
    assert (result.resumed, result.sent, result.dead) == (1, 1, 0)
    db.session.expire_all()
    row = db.session.get(Notification, row_id)
    assert (row.status, row.attempts) == ("sent", 2)

    [resent_path] = sorted(Path(app.config["MAIL_DIR"]).glob("*.eml"))
    resent = email.message_from_bytes(resent_path.read_bytes(), policy=email.policy.default)
    # The same Message-ID lets the receiving server drop the copy if the first one did arrive.
    assert resent["Message-ID"] == first_copy["Message-ID"] == f"<outbox-{row_id}@portal.test>"
    assert resent["Subject"] == first_copy["Subject"]

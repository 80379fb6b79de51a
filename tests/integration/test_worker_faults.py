"""The background worker keeps delivering when Redis is gone (issue 15.3, R3, R13).

The fault is real: the test starts its own Redis server, runs `flask worker` as a process
against it, then kills Redis with SIGKILL. Until then the worker only queues jobs (nobody runs
them here, so nothing is delivered); once Redis is gone it delivers the outbox itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.extensions import db
from tests.conftest import base_config
from tests.factories import Org, make_ticket

ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    config = base_config(database_url, tmp_path)
    config.update(MAIL_BACKEND="file", MAIL_DIR=str(tmp_path / "mail"), REDIS_URL="")
    return config


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    server = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    try:
        yield server, port
    finally:
        server.kill()
        server.wait(10)


def wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_with_redis_killed_the_worker_delivers_the_outbox_itself(
    app: Flask, org: Org, own_redis: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    redis_server, port = own_redis
    make_ticket(db.session, org, app.config["UPLOAD_FOLDER"])  # its acknowledgement waits in the outbox
    db.session.commit()
    mail_dir = Path(app.config["MAIL_DIR"])
    log = tmp_path / "worker.log"
    environment = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "MAIL_BACKEND": "file",
        "MAIL_DIR": str(mail_dir),
        "BASE_URL": app.config["BASE_URL"],
    }
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "wsgi",
                "worker",
                "--dispatch-every",
                "1",
                "--sweep-every",
                "2",
            ],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            # Redis answers: the worker only queues, and no RQ worker runs here, so nothing is sent.
            assert wait_for(lambda: "queued on Redis" in log.read_text(), 30), log.read_text()
            time.sleep(3)
            assert not list(mail_dir.glob("*.eml"))

            redis_server.send_signal(signal.SIGKILL)
            redis_server.wait(10)
            assert wait_for(lambda: list(mail_dir.glob("*.eml")), 30), log.read_text()
            assert "Redis unreachable" in log.read_text()
        finally:
            worker.terminate()
            worker.wait(10)

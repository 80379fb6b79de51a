"""`make bench-idle`: what the background workers cost while nothing happens (issue 15.2).

Starts, on a fresh migrated SQLite database in a temporary directory:
  with Redis (REDIS_URL, a spare database number on the local server):
      `flask worker` (the scheduler) and `flask rq-worker` (runs the jobs);
  without Redis:
      `flask worker` alone (delivers and sweeps in its own process);
lets each set settle, then reads their CPU time from /proc over a window and prints the share of
one core each used, and the log lines they wrote. Target: under 1% of a core together.

Environment (optional): WINDOW=60 (seconds measured), REDIS=redis://127.0.0.1:6379/13.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def measure(label: str, commands: list[list[str]], env: dict[str, str], window: float, logs: Path) -> float:
    processes = []
    for number, command in enumerate(commands):
        log = (logs / f"{label}-{number}.log").open("wb")
        processes.append(
            (subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log)
        )
    try:
        time.sleep(8)  # start-up (imports, app factory, first sweep) is not idle time
        start = [cpu_seconds(p.pid) for p, _log in processes]
        lines_before = sum(len(log_path.read_text().splitlines()) for log_path in logs.glob(f"{label}-*.log"))
        time.sleep(window)
        used = [cpu_seconds(p.pid) - s for (p, _log), s in zip(processes, start, strict=True)]
        lines_after = sum(len(log_path.read_text().splitlines()) for log_path in logs.glob(f"{label}-*.log"))
    finally:
        for process, log in processes:
            process.terminate()
            process.wait(10)
            log.close()
    share = 100 * sum(used) / window
    parts = ", ".join(
        f"{' '.join(c[5:6])} {100 * u / window:.2f}%" for c, u in zip(commands, used, strict=True)
    )
    print(f"{label:<14} {share:6.2f}% of one core  ({parts}); {lines_after - lines_before} log lines")
    return share


def main() -> int:
    window = float(os.environ.get("WINDOW", "60"))
    redis_url = os.environ.get("REDIS", "redis://127.0.0.1:6379/13")
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{base / 'idle.db'}",
            "SECRET_KEY": secrets.token_hex(32),
            "MAIL_BACKEND": "file",
            "MAIL_DIR": str(base / "mail"),
            "REDIS_URL": "",
        }
        subprocess.run([*FLASK, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
        print(f"idle workers over {window:.0f} s (load average before: {os.getloadavg()[0]:.2f})")
        with_redis = {**env, "REDIS_URL": redis_url}
        total = measure("with Redis", [[*FLASK, "worker"], [*FLASK, "rq-worker"]], with_redis, window, base)
        alone = measure("without Redis", [[*FLASK, "worker"]], env, window, base)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0 if max(total, alone) < 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""`make bench`: seed a fresh SQLite database, serve it with gunicorn, load it with wrk, report.

One run measures, against the bare route /healthz/live:
  GET /complaints/new, the staff queue's first page (as a responder and as a manager), the
  ticket page of a ticket with 20 timeline events, and filing complaints (POST, 8 threads,
  every 303 checked against the database afterwards: "filed N, stored N, lost 0").

Environment (all optional):
  N=100000      tickets to seed (1000000 works: about 1.9 GB and 2–3 minutes of seeding)
  DURATION=10   seconds of load per path
  COMPARE=1     also seed N=10000 and print the queue median next to the one at N
  KEEP=1        keep the temporary directory (database, gunicorn log) and print its path
  CONNECTIONS=8 wrk connections; THREADS=8 filing threads; WORKERS=2 gunicorn sync workers

The server runs with PORTAL_ENV=production and a random SECRET_KEY. Rate limits are switched
off (RATELIMIT_ENABLED=0): they would refuse the load by design. Nothing is written under
instance/; everything lives in a temporary directory, removed at the end unless KEEP=1.

Besides req/s, p50 and p99 (wall clock), the table shows the CPU time gunicorn spent per request
(read from /proc): on a machine shared with other work the wall clock suffers, the CPU cost per
request much less, so "CPU vs" is the fairer ratio to the bare route. The targets are judged on
req/s, as specified; docs/performance.md has the numbers and what they mean.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import seed as seeding  # bench/ is not a package: `python bench/run.py` puts it on the path

REPO_ROOT = Path(__file__).resolve().parent.parent
GUNICORN = REPO_ROOT / ".venv" / "bin" / "gunicorn"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
USER_AGENT = "portal-bench/1"  # Flask-Login's strong session protection ties a session to it
SMALL_N = 10_000
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH-JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non_2xx_3xx": %d, '
    .. '"socket_errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class Result:
    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    failures: int = 0
    target: str = ""
    met: bool | None = None
    ratio: float | None = None
    cpu_ms: float | None = None  # gunicorn CPU time per request (user + system, all workers)
    cpu_ratio: float | None = None  # bare's CPU per request ÷ this path's: capacity ratio


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def request(
        self, method: str, path: str, *, cookie: str | None = None, body: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        """One request over a fresh connection; returns status, new cookies and the body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"User-Agent": USER_AGENT}
        if cookie:
            headers["Cookie"] = f"session={cookie}"
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            return response.status, parse_cookies(response), text
        finally:
            conn.close()


def parse_cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    jar: dict[str, str] = {}
    for header in response.msg.get_all("Set-Cookie") or []:
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        jar.update({name: morsel.value for name, morsel in parsed.items()})
    return jar


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(workdir: Path, db_path: Path, name: str, workers: int) -> Server:
    port = free_port()
    log = workdir / f"gunicorn-{name}.log"
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{db_path}",
            "RATELIMIT_ENABLED": "0",  # the limits would (rightly) refuse a load test
            "PORTAL_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "SESSION_COOKIE_SECURE": "0",  # plain HTTP on 127.0.0.1
            "UPLOAD_FOLDER": str(workdir / "uploads"),
        }
    )
    command = [
        str(GUNICORN),
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--chdir",
        str(REPO_ROOT),
        "--log-level",
        "warning",
        "wsgi:app",
    ]
    with log.open("wb") as out:
        # Its own session: Ctrl-C reaches us, and we stop exactly this process group.
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(port=port, process=process, log=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{tail(log)}")
        with contextlib.suppress(OSError):
            if server.request("GET", "/healthz/live")[0] == 200:
                return server
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within 60 s:\n{tail(log)}")


def stop_server(server: Server) -> None:
    process = server.process
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)  # gunicorn's quick shutdown, workers included
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def csrf_token(html: str) -> str:
    match = CSRF_FIELD.search(html)
    if not match:
        raise RuntimeError("no csrf_token in the form")
    return match.group(1)


def login(server: Server, email: str, password: str) -> str:
    """Sign in like a browser: GET the form, POST it with its CSRF token, keep the session."""
    status, cookies, html = server.request("GET", "/auth/login")
    if status != 200 or "session" not in cookies:
        raise RuntimeError(f"GET /auth/login answered {status}")
    form = {"email": email, "password": password, "csrf_token": csrf_token(html)}
    status, new_cookies, _html = server.request("POST", "/auth/login", cookie=cookies["session"], body=form)
    if status != 303 or "session" not in new_cookies:
        raise RuntimeError(f"signing in as {email} answered {status}, not 303")
    return new_cookies["session"]


def check_page(server: Server, path: str, cookie: str | None, marker: str, expected: int | None) -> None:
    """Before loading a path, make sure it really answers 200 with the content we mean to time."""
    status, _cookies, html = server.request("GET", path, cookie=cookie)
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}; not benchmarking an error page")
    if expected is not None and html.count(marker) != expected:
        raise RuntimeError(f"GET {path}: expected {expected} × {marker!r}, found {html.count(marker)}")


@dataclass(frozen=True)
class Load:
    duration: int
    connections: int
    script: Path  # the Lua reporter that makes wrk print p50/p99 as JSON


def run_wrk(server: Server, path: str, cookie: str | None, label: str, load: Load) -> Result:
    for _ in range(10):  # warm both workers (templates compiled, pages cached) before timing
        server.request("GET", path, cookie=cookie)
    command = [WRK, "-t", str(min(2, load.connections)), "-c", str(load.connections)]
    command += ["-d", f"{load.duration}s", "--timeout", "10s", "-s", str(load.script)]
    command += ["-H", f"User-Agent: {USER_AGENT}"]
    if cookie:
        command += ["-H", f"Cookie: session={cookie}"]
    command.append(f"http://127.0.0.1:{server.port}{path}")
    cpu_before = server_cpu_seconds(server)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = server_cpu_seconds(server) - cpu_before
    line = next((x for x in output.splitlines() if x.startswith("BENCH-JSON ")), None)
    if line is None:
        raise RuntimeError(f"no report from wrk:\n{output}")
    data = json.loads(line.removeprefix("BENCH-JSON "))
    seconds = data["duration_us"] / 1e6
    return Result(
        label=label,
        rps=data["requests"] / seconds,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        requests=data["requests"],
        failures=data["non_2xx_3xx"] + data["socket_errors"],
        cpu_ms=cpu * 1000 / data["requests"] if data["requests"] else None,
    )


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()  # fields from the 3rd (state) on


def server_cpu_seconds(server: Server) -> float:
    """CPU time used so far by gunicorn's master and workers. Other processes on a shared
    machine slow the wall clock down, but barely change the CPU a request costs."""
    master = server.process.pid
    pids = [master]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _proc_stat(int(entry.name))
            if fields and fields[1] == str(master):
                pids.append(int(entry.name))
    total = 0
    for pid in pids:
        fields = _proc_stat(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


@dataclass
class Filing:
    filed: list[str] = field(default_factory=list)  # idempotency keys answered with 303
    refused: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def file_complaints(
    server: Server, *, seconds: int, threads: int, category_ids: list[int]
) -> tuple[Filing, float]:
    """Each thread is one browser session: one GET for cookie and token, then many POSTs that
    reuse them (Flask-WTF tokens are per session), each with its own idempotency key."""
    result = Filing()
    sessions = []
    for _ in range(threads):
        status, cookies, html = server.request("GET", "/complaints/new")
        if status != 200 or "session" not in cookies:
            raise RuntimeError(f"GET /complaints/new answered {status}")
        sessions.append((cookies["session"], csrf_token(html)))
    stop_at = time.monotonic() + seconds

    def customer(index: int, cookie: str, token: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        headers = {
            "User-Agent": USER_AGENT,
            "Cookie": f"session={cookie}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        sent = 0
        while time.monotonic() < stop_at:
            sent += 1
            key = f"bench-{index:02d}-{sent:07d}-{secrets.token_hex(4)}"
            form = {
                "name": f"Bench Customer {index}",
                "email": f"bench{index}.{sent}@example.org",
                "preferred_contact": "email",
                "category": str(category_ids[sent % len(category_ids)]),
                "subject": f"Load test complaint {sent}",
                "description": "The delivery arrived late and the box was damaged. Please call me back.",
                "consent": "y",
                "csrf_token": token,
                "idempotency_key": key,
            }
            began = time.perf_counter()
            try:
                conn.request("POST", "/complaints/new", body=urlencode(form), headers=headers)
                response = conn.getresponse()
                response.read()
                code = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                with result.lock:
                    result.errors += 1
                continue
            elapsed = time.perf_counter() - began
            with result.lock:
                result.latencies.append(elapsed)
                if code == 303:
                    result.filed.append(key)
                else:
                    result.refused[code] = result.refused.get(code, 0) + 1
        conn.close()

    began = time.monotonic()
    pool = [
        threading.Thread(target=customer, args=(i, cookie, token), daemon=True)
        for i, (cookie, token) in enumerate(sessions)
    ]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return result, time.monotonic() - began


def stored_keys(db_path: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT idempotency_key FROM ticket WHERE idempotency_key LIKE 'bench-%'")
        return {row[0] for row in rows}
    finally:
        conn.close()


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


@contextlib.contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    try:
        yield path
    finally:
        if keep:
            print(f"\nKEEP=1: kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def seed_db(workdir: Path, name: str, n: int) -> tuple[Path, seeding.SeedInfo]:
    db_path = workdir / f"{name}.db"
    print(f"Seeding {n:,} tickets into {db_path} ...", flush=True)
    info = seeding.seed(db_path, n, upload_dir=workdir / "uploads")
    size_mb = db_path.stat().st_size / 1e6
    print(
        f"  {info.tickets:,} tickets, {info.events:,} events ({info.events / info.tickets:.1f} per ticket), "
        f"{info.open_tickets:,} open, {size_mb:,.0f} MB, in {info.seconds:.1f} s",
        flush=True,
    )
    return db_path, info


def queue_results(server: Server, info: seeding.SeedInfo, tag: str, load: Load) -> list[Result]:
    results = []
    for role, email in (("responder", info.responder_email), ("manager", info.manager_email)):
        cookie = login(server, email, info.password)
        check_page(server, "/staff/queue", cookie, 'id="ticket-row-', env_int("QUEUE_PAGE_SIZE", 50))
        print(f"  wrk GET /staff/queue as {role}{tag} ...", flush=True)
        results.append(run_wrk(server, "/staff/queue", cookie, f"GET /staff/queue ({role}{tag})", load))
    return results


def main() -> int:
    n = env_int("N", 100_000)
    duration = env_int("DURATION", 10)
    connections = env_int("CONNECTIONS", 8)
    threads = env_int("THREADS", 8)
    workers = env_int("WORKERS", 2)
    compare, keep = env_flag("COMPARE"), env_flag("KEEP")
    if not Path(WRK).exists():
        print("wrk is not installed. On Debian/Ubuntu: sudo apt-get install wrk", file=sys.stderr)
        return 2
    if not GUNICORN.exists():
        print(f"{GUNICORN} is missing; run `make install` first", file=sys.stderr)
        return 2

    servers: list[Server] = []
    with workspace(keep) as workdir:
        try:
            script = workdir / "report.lua"
            script.write_text(WRK_REPORT)
            load = Load(duration=duration, connections=connections, script=script)
            db_path, info = seed_db(workdir, "bench", n)
            server = start_server(workdir, db_path, "bench", workers)
            servers.append(server)
            print(f"load average before the load: {load_average()} (other processes share this machine)")
            print(
                f"gunicorn: {workers} sync workers on 127.0.0.1:{server.port}; "
                f"wrk: {connections} connections, {duration} s per path",
                flush=True,
            )

            results: list[Result] = []
            print("  wrk GET /healthz/live ...", flush=True)
            bare = run_wrk(server, "/healthz/live", None, "GET /healthz/live (bare)", load)
            results.append(bare)
            check_page(server, "/complaints/new", None, 'name="csrf_token"', None)
            print("  wrk GET /complaints/new ...", flush=True)
            form = run_wrk(server, "/complaints/new", None, "GET /complaints/new", load)
            form.target, form.met = "≥ 15% of bare", form.rps >= 0.15 * bare.rps
            results.append(form)
            queues = queue_results(server, info, "", load)
            for result in queues:
                result.target, result.met = "≥ 5% of bare", result.rps >= 0.05 * bare.rps
            results += queues
            responder_cookie = login(server, info.responder_email, info.password)
            ticket_path = f"/staff/tickets/{info.timeline_ticket_id}"
            check_page(
                server, ticket_path, responder_cookie, '<li class="event event-', seeding.TIMELINE_EVENTS
            )
            print(f"  wrk GET {ticket_path} ...", flush=True)
            page = run_wrk(server, ticket_path, responder_cookie, f"GET {ticket_path} (20 events)", load)
            page.target, page.met = "≥ 5% of bare", page.rps >= 0.05 * bare.rps
            results.append(page)

            print(f"  filing complaints: {threads} threads for {duration} s ...", flush=True)
            cpu_before = server_cpu_seconds(server)
            filing, elapsed = file_complaints(
                server, seconds=duration, threads=threads, category_ids=info.category_ids
            )
            cpu = server_cpu_seconds(server) - cpu_before
            stored = stored_keys(db_path)
            filed = len(filing.filed)
            kept = len(set(filing.filed) & stored)
            lost = filed - kept
            post = Result(
                label=f"POST /complaints/new ({threads} threads)",
                rps=filed / elapsed,
                p50_ms=percentile(filing.latencies, 50) * 1000,
                p99_ms=percentile(filing.latencies, 99) * 1000,
                requests=filed + sum(filing.refused.values()) + filing.errors,
                failures=sum(filing.refused.values()) + filing.errors,
                target="≥ 100/s, none lost",
                cpu_ms=cpu * 1000 / len(filing.latencies) if filing.latencies else None,
            )
            post.met = post.rps >= 100 and lost == 0 and post.failures == 0
            results.append(post)
            for result in results:
                result.ratio = result.rps / bare.rps if bare.rps else None
                if result.cpu_ms and bare.cpu_ms:
                    result.cpu_ratio = bare.cpu_ms / result.cpu_ms
                if result.failures:  # an error page is fast, and proves nothing
                    result.met = False

            comparison = None
            if compare:
                small_db, small_info = seed_db(workdir, "small", SMALL_N)
                small = start_server(workdir, small_db, "small", workers)
                servers.append(small)
                comparison = queue_results(small, small_info, f", N={SMALL_N:,}", load)
                stop_server(small)

            print_report(n, info, results, queues, comparison, filing, filed, kept, lost, len(stored))
            return 0 if all(r.met is not False for r in results) else 1
        except KeyboardInterrupt:
            print("\ninterrupted; stopping gunicorn", file=sys.stderr)
            return 130
        except Exception:
            for server in servers:
                print(f"--- {server.log.name} (last lines) ---\n{tail(server.log)}", file=sys.stderr)
            raise
        finally:
            for server in servers:
                stop_server(server)


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def print_report(
    n: int,
    info: seeding.SeedInfo,
    results: list[Result],
    queues: list[Result],
    comparison: list[Result] | None,
    filing: Filing,
    filed: int,
    kept: int,
    lost: int,
    stored: int,
) -> None:
    print(f"\nResults at N={n:,} tickets ({info.open_tickets:,} open), SQLite, rate limits off:")
    print(f"machine: {machine()}; load average 1/5/15 min now: {load_average()}\n")
    header = (
        f"{'path':<40} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'vs bare':>7} {'CPU ms':>7} {'CPU vs':>7}"
        f"  {'target':<19} met"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        ratio = f"{r.ratio * 100:.1f}%" if r.ratio is not None else ""
        cpu = f"{r.cpu_ms:.2f}" if r.cpu_ms is not None else ""
        cpu_ratio = f"{r.cpu_ratio * 100:.1f}%" if r.cpu_ratio is not None else ""
        met = "" if r.met is None else ("yes" if r.met else "NO")
        print(
            f"{r.label:<40} {r.rps:>7.1f} {r.p50_ms:>7.1f} {r.p99_ms:>7.1f} {ratio:>7}"
            f" {cpu:>7} {cpu_ratio:>7}  {r.target:<19} {met}"
        )
        if r.failures and not r.label.startswith("POST"):
            print(f"{'':<4}! {r.failures} of {r.requests} requests failed (non-2xx/3xx or socket errors)")
    print(
        "\nvs bare = req/s ÷ bare req/s (what the targets are judged on). CPU ms = gunicorn CPU time"
        "\nper request; CPU vs = bare's CPU ms ÷ this path's: the ratio without other processes' load."
    )
    refused = ", ".join(f"{count} × {code}" for code, count in sorted(filing.refused.items()))
    print(f"\nfiled {filed}, stored {kept}, lost {lost}", end="")
    print(f" (refused: {refused or 'none'}; connection errors: {filing.errors}; bench rows in DB: {stored})")
    if comparison:
        print(f"\nQueue median, N={n:,} vs N={SMALL_N:,} (target: ≤ 1.3×):")
        for big, small in zip(queues, comparison, strict=True):
            role = "responder" if "responder" in big.label else "manager"
            ratio = big.p50_ms / small.p50_ms if small.p50_ms else float("inf")
            verdict = "yes" if ratio <= 1.3 else "NO"
            cpu = ""
            if big.cpu_ms and small.cpu_ms:
                times = big.cpu_ms / small.cpu_ms
                cpu = f"; CPU/request {big.cpu_ms:.1f} vs {small.cpu_ms:.1f} ms = {times:.2f}×"
            print(
                f"  {role:<10} p50 {big.p50_ms:6.1f} ms vs {small.p50_ms:6.1f} ms"
                f" = {ratio:.2f}×  met: {verdict}{cpu}"
            )


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up exactly like Ctrl-C


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminated)
    sys.exit(main())

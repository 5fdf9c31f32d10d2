"""What the fault tests share: the app's API in-process, ground-truth tallies, and the faults themselves
(a process holding SQLite's write lock, a TCP proxy that cuts connections, a small disk for DATA_DIR)."""

from __future__ import annotations

import copy
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from mlv import app as mlv_app
from mlv.config import Settings, load_settings, set_settings
from mlv.jobs import registry
from mlv.mailcow.emulator import Emulator
from mlv.mailcow.site import ALIAS_DOMAINS, DOMAINS

USER, PASSWORD = "admin", "fault-test-pa55"
LOCAL = [*DOMAINS, *ALIAS_DOMAINS]
SOURCES = ("postfix", "rspamd", "netfilter", "dovecot")
EMULATOR_LOG = {"postfix": "postfix", "rspamd": "rspamd-history", "netfilter": "netfilter", "dovecot": "dovecot"}


# ---------------------------------------------------------------------------------------------- the app


class App:
    """mlv's runtime (settings, engine, mailcow) and its REST API, called over HTTP in-process.

    Jobs run through the app's own registry, so GET /api/settings/info shows what the status page shows.
    """

    def __init__(self, engine: Engine, settings: Settings, *, mailcow_url: str = "", mailcow_key: str = "") -> None:
        from mlv.api import install_guard, register_routes

        self.runtime = mlv_app.Runtime(settings=settings, engine=engine, mailcow_url=mailcow_url,
                                       mailcow_key=mailcow_key)
        self._old = mlv_app.runtime
        self._jobs = copy.deepcopy(registry.jobs)  # the app's registry is shared: leave it as it was
        mlv_app.runtime = self.runtime
        set_settings(settings)
        api = FastAPI()
        register_routes(api)
        install_guard(api, enabled=True, username=USER, password=PASSWORD, trusted_proxies=[], max_failures=1000,
                      failure_window=60)
        self.http = TestClient(api)
        self.http.auth = (USER, PASSWORD)

    def close(self) -> None:
        self.http.close()
        registry.jobs = self._jobs
        mlv_app.runtime = self._old
        set_settings(None)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def set(self, **changes: Any) -> None:
        """Change settings of the running app (as a restart with a new environment would)."""
        self.runtime.settings = self.runtime.settings.model_copy(update=changes)
        set_settings(self.runtime.settings)

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        return response.json()

    def run_job(self, name: str, work: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
        """Run `work` as the job `name` (as the scheduler does) and return the job as the API shows it."""
        registry.run(name, work)
        return self.job(name)

    def fetch(self) -> dict[str, Any]:
        """One run of the fetch_logs job, exactly as the scheduler runs it."""
        from mlv.jobs import Scheduler

        scheduler = Scheduler(self.settings, self.runtime.engine, mlv_app.mailcow_client)
        return self.run_job("fetch_logs", scheduler.fetch_once)

    def job(self, name: str) -> dict[str, Any]:
        """The job as GET /api/settings/info shows it, plus the details the jobs card shows."""
        entry = dict(self.get("/api/settings/info")["background_jobs"][name])
        entry["details"] = registry.snapshot()[name]["details"]
        entry["duration_s"] = registry.snapshot()[name]["last_duration_s"]
        return entry

    def stays_up(self) -> dict[str, Any]:
        """The public health check answers (the app is up), whatever it says about the database."""
        return self.get("/api/health")


def app_settings(**values: Any) -> Settings:
    base: dict[str, Any] = {"_env_file": None, "auth_enabled": True, "auth_username": USER,
                            "auth_password": PASSWORD, "local_domains": ",".join(LOCAL), "mailcow_api_timeout": 5,
                            "scheduler_enabled": False, "app_releases_url": "", "dmarc_rdns_enabled": False}
    base.update(values)
    return load_settings(**base)


def one_line_reason(reason: str | None, *must_contain: str) -> str:
    """`reason` is a readable one-line sentence holding every `must_contain` (case-insensitive)."""
    assert reason, "no reason shown"
    assert "\n" not in reason and "Traceback" not in reason and len(reason) <= 500, reason
    assert "[SQL:" not in reason and "sqlalche.me" not in reason, reason
    for part in must_contain:
        assert part.lower() in reason.lower(), (part, reason)
    return reason


# ---------------------------------------------------------------------------------------------- ground truth


def line_key(source: str, item: dict) -> tuple:
    """A mailcow item as the database keeps it: (time, priority, program, message) and the like."""
    if source == "rspamd":  # rspamd says "undef" when a mail had no Message-ID; stored as none
        mid = str(item.get("message-id") or "").strip("<>")
        return int(item["unix_time"]), "" if mid == "undef" else mid
    if source == "netfilter":
        return int(item["time"]), item["priority"], item["message"]
    return int(item["time"]), item["priority"], item["program"], item["message"]


_DB_LINES = {"postfix": "SELECT time, priority, program, message FROM postfix_log",
             "dovecot": "SELECT time, priority, program, message FROM dovecot_log",
             "netfilter": "SELECT time, priority, message FROM netfilter_log",
             "rspamd": "SELECT time, message_id FROM rspamd_log"}


def emulator_lines(emu: Emulator, source: str) -> Counter:
    """What mailcow holds now for a log, as a multiset of line keys."""
    return Counter(line_key(source, i) for i in emu.buffer_items(EMULATOR_LOG[source]) if i is not None)


def db_lines(engine: Engine, source: str) -> Counter:
    with engine.connect() as conn:
        rows = conn.execute(text(_DB_LINES[source])).all()
    if source == "rspamd":
        return Counter((int(r[0]), str(r[1] or "").strip("<>")) for r in rows)
    return Counter((int(r[0]), *r[1:]) for r in rows)


@dataclass
class Tally:
    stored: int
    expected: int
    lost: int
    doubled: int

    def text(self, source: str) -> str:
        return f"{source} {self.stored:,} = emulator {self.expected:,}" if self.lost == self.doubled == 0 else \
            f"{source} {self.stored:,} vs emulator {self.expected:,} (lost {self.lost:,}, doubled {self.doubled:,})"


def tally(have: Counter, want: Counter) -> Tally:
    return Tally(stored=sum(have.values()), expected=sum(want.values()), lost=sum((want - have).values()),
                 doubled=sum((have - want).values()))


def line_tallies(engine: Engine, emu: Emulator) -> dict[str, Tally]:
    """Every log's lines in the database against the emulator (which must not have wrapped: see `written`)."""
    out = {}
    for source in SOURCES:
        want = emulator_lines(emu, source)
        assert sum(want.values()) == emu.written[EMULATOR_LOG[source]], \
            f"{source}: the emulator's buffer wrapped; it is no longer the whole ground truth"
        out[source] = tally(db_lines(engine, source), want)
    return out


def message_figures(engine: Engine, emu: Emulator, *, only_logged: bool = True) -> dict[str, Any]:
    """Messages in the database against the emulator's ground truth.

    `found`: truth messages that have their message in the database; `split`: truth messages spread
    over more than one database message; `doubled`: database messages no truth message accounts for
    (a mail stored twice shows up here); `rate`: the share of truth messages whose direction and
    recipients are right. `only_logged`: leave out mails still in smtpd (no cleanup line yet).
    """
    from mlv.correlate.engine import correlation_key
    from tests.correlate.test_truth import compare_with_truth

    truth = emu.truth()
    if only_logged:
        logged = {i["message"].split(":", 1)[0] for i in emu.buffer_items("postfix")
                  if i is not None and ": message-id=" in i["message"]}
        truth = [t for t in truth if t["noqueue"] or (t["queue_ids"] and t["queue_ids"][0] in logged)]
    refs: set[int] = set()
    split = 0
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT COUNT(*) FROM message")).scalar_one()
        for t in truth:
            if t["queue_ids"]:
                found = {r for q in t["queue_ids"] for r in conn.execute(text(
                    "SELECT message_ref FROM message_queue WHERE queue_id = :q AND ABS(first_seen - :t) < 3600"),
                    {"q": q, "t": t["first_time"]}).scalars() if r is not None}
            else:
                nq = t["noqueue"]
                key = correlation_key(1, "noqueue", nq["time"], nq["client_ip"], nq["sender"])
                found = set(conn.execute(text("SELECT id FROM message WHERE correlation_key = :k"),
                                         {"k": key}).scalars())
            split += len(found) > 1
            refs |= found
    rate, problems = compare_with_truth(engine, truth)
    return {"stored": stored, "truth": len(truth), "found": len(refs), "split": split,
            "doubled": stored - len(refs), "rate": rate, "problems": problems}


def table_counts(engine: Engine) -> dict[str, int]:
    tables = ("postfix_log", "rspamd_log", "netfilter_log", "dovecot_log", "message", "message_queue", "delivery",
              "import_gap")
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in tables}


def watermarks(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT name, value FROM ingest_state WHERE name LIKE 'fetch:%'")).all())


# ---------------------------------------------------------------------------------------------- SQLite lock

_HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("UPDATE ingest_state SET updated_at = updated_at")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
conn.close()
print("released", flush=True)
"""


class SqliteLockHolder:
    """Another process that holds SQLite's write lock on a database file until `release()`."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "locked":
            self.proc.kill()
            raise RuntimeError(f"the lock holder did not lock: {line} {self.proc.stderr.read()[-1000:]}")

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
            assert self.proc.stdout.readline().strip() == "released"
            self.proc.wait(10)


# ---------------------------------------------------------------------------------------------- TCP cut


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 in front of a server; armed, it drops a connection mid-answer.

    `arm(marker, nth, after)`: once the client has sent its `nth` command containing `marker`, the
    next `after` bytes of the server's answer go through and then both sides are cut off.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.plan: tuple[bytes, int, int] | None = None
        self.cuts = 0
        self.bytes_before_cut = 0
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, marker: bytes, nth: int, after: int) -> None:
        self.plan = (marker, nth, after)

    def disarm(self) -> None:
        self.plan = None

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            state = {"commands": 0, "budget": None, "sent": 0, "closed": False}
            plan = self.plan
            threading.Thread(target=self._pump, args=(client, upstream, state, plan, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, state, plan, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, state: dict, plan: tuple | None,
              from_client: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if plan is not None and from_client and plan[0] in data:
                    state["commands"] += 1
                    if state["commands"] == plan[1]:
                        state["budget"] = plan[2]
                if not from_client and state["budget"] is not None:
                    part = data[:state["budget"]]
                    state["budget"] -= len(part)
                    dst.sendall(part)
                    state["sent"] += len(part)
                    if state["budget"] <= 0:
                        self.cuts += 1
                        self.bytes_before_cut = state["sent"]
                        break
                    continue
                dst.sendall(data)
                if not from_client:
                    state["sent"] += len(data)
        except OSError:
            pass
        for sock in (src, dst):  # one side gone (or cut): the other goes too
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def stop(self) -> None:
        self._stop.set()
        self.listener.close()


# ---------------------------------------------------------------------------------------------- full disk


@dataclass
class SmallDisk:
    """DATA_DIR on a disk that can run full: a tmpfs of its own (root), else SQLite's own page limit."""

    path: Path
    how: str  # "tmpfs" | "max_page_count"
    limit_pages: list[int]

    def fill(self, engine: Engine, leave_bytes: int) -> int:
        """Leave about `leave_bytes` free; returns the free bytes left."""
        if self.how == "tmpfs":
            free = shutil.disk_usage(self.path).free
            with open(self.path / "ballast", "wb") as ballast:
                chunk = b"\0" * (1 << 20)
                remaining = max(0, free - leave_bytes)
                while remaining > 0:
                    remaining -= ballast.write(chunk[:remaining])
            return shutil.disk_usage(self.path).free
        with engine.connect() as conn:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
        self.limit_pages[0] = pages + max(1, leave_bytes // size)
        engine.dispose()  # new connections get the new limit
        return (self.limit_pages[0] - pages) * size

    def free(self, engine: Engine) -> None:
        """Make room again (delete the ballast, lift the limit)."""
        if self.how == "tmpfs":
            (self.path / "ballast").unlink(missing_ok=True)
        else:
            self.limit_pages[0] = 1 << 30
            engine.dispose()

    def limit_engine(self, engine: Engine) -> None:
        if self.how != "max_page_count":
            return
        from sqlalchemy import event

        @event.listens_for(engine, "connect")
        def _limit(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.execute(f"PRAGMA max_page_count = {int(self.limit_pages[0])}")


@contextmanager
def small_disk(size_mb: int, *, tmpfs: bool = True) -> Iterator[SmallDisk]:
    """A DATA_DIR that can run full: a tmpfs of `size_mb` when `tmpfs` and allowed, else a page limit."""
    base = Path(tempfile.mkdtemp(prefix="mlv-fulldisk-"))
    mounted = False
    if tmpfs and os.geteuid() == 0 and shutil.which("mount"):
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(base)],
                                 capture_output=True, timeout=30).returncode == 0
    try:
        yield SmallDisk(base, "tmpfs" if mounted else "max_page_count", [1 << 30])
    finally:
        if mounted:
            for _ in range(50):
                if subprocess.run(["umount", str(base)], capture_output=True, timeout=30).returncode == 0:
                    break
                time.sleep(0.1)
        shutil.rmtree(base, ignore_errors=True)

"""The soak's moving parts on the test side: the app in a child process (tests/hardening/soak_app.py),
the simulated clock that drives the mailcow emulator and the app together, and the measurements
(memory of the app process, database rows and size, API latency)."""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, text

from mlv.jobs import ROLLUP_COUNTERS
from mlv.mailcow.emulator import Emulator
from tests.ui.browser import AppServer, child_server

ROOT = Path(__file__).resolve().parents[2]
LOG_TABLES = ("postfix_log", "rspamd_log", "netfilter_log", "dovecot_log")
MESSAGE_TABLES = ("message", "delivery", "message_queue")
# Rollup tables: (bucket column, counter column).
ROLLUPS = ROLLUP_COUNTERS  # rollup table -> (bucket column, counter column)


def publish(path: Path, sim_time: float) -> None:
    """Tell the app the simulated time (atomically: it may read the file at any moment)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{sim_time:.3f}")
    tmp.replace(path)


@contextmanager
def soak_server(data_dir: Path, clock_path: Path, probe_path: Path, **settings: str) -> Iterator[AppServer]:
    """tests/hardening/soak_app.py (`mlv serve` on the simulated clock) on a free port; stopped on exit."""
    with child_server(["-m", "tests.hardening.soak_app"], data_dir, name="the soak app", timeout=90,
                      SOAK_CLOCK=str(clock_path), SOAK_PROBE=str(probe_path), **settings) as server:
        yield server


def read_probe(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def watermark(engine: Engine) -> float | None:
    """The newest second the app has imported from every busy log (None before the first import)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name, value FROM ingest_state WHERE name IN "
                                 "('fetch:postfix', 'fetch:rspamd', 'fetch:dovecot')")).all()
    marks = [json.loads(v).get("newest") for _, v in rows]
    if len(marks) < 3 or any(m is None for m in marks):
        return None
    return float(min(marks))


def caught_up(engine: Engine, emulator: Emulator) -> bool:
    """Whether the app has imported the newest line mailcow holds of every busy log."""
    with engine.connect() as conn:
        marks = {name: json.loads(v).get("newest") for name, v in conn.execute(text(
            "SELECT name, value FROM ingest_state WHERE name LIKE 'fetch:%'")).all()}
    for source, buffer, key in (("postfix", "postfix", "time"), ("rspamd", "rspamd-history", "unix_time"),
                                ("dovecot", "dovecot", "time")):
        newest = next((int(i[key]) for i in emulator.buffer_items(buffer) if isinstance(i, dict)), None)
        mark = marks.get(f"fetch:{source}")
        if newest is not None and (mark is None or mark < newest):
            return False
    return True


class SimDriver(threading.Thread):
    """Moves simulated time forward at `speed` simulated seconds per real second, from `start` to `end`.

    The emulator produces the traffic of each step, then the app is told the new time. The clock never
    runs more than `max_lead` simulated seconds ahead of what the app has imported: mailcow's buffers
    hold hours, not days, and at this speed a slow fetch would otherwise lose lines no real run would.
    The real time the lead held the clock back is added up in `held_back` (seconds). `pause()` stops
    the clock (while latency is measured, so that the test's own work does not compete with the app).
    """

    def __init__(self, emulator: Emulator, clock_path: Path, engine: Engine, *, start: float, end: float,
                 speed: float, max_lead: float) -> None:
        super().__init__(name="soak-clock", daemon=True)
        self.emulator, self.clock_path, self.engine = emulator, clock_path, engine
        self.start_time, self.sim, self.end, self.speed, self.max_lead = start, start, end, speed, max_lead
        self.held_back = 0.0
        self.error: BaseException | None = None
        self._run_gate = threading.Event()
        self._run_gate.set()
        self._halt = threading.Event()

    def pause(self) -> None:
        self._run_gate.clear()

    def resume(self) -> None:
        self._run_gate.set()

    def stop(self) -> None:
        self._halt.set()
        self._run_gate.set()

    def run(self) -> None:
        try:
            self._drive()
        except BaseException as exc:  # reported by the test, which checks `error`
            self.error = exc

    def _drive(self) -> None:
        last = time.monotonic()
        mark, mark_read = None, 0.0
        while self.sim < self.end and not self._halt.is_set():
            self._run_gate.wait()
            now = time.monotonic()
            step = min(now - last, 0.5) * self.speed  # a stall of the test process is not fast-forwarded
            last = now
            if now - mark_read > 0.5:
                mark, mark_read = watermark(self.engine), now
            target = min(self.end, self.sim + step)
            limit = (mark if mark is not None else self.start_time) + self.max_lead
            if target > limit:
                self.held_back += (target - max(self.sim, limit)) / self.speed
                target = max(self.sim, limit)
            if target > self.sim:
                self.emulator.advance_to(target)
                self.sim = target
                publish(self.clock_path, target)
            time.sleep(0.05)


def rss_mb(pid: int) -> float:
    """Resident memory of a process (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def db_figures(engine: Engine, db_path: Path | None) -> dict[str, Any]:
    """Rows per table and the database's size in MB: the SQLite file and its write-ahead log, or
    PostgreSQL's pg_database_size (`db_path` None)."""
    with engine.connect() as conn:
        rows = {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                for t in (*LOG_TABLES, *MESSAGE_TABLES, *ROLLUPS)}
        if db_path is None:
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            return {"rows": rows, "db_mb": size / 2**20, "wal_mb": 0.0, "search_mb": None}
        search = sum(search_index_bytes(conn).values())
    wal = db_path.with_name(db_path.name + "-wal")
    return {"rows": rows, "db_mb": db_path.stat().st_size / 2**20, "search_mb": search / 2**20,
            "wal_mb": wal.stat().st_size / 2**20 if wal.exists() else 0.0}


def search_index_bytes(conn: Connection) -> dict[str, int]:
    """Bytes in each SQLite full-text index (its segments)."""
    tables = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table' "
                               "AND sql LIKE 'CREATE VIRTUAL TABLE%fts5%'")).scalars().all()
    return {t: int(conn.execute(text(f"SELECT COALESCE(SUM(length(block)), 0) FROM {t}_data")).scalar_one())
            for t in tables}


def oldest(engine: Engine) -> dict[str, float | None]:
    """The oldest time kept per log table, and the oldest last_seen of a message."""
    with engine.connect() as conn:
        out = {t: conn.execute(text(f"SELECT MIN(time) FROM {t}")).scalar_one() for t in LOG_TABLES}
        out["message"] = conn.execute(text("SELECT MIN(last_seen) FROM message")).scalar_one()
    return out


def dead_rollup_rows(engine: Engine, before: float) -> dict[str, int]:
    """Rollup rows for buckets older than `before` that count nothing any more."""
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t} WHERE {b} < :c AND {n} <= 0"),
                                {"c": before}).scalar_one() for t, (b, n) in ROLLUPS.items()}


def measure(client: httpx.Client, path: str, runs: int) -> dict[str, float]:
    """p50/p95 in ms of `runs` GETs after one warm-up; every answer must be 200."""
    client.get(path).raise_for_status()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    times.sort()
    return {"p50": statistics.median(times), "p95": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]}

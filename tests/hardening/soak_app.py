"""`mlv serve` for the soak test: the real app on the soak's simulated clock, with a probe on its jobs.

Started by tests/hardening/test_soak.py as `python -m tests.hardening.soak_app --port N` with the
app's settings in the environment, plus:

  SOAK_CLOCK  a file holding the simulated unix time (the test rewrites it as the week goes by)
  SOAK_PROBE  where the probe writes what it saw (JSON, rewritten every half second)
  SOAK_TRACEMALLOC  (optional, slow) a file to which, each simulated day from day 4 on, the allocation
              sites of the memory grown since day 3 are appended: for when the memory figures need a diagnosis

What differs from `mlv serve`, and why:
- `mlv.clock` reads the simulated time, so retention cutoffs and staleness follow the simulated week.
- The daily jobs (cleanup_logs at 02:00, dmarc_maintenance at 02:30) are started at those simulated
  times through the scheduler's own "run now" path: APScheduler's cron triggers follow the wall
  clock, on which the whole week lasts minutes. The interval jobs run on their own triggers.
- Every job run is watched: when it was fired, when its work started and ended, whether a run of
  the same job was already working (overlap) and how many runs of it waited at once (pile-up).
  APScheduler's own warnings about skipped and missed runs are counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DAILY = (("cleanup_logs", 2 * 3600), ("dmarc_maintenance", 2 * 3600 + 1800))  # job, seconds after 00:00 UTC


class SimClock:
    """The simulated time the test publishes in a file (replaced atomically, read on every call)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.last = float(path.read_text())

    def __call__(self) -> float:
        try:
            self.last = float(self.path.read_text())
        except (OSError, ValueError):
            pass  # between the test's write and rename: the previous value is still right
        return self.last


class Probe:
    """What the jobs did, per job: counts, overlaps, waits and durations; thread-safe."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.active: dict[str, int] = {}
        self.waiting: dict[str, int] = {}
        self.apscheduler = {"skipped_max_instances": 0, "missed": 0, "other_warnings": 0}
        self.daily: list[dict[str, Any]] = []

    def _job(self, name: str) -> dict[str, Any]:
        return self.jobs.setdefault(name, {"fired": 0, "started": 0, "finished": 0, "failed": 0, "overlaps": 0,
                                           "max_waiting": 0, "max_wait_s": 0.0, "max_duration_s": 0.0,
                                           "total_duration_s": 0.0, "errors": [], "results": []})

    def wrap(self, run: Callable) -> Callable:  # type: ignore[type-arg]
        """A replacement for `Scheduler._run` that watches each run and then does exactly what it did."""
        probe = self

        async def probed_run(scheduler: Any, name: str, work: Callable[[], Any]) -> None:
            fired = time.monotonic()
            with probe.lock:
                job = probe._job(name)
                job["fired"] += 1
                probe.waiting[name] = probe.waiting.get(name, 0) + 1
                job["max_waiting"] = max(job["max_waiting"], probe.waiting[name])

            def watched() -> Any:
                started = time.monotonic()
                with probe.lock:
                    job["started"] += 1
                    probe.active[name] = probe.active.get(name, 0) + 1
                    if probe.active[name] > 1:
                        job["overlaps"] += 1
                    job["max_wait_s"] = max(job["max_wait_s"], round(started - fired, 3))
                sim_start = probe.clock()
                ok = False
                try:
                    result = work()
                    ok = True
                    return result
                except Exception as exc:
                    with probe.lock:
                        job["errors"] = [*job["errors"][-4:], str(exc)[:300]]
                    raise
                finally:
                    took = time.monotonic() - started
                    with probe.lock:
                        probe.active[name] -= 1
                        job["finished"] += 1
                        job["failed"] += 0 if ok else 1
                        job["max_duration_s"] = max(job["max_duration_s"], round(took, 3))
                        job["total_duration_s"] = round(job["total_duration_s"] + took, 3)
                        if ok and name == "cleanup_logs":
                            job["results"].append({"sim_now": sim_start, "deleted": result})

            try:
                await run(scheduler, name, watched)
            finally:
                with probe.lock:
                    probe.waiting[name] -= 1

        return probed_run

    def snapshot(self) -> dict[str, Any]:
        from mlv import app

        jobs_config = []
        rt = app.runtime
        if rt is not None and rt.scheduler is not None:
            for job in rt.scheduler.scheduler.get_jobs():
                jobs_config.append({"id": job.id, "max_instances": job.max_instances, "coalesce": job.coalesce,
                                    "misfire_grace_time": job.misfire_grace_time, "trigger": str(job.trigger)})
        memory = {"sqlite_heap_mb": sqlite_heap_mb(), "python_blocks": sys.getallocatedblocks(),
                  "db_connections": rt.engine.pool.checkedin() + rt.engine.pool.checkedout()
                  if rt is not None and rt.engine is not None and hasattr(rt.engine.pool, "checkedin") else None}
        with self.lock:
            return {"pid": os.getpid(), "sim_now": self.clock.last, "jobs": json.loads(json.dumps(self.jobs)),
                    "memory": memory,
                    "waiting": dict(self.waiting), "apscheduler": dict(self.apscheduler),
                    "daily": list(self.daily), "scheduler_jobs": jobs_config}


def sqlite_heap_mb() -> float | None:
    """What SQLite holds in memory in this process (page caches above all), from the library Python uses."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("sqlite3")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    used = lib.sqlite3_memory_used()
    return round(used / 2**20, 1) if used else None  # 0: Python's sqlite3 has its own copy, not this one


class ApschedulerWarnings(logging.Handler):
    """Counts APScheduler's own reports of runs it skipped (one still running) or missed (too late)."""

    def __init__(self, probe: Probe) -> None:
        super().__init__(logging.WARNING)
        self.probe = probe

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        key = ("skipped_max_instances" if "maximum number of running instances" in text else
               "missed" if "was missed by" in text else "other_warnings")
        with self.probe.lock:
            self.probe.apscheduler[key] += 1


def daily_marks(after: float, until: float) -> list[tuple[float, str]]:
    """The daily jobs' start times in (after, until], in order."""
    marks = []
    day = int(after // 86400) * 86400
    while day <= until:
        for name, offset in DAILY:
            if after < day + offset <= until:
                marks.append((day + offset, name))
        day += 86400
    return sorted(marks)


def run_daily_jobs(probe: Probe, loop: asyncio.AbstractEventLoop, stop: threading.Event) -> None:
    """The daily cron triggers, on the simulated clock: "run now" when the simulated day reaches them."""
    from mlv import app

    while not stop.wait(0.05) and (app.runtime is None or app.runtime.scheduler is None):
        pass
    last = probe.clock()
    while not stop.wait(0.05):
        now = probe.clock()
        for mark, name in daily_marks(last, now):
            with probe.lock:
                probe.daily.append({"job": name, "mark": mark, "sim_now": now})
            assert app.runtime is not None
            asyncio.run_coroutine_threadsafe(app.runtime.scheduler.run_now(name), loop)
        last = max(last, now)


def trace_growth(probe: Probe, path: Path, stop: threading.Event) -> None:
    """With SOAK_TRACEMALLOC set: where the memory that grew since simulated day 3 was allocated, each day."""
    import tracemalloc

    first_day = int(probe.clock() // 86400)
    base, day = None, first_day
    while not stop.wait(1.0):
        now_day = int(probe.clock() // 86400)
        if now_day == day:
            continue
        day = now_day
        if base is None:
            if day - first_day >= 3:
                base = tracemalloc.take_snapshot()
            continue
        top = tracemalloc.take_snapshot().compare_to(base, "traceback")[:15]
        lines = [f"day {day - first_day}: {sum(s.size_diff for s in top) / 2**20:.1f} MB in the top 15"]
        for stat in top:
            lines.append(f"  +{stat.size_diff / 2**20:.2f} MB in {stat.count_diff:+} blocks")
            lines.extend(f"      {frame.filename}:{frame.lineno}" for frame in stat.traceback)
        with open(path, "a") as out:
            out.write("\n".join(lines) + "\n")


def write_probe(probe: Probe, path: Path, stop: threading.Event) -> None:
    while not stop.wait(0.5):
        try:
            data = json.dumps(probe.snapshot(), default=str)
        except RuntimeError:  # a dict changed size while APScheduler was editing its jobs: next time
            continue
        tmp = path.with_suffix(".tmp")
        tmp.write_text(data)
        tmp.replace(path)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    from nicegui import app as nicegui_app

    from mlv import clock
    from mlv.cli import main as mlv_main
    from mlv.jobs import Scheduler

    sim = SimClock(Path(os.environ["SOAK_CLOCK"]))
    clock.set_source(sim)
    probe = Probe(sim)
    Scheduler._run = probe.wrap(Scheduler._run)  # type: ignore[method-assign]
    logging.getLogger("apscheduler").addHandler(ApschedulerWarnings(probe))
    stop = threading.Event()

    async def on_startup() -> None:
        loop = asyncio.get_running_loop()
        threading.Thread(target=run_daily_jobs, args=(probe, loop, stop), name="soak-daily", daemon=True).start()
        threading.Thread(target=write_probe, args=(probe, Path(os.environ["SOAK_PROBE"]), stop),
                         name="soak-probe", daemon=True).start()

    if os.environ.get("SOAK_TRACEMALLOC"):  # a diagnosis, when the memory figures ask for one (slow)
        import tracemalloc

        tracemalloc.start(8)
        threading.Thread(target=trace_growth, args=(probe, Path(os.environ["SOAK_TRACEMALLOC"]), stop),
                         name="soak-tracemalloc", daemon=True).start()
    nicegui_app.on_startup(on_startup)
    nicegui_app.on_shutdown(stop.set)
    return mlv_main(["serve", "--port", str(args.port)])


if __name__ == "__main__":
    sys.exit(main())

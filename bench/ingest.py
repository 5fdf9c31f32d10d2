"""Ingest benchmark: ≥1,000,000 generated log lines imported and correlated.

Measures, in one run on this machine:
- end to end (parse -> store -> correlate, batches of 20,000 lines) on SQLite and PostgreSQL:
  lines/s, messages/s, database size;
- the physical limit: a bare sqlite3 executemany of the same parsed rows into a table with the
  same indexes, and our ratio to it;
- `mlv import-log` of a 1,000,000-line syslog file in a child process: time and peak memory.
Prints the figures and writes them to BENCHMARKS.md (section "Ingest").

    python bench/ingest.py [--lines 1000000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402
from mlv.correlate.rules import LocalDomains  # noqa: E402
from mlv.db import make_engine, migrate  # noqa: E402
from mlv.ingest.pipeline import ingest_stream  # noqa: E402
from mlv.ingest.store import (  # noqa: E402
    COLUMNS,
    TABLES,
    _dovecot_row,
    _netfilter_row,
    _postfix_row,
    _rspamd_row,
    parse_items,
)
from mlv.mailcow.generator import TrafficGenerator  # noqa: E402
from mlv.mailcow.site import ALIAS_DOMAINS, DOMAINS  # noqa: E402

BATCH = 20000
NOTE = ("End to end is `ingest_stream`, the path of `mlv import-log`: batches of ~20,000 postfix lines (never "
        "splitting a second), the next batch parsed and its rows built in a second thread while the current one is "
        "stored and correlated in its transaction. The bare baseline runs before and after the pipeline; the faster "
        "run counts. Peak memory of `mlv import-log` is the child's own VmHWM.")
SOURCES = {"postfix": "postfix", "rspamd": "rspamd-history", "netfilter": "netfilter", "dovecot": "dovecot"}


def generate(lines: int) -> tuple[dict[str, list], float]:
    gen = TrafficGenerator(seed=42, rate=400.0, null_rate=0.0005)
    out: dict[str, list] = {s: [] for s in SOURCES}
    started = time.perf_counter()
    while len(out["postfix"]) < lines:
        gen.advance(300)
        drained = gen.drain()
        for ours, theirs in SOURCES.items():
            out[ours].extend(drained.get(theirs, []))
    del out["postfix"][lines:]
    return out, time.perf_counter() - started


def batches(items: dict[str, list]):  # type: ignore[no-untyped-def]
    """Interleave the sources by time into batches of ~BATCH postfix lines, as the fetch job would."""
    pf = items["postfix"]
    others = {s: items[s] for s in ("rspamd", "netfilter", "dovecot")}
    pos = dict.fromkeys(others, 0)
    for start in range(0, len(pf), BATCH):
        chunk = pf[start:start + BATCH]
        last = next((int(i["time"]) for i in reversed(chunk) if isinstance(i, dict)), 0)
        batch = {"postfix": chunk}
        for source, lst in others.items():
            key = "unix_time" if source == "rspamd" else "time"
            j = pos[source]
            while j < len(lst) and (not isinstance(lst[j], dict) or int(lst[j].get(key, 0)) <= last):
                j += 1
            batch[source] = lst[pos[source]:j]
            pos[source] = j
        yield batch


def run_pipeline(url: str, items: dict[str, list]) -> dict[str, float]:
    engine = make_engine(url)
    migrate(engine)
    domains = LocalDomains([*DOMAINS, *ALIAS_DOMAINS])
    total_lines = sum(len(v) for v in items.values())
    started = time.perf_counter()
    ingest_stream(engine, batches(items), domains=domains)  # the path of `mlv import-log`
    elapsed = time.perf_counter() - started
    with engine.connect() as conn:
        from sqlalchemy import text

        messages = conn.execute(text("SELECT COUNT(*) FROM message")).scalar_one()
        postfix_rows = conn.execute(text("SELECT COUNT(*) FROM postfix_log")).scalar_one()
        if engine.dialect.name == "postgresql":
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        else:
            size = Path(url.removeprefix("sqlite:///")).stat().st_size
    engine.dispose()
    return {"seconds": elapsed, "lines": total_lines, "postfix_lines": len(items["postfix"]),
            "postfix_rows": postfix_rows, "messages": messages, "size_mb": size / 1e6,
            "lines_per_s": total_lines / elapsed, "postfix_per_s": len(items["postfix"]) / elapsed,
            "messages_per_s": messages / elapsed}


def bare_baseline(items: dict[str, list], path: Path) -> dict[str, float]:
    """The physical limit: executemany of the same parsed rows (every source), same tables and indexes."""
    rows: dict[str, list[tuple]] = {}
    for source in SOURCES:
        parsed = parse_items(source, items[source])
        if source == "postfix":
            rows[source] = [_postfix_row(r, h, 1) for r, h in zip(parsed.records, parsed.hashes, strict=True)]
        elif source == "rspamd":
            rows[source] = [_rspamd_row(r, h, 1, None) for r, h in zip(parsed.records, parsed.hashes, strict=True)]
        elif source == "netfilter":
            rows[source] = [_netfilter_row(r, h, 1) for r, h in zip(parsed.records, parsed.hashes, strict=True)]
        else:
            rows[source] = [_dovecot_row(r, h, 1) for r, h in zip(parsed.records, parsed.hashes, strict=True)]
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)  # the same schema and indexes
    engine.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    sql = {s: f"INSERT OR IGNORE INTO {TABLES[s]} ({', '.join(COLUMNS[s])}) VALUES ({', '.join('?' * len(COLUMNS[s]))})"
           for s in SOURCES}
    started = time.perf_counter()
    pf = rows["postfix"]
    others = {s: rows[s] for s in SOURCES if s != "postfix"}
    steps = max(1, (len(pf) + BATCH - 1) // BATCH)
    for step in range(steps):
        conn.executemany(sql["postfix"], pf[step * BATCH:(step + 1) * BATCH])
        for source, lst in others.items():
            share = (len(lst) + steps - 1) // steps
            conn.executemany(sql[source], lst[step * share:(step + 1) * share])
        conn.commit()
    elapsed = time.perf_counter() - started
    conn.close()
    total = sum(len(v) for v in rows.values())
    return {"seconds": elapsed, "items_per_s": total / elapsed, "postfix_per_s": len(pf) / elapsed}


def write_syslog(items: list, path: Path) -> int:
    """The postfix items as a classic syslog file, as `mlv import-log` would read it."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for item in items:
            if not isinstance(item, dict):
                continue
            stamp = datetime.fromtimestamp(int(item["time"]), UTC)
            out.write(f"{stamp:%b} {stamp.day:2d} {stamp:%H:%M:%S} mail {item['program']}[{1000 + count % 900}]: "
                      f"{item['message']}\n")
            count += 1
    return count


def import_file(path: Path, workdir: Path) -> dict[str, float]:
    """`mlv import-log` in a child process that reports its own peak memory: VmHWM of /proc/self/status,
    which starts afresh with the program (ru_maxrss would keep this big process's peak when the child
    is forked, since Linux carries it across execve)."""
    env = {**os.environ, "DATA_DIR": str(workdir / "filedata"), "TZ": "UTC", "DATABASE_URL": ""}
    code = ("import sys\nfrom mlv.cli import main\nrc = main(['import-log', sys.argv[1]])\n"
            "hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
            "print('PEAK_KB', hwm.split()[1])\nsys.exit(rc)")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, str(path)], env=env, cwd=ROOT, capture_output=True,
                          text=True, check=True)
    elapsed = time.perf_counter() - started
    peak_kb = int(next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("PEAK_KB")))
    return {"seconds": elapsed, "peak_mb": peak_kb / 1024, "output": proc.stdout.strip()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mlv-bench-"))
    print(f"generating {args.lines:,} postfix lines (+ rspamd, netfilter, dovecot) ...", flush=True)
    items, gen_s = generate(args.lines)
    total = sum(len(v) for v in items.values())
    print(f"  {total:,} items in {gen_s:.1f} s ({total / gen_s:,.0f} items/s)")

    print("bare sqlite3 executemany baseline ...", flush=True)
    base = bare_baseline(items, work / "bare.db")
    print(f"  {base['items_per_s']:,.0f} items/s ({base['postfix_per_s']:,.0f} postfix lines/s)")

    print("pipeline on SQLite ...", flush=True)
    lite = run_pipeline(f"sqlite:///{work / 'mlv.db'}", items)
    # The machine may be shared: the baseline runs again after the pipeline and the faster one counts.
    again = bare_baseline(items, work / "bare2.db")
    if again["items_per_s"] > base["items_per_s"]:
        base = again
    print(f"  baseline again: {again['items_per_s']:,.0f} items/s")
    ratio = lite["lines_per_s"] / base["items_per_s"]
    print(f"  {lite['postfix_per_s']:,.0f} postfix lines/s, {lite['lines_per_s']:,.0f} lines/s (all sources), "
          f"{lite['messages_per_s']:,.0f} messages/s, {lite['messages']:,} messages, {lite['size_mb']:.0f} MB; "
          f"ratio to bare insert {ratio:.2f}")

    pg = None
    if not args.no_postgres:
        from tests.servers import PostgresServer

        print("pipeline on PostgreSQL ...", flush=True)
        server = PostgresServer.start()
        try:
            pg = run_pipeline(server.create_database("mlv_bench"), items)
        finally:
            server.stop()
        print(f"  {pg['postfix_per_s']:,.0f} postfix lines/s, {pg['lines_per_s']:,.0f} lines/s, "
              f"{pg['messages_per_s']:,.0f} messages/s, {pg['size_mb']:.0f} MB")

    print("mlv import-log of a syslog file ...", flush=True)
    log_path = work / "maillog"
    n = write_syslog(items["postfix"], log_path)
    imp = import_file(log_path, work)
    print(f"  {n:,} lines in {imp['seconds']:.1f} s ({n / imp['seconds']:,.0f} lines/s), "
          f"peak memory {imp['peak_mb']:.0f} MB")

    rows = [
        "| measurement | figure |",
        "|---|---|",
        f"| data | {args.lines:,} postfix lines + {total - args.lines:,} rspamd/netfilter/dovecot items, "
        f"{lite['messages']:,} messages |",
        f"| generator (emulator traffic, no HTTP) | {total / gen_s:,.0f} items/s |",
        f"| bare sqlite3 executemany of the same parsed rows, same tables and indexes | "
        f"{base['items_per_s']:,.0f} items/s ({base['postfix_per_s']:,.0f} postfix lines/s) |",
        f"| SQLite end to end (parse, store, correlate) | {lite['postfix_per_s']:,.0f} postfix lines/s; "
        f"{lite['lines_per_s']:,.0f} lines/s all sources; {lite['messages_per_s']:,.0f} messages/s |",
        f"| SQLite end to end ÷ bare insert, items/s (target ≥ 0.6) | {ratio:.2f} |",
        f"| SQLite database size | {lite['size_mb']:.0f} MB |",
    ]
    if pg:
        rows += [f"| PostgreSQL end to end | {pg['postfix_per_s']:,.0f} postfix lines/s; "
                 f"{pg['lines_per_s']:,.0f} lines/s all sources; {pg['messages_per_s']:,.0f} messages/s |",
                 f"| PostgreSQL database size | {pg['size_mb']:.0f} MB |"]
    rows += [f"| `mlv import-log`, {n:,}-line syslog file | {n / imp['seconds']:,.0f} lines/s, "
             f"peak memory {imp['peak_mb']:.0f} MB (target ≤ 1 GB) |", "", NOTE]
    write_section("Ingest", rows, machine=f"{platform.machine()}, {os.cpu_count()} cores, Python "
                  f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}")
    print("written to BENCHMARKS.md")


if __name__ == "__main__":
    main()

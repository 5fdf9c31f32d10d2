"""API latency benchmark: 1,000,000 messages (and their log lines), every list route end to end.

Data: the emulator's traffic generator at ~23 messages a minute over 30 simulated days ending now
(≈1M messages, ≈10M Postfix lines, ≈1M rspamd rows), imported on SQLite through the real
pipeline (parse, store, correlate; rollup and FTS triggers) in batches of ~20,000 Postfix lines.
PostgreSQL gets the very same rows copied from that SQLite file with COPY (triggers off, indexes
built after the load, rollups recomputed with migration 0002's backfill SQL, then ANALYZE) —
much faster than importing twice, and identical data.

Latency: httpx against the real ASGI app (register_routes + the auth guard, HTTP Basic on every
request) in this process: N requests per case after 2 warm-ups, p50/p95 in ms, warm caches.

    python bench/api.py [--messages 1000000] [--workdir DIR] [--reuse] [--no-postgres] [--runs 20] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api_cases import cases_for, measure  # noqa: E402
from bench.api_data import bring_up_to_date, copy_to_postgres, fill_sqlite  # noqa: E402
from bench.report import write_section  # noqa: E402


def run_backend(url: str, label: str, runs: int, only: str = "") -> list[dict]:
    from mlv.db import make_engine

    engine = make_engine(url)
    try:
        cases = [c for c in cases_for(engine) if only.lower() in f"{c[0]} {c[1]}".lower()]
        print(f"{label}: {len(cases)} cases x {runs} requests", flush=True)
        return asyncio.run(measure(engine, cases, runs=runs, label=label))
    finally:
        engine.dispose()


METHOD = ("Made by `bench/api_data.py`: the emulator's traffic generator at 23 messages a minute over 30 simulated "
          "days ending at the fill, imported into SQLite through the real pipeline (parse, store, correlate, rollup "
          "and FTS triggers) in batches of 30 simulated minutes (~20,000 Postfix lines); PostgreSQL holds the same "
          "rows, copied with COPY (indexes built after the load, rollups recomputed with migration 0002's backfill, "
          "VACUUM ANALYZE). A file reused from an earlier release is first migrated and its Postfix lines get "
          "the ASCII flag the import now sets (bench/api_data.bring_up_to_date). Requests: httpx against the real "
          "ASGI app with the auth guard, HTTP Basic on every request.")
PG_TUNING = {"shared_buffers": "'2GB'", "effective_cache_size": "'8GB'", "random_page_cost": "1.1",
             "work_mem": "'16MB'"}


def tune_postgres(url: str, server) -> None:  # type: ignore[no-untyped-def]
    """The settings of a production install on SSD (the test server's are PostgreSQL's small defaults)."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        for name, value in PG_TUNING.items():
            conn.execute(f"ALTER SYSTEM SET {name} = {value}")
    server.restart()


def table(results: dict[str, list[dict]]) -> list[str]:
    labels = list(results)
    head = "| route | case | page | " + " | ".join(f"{b} p50 / p95 ms" for b in labels) + " | target |"
    rows = [head, "|" + "---|" * (4 + len(labels))]
    first = results[labels[0]]
    for i, r in enumerate(first):
        cells = []
        for b in labels:
            x = results[b][i]
            mark = "" if x["p95"] <= r["target"] else " ⚠"
            cells.append(f"{x['p50']:.1f} / {x['p95']:.1f}{mark}")
        rows.append(f"| `{r['path']}` | {r['case']} | {r['page']} | " + " | ".join(cells) + f" | ≤ {r['target']} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--workdir", default="/tmp/mlv-bench-api")
    parser.add_argument("--reuse", action="store_true", help="keep an existing SQLite file")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--pg-url", default="", help="a PostgreSQL database already holding the copy (no new copy)")
    parser.add_argument("--only", default="", help="only the cases whose route or name contains this text; "
                        "their figures go to a section of their own")
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    db = work / "mlv.db"
    if not (args.reuse and db.exists()):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        fill = fill_sqlite(f"sqlite:///{db}", args.messages)
        print(f"filled: {fill}", flush=True)
    elif flagged := bring_up_to_date(f"sqlite:///{db}"):
        print(f"reused file brought up to date: {flagged:,} Postfix lines flagged", flush=True)
    results = {"SQLite": run_backend(f"sqlite:///{db}", "SQLite", args.runs, args.only)}
    data_rows = _data_rows(db)
    server = None
    if args.pg_url:
        results["PostgreSQL"] = run_backend(args.pg_url, "PostgreSQL", args.runs, args.only)
    elif not args.no_postgres:
        from tests.servers import PostgresServer

        server = PostgresServer.start()
        try:
            url = server.create_database("mlv_bench_api")
            tune_postgres(url, server)
            started = time.perf_counter()
            copy_to_postgres(f"sqlite:///{db}", url)
            print(f"copied to PostgreSQL in {time.perf_counter() - started:.0f} s", flush=True)
            results["PostgreSQL"] = run_backend(url, "PostgreSQL", args.runs, args.only)
        finally:
            server.stop()
    rows = [*data_rows, "", METHOD, "", *table(results), "",
            "Deep page: page 200 (offset 9,950) or the last page when there are fewer. ⚠ marks a p95 over target.",
            "PostgreSQL " + ", ".join(f"{k} = {v}" for k, v in PG_TUNING.items()) + " (production-like; the "
            "defaults' 128 MB of shared buffers would time the disk, not the queries). Warm caches: 2 warm-up "
            "requests per case.",
            "`total` of filtered lists is exact from rollups for direction/status/action/date filters, and counted "
            "up to MAX_SEARCH_RESULTS (1,000) otherwise."]
    title = "API latency (1M messages)" + (f", cases matching “{args.only}” measured again" if args.only else "")
    write_section(title, rows, machine=f"{platform.machine()}, {os.cpu_count()} cores, "
                  f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")
    for line in rows:
        print(line)


def _data_rows(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    counts = {t: conn.execute(f"SELECT MAX(id) FROM {t}").fetchone()[0] or 0
              for t in ("message", "delivery", "postfix_log", "rspamd_log", "netfilter_log", "dovecot_log")}
    conn.close()
    size = sum(Path(f"{db}{s}").stat().st_size for s in ("", "-wal") if Path(f"{db}{s}").exists()) / 1e9
    return [f"Data: {counts['message']:,} messages, {counts['delivery']:,} deliveries, "
            f"{counts['postfix_log']:,} Postfix lines, {counts['rspamd_log']:,} rspamd rows, "
            f"{counts['netfilter_log']:,} netfilter lines, {counts['dovecot_log']:,} Dovecot lines "
            f"(row ids: upper bounds); SQLite file {size:.1f} GB."]


if __name__ == "__main__":
    main()

"""Data for bench/api.py: generated traffic imported into SQLite, then copied to PostgreSQL."""

from __future__ import annotations

import importlib.util
import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from mlv.correlate.rules import LocalDomains
from mlv.db import make_engine, migrate
from mlv.ingest.fetcher import _store_objects
from mlv.ingest.pipeline import ingest_batch
from mlv.mailcow import objects as mailcow_objects
from mlv.mailcow.generator import TrafficGenerator
from mlv.mailcow.site import ALIAS_DOMAINS, DOMAINS

RATE = 23.0  # messages a minute: ~1M messages in 30 days
STEP = 1800  # simulated seconds per batch: ~20,000 Postfix lines
SOURCES = {"postfix": "postfix", "rspamd": "rspamd-history", "netfilter": "netfilter", "dovecot": "dovecot"}
TABLES = ["postfix_log", "rspamd_log", "netfilter_log", "dovecot_log", "message", "message_queue", "delivery",
          "mailcow_object", "ingest_state", "import_gap"]


def fill_sqlite(url: str, messages: int) -> dict:
    """Generate ~`messages` messages of traffic ending now and import them through the pipeline."""
    engine = make_engine(url)
    migrate(engine)
    minutes = messages / (RATE * 1.04)  # the generator makes ~4% more messages than its rate says
    start = time.time() - minutes * 60
    gen = TrafficGenerator(seed=42, start=start, rate=RATE, null_rate=0.0)
    domains = LocalDomains([*DOMAINS, *ALIAS_DOMAINS])
    now_ts = int(start + minutes * 60)
    with engine.begin() as conn:  # mailcow's objects, as the fetch job would store them
        objs = {"domain": [mailcow_objects.domain_object(d) for d in mailcow_objects.DOMAINS],
                "alias_domain": mailcow_objects.alias_domains(),
                "mailbox": mailcow_objects.mailboxes(now_ts, None, reduced=False),
                "alias": mailcow_objects.aliases(None)}
        _store_objects(conn, objs, 1)
    started, lines, batches = time.perf_counter(), 0, 0
    while gen.now < start + minutes * 60:
        gen.advance(STEP)
        drained = gen.drain()
        batch = {ours: drained.get(theirs, []) for ours, theirs in SOURCES.items()}
        lines += sum(len(v) for v in batch.values())
        with engine.begin() as conn:
            ingest_batch(conn, batch, domains=domains)
        batches += 1
        if batches % 100 == 0:
            rate = lines / (time.perf_counter() - started)
            print(f"  {batches} batches, {lines:,} lines, {rate:,.0f} lines/s", flush=True)
    gen._truth.clear()
    elapsed = time.perf_counter() - started
    with engine.connect() as conn:
        n = conn.execute(text("SELECT COUNT(*) FROM message")).scalar_one()
    engine.dispose()
    return {"messages": n, "lines": lines, "seconds": round(elapsed), "lines_per_s": round(lines / elapsed)}


def bring_up_to_date(url: str) -> int:
    """A file filled by an earlier release: the newest schema, and postfix_log.message_ascii set as the
    import sets it now (one UPDATE in place; rows keep their order). Returns the rows flagged."""
    engine = make_engine(url)
    migrate(engine)
    flagged = 0
    with engine.begin() as conn:
        top = conn.execute(text("SELECT MAX(id) FROM postfix_log WHERE message_ascii IS NULL")).scalar_one() or 0
        for lo in range(0, top, 500_000):
            flagged += conn.execute(text(
                "UPDATE postfix_log SET message_ascii = (length(CAST(message AS BLOB)) = length(message)) "
                "WHERE id > :lo AND id <= :hi AND message_ascii IS NULL"), {"lo": lo, "hi": lo + 500_000}).rowcount
    engine.dispose()
    return flagged


def _migration():  # type: ignore[no-untyped-def]
    path = Path(__file__).resolve().parent.parent / "mlv/migrations/versions/0002_api_search.py"
    spec = importlib.util.spec_from_file_location("mlv_migration_0002", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def copy_to_postgres(sqlite_url: str, pg_url: str) -> None:
    """The SQLite database's rows into a migrated PostgreSQL database (COPY; indexes after; rollups rebuilt)."""
    import psycopg

    engine = make_engine(pg_url)
    migrate(engine)
    engine.dispose()
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    src = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    with psycopg.connect(dsn) as pg:
        pg.execute("SET session_replication_role = replica")  # no triggers: rollups are rebuilt below
        pg.execute("SET maintenance_work_mem = '1GB'")
        indexes = pg.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND "
                             "indexname NOT IN (SELECT conname FROM pg_constraint)").fetchall()
        for name, _ in indexes:
            pg.execute(f'DROP INDEX "{name}"')
        for table in TABLES:
            _copy_table(src, pg, table)
            print(f"  copied {table}", flush=True)
        for _, definition in indexes:
            pg.execute(definition)
        mig = _migration()
        for table in mig.ROLLUP_TABLES:
            pg.execute(f"DELETE FROM {table}")
        for stmt in [*mig.BACKFILL, mig.SYMBOL_BACKFILL["postgresql"]]:
            pg.execute(stmt)
        pg.commit()
    src.close()
    with psycopg.connect(dsn, autocommit=True) as pg:
        pg.execute("VACUUM ANALYZE")


def _copy_table(src: sqlite3.Connection, pg, table: str) -> None:  # type: ignore[no-untyped-def]
    cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
    types = dict(pg.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s",
                            (table,)).fetchall())
    booleans = [i for i, c in enumerate(cols) if types.get(c) == "boolean"]
    quoted = ", ".join(f'"{c}"' for c in cols)
    cur = src.execute(f"SELECT {quoted} FROM {table}")
    with pg.cursor().copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
        while rows := cur.fetchmany(5000):
            for row in rows:
                if booleans:
                    row = list(row)
                    for i in booleans:
                        row[i] = None if row[i] is None else bool(row[i])
                copy.write_row(row)

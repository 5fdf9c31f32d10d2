"""One pipeline for every way log lines come in (mailcow fetch, syslog files, benchmarks):
parse -> store what is new -> correlate what was stored, in one transaction per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, text

from mlv.correlate.engine import Correlator
from mlv.correlate.rules import LocalDomains, direction
from mlv.ingest.records import RspamdRecord
from mlv.ingest.store import SOURCES, Parsed, ids_for_keys, parse_items, store_new, table_rows


@dataclass
class IngestResult:
    """What one batch did, per source."""

    received: dict[str, int] = field(default_factory=dict)
    stored: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    skip_reasons: dict[str, dict[str, int]] = field(default_factory=dict)
    messages_created: int = 0
    messages_updated: int = 0
    rspamd_joined: int = 0

    def add(self, other: IngestResult) -> None:
        for name in ("received", "stored", "skipped"):
            mine, theirs = getattr(self, name), getattr(other, name)
            for key, value in theirs.items():
                mine[key] = mine.get(key, 0) + value
        for source, reasons in other.skip_reasons.items():
            mine = self.skip_reasons.setdefault(source, {})
            for reason, count in reasons.items():
                mine[reason] = mine.get(reason, 0) + count
        self.messages_created += other.messages_created
        self.messages_updated += other.messages_updated
        self.rspamd_joined += other.rspamd_joined


def local_domains(conn: Connection, server_id: int, extra: Iterable[str] = ()) -> LocalDomains:
    """mailcow's domains and alias domains (as last fetched) plus LOCAL_DOMAINS."""
    rows = conn.execute(text("SELECT key FROM mailcow_object WHERE server_id = :s AND kind IN "
                             "('domain', 'alias_domain')"), {"s": server_id}).scalars().all()
    return LocalDomains([*rows, *extra])


def _blacklist_filter(blacklist: set[str]):  # type: ignore[no-untyped-def]
    if not blacklist:
        return None

    def drop(record: Any) -> bool:
        for attr in ("sender", "recipient", "orig_to", "sender_smtp", "sender_mime", "username", "user"):
            value = getattr(record, attr, None)
            if value and value.lower() in blacklist:
                return True
        rcpts = getattr(record, "rcpt_smtp", None)
        return bool(rcpts) and any(r.lower() in blacklist for r in rcpts)

    return drop


def lock_for_ingest(conn: Connection) -> None:
    """Serialise writers (the fetch job, `mlv import-log`, another process) for this transaction.

    The correlator numbers new rows itself, so two writers must never overlap.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(7307561)"))
    else:  # any write statement takes SQLite's write lock for the rest of the transaction
        conn.execute(text("UPDATE ingest_state SET updated_at = updated_at WHERE name = 'ingest-lock'"))


@dataclass
class Prepared:
    """A batch parsed and turned into table rows: everything that needs no database."""

    received: dict[str, int]
    parsed: dict[str, Parsed]
    rows: dict[str, list[tuple]]


def prepare_batch(items: Mapping[str, Sequence[Any]], *, server_id: int = 1, domains: LocalDomains,
                  blacklist: Iterable[str] = ()) -> Prepared:
    """Parse a batch (per source, OLDEST FIRST) and build its rows; pure, so it may run in another thread."""
    drop = _blacklist_filter({b.lower() for b in blacklist})

    def rspamd_direction(r: RspamdRecord) -> str:
        return direction(r.has_auth, r.rcpt_smtp, domains)

    out = Prepared({}, {}, {})
    for source in SOURCES:
        batch = items.get(source)
        if not batch:
            continue
        parsed = parse_items(source, batch, server_id=server_id, drop=drop)
        out.received[source] = len(batch)
        out.parsed[source] = parsed
        out.rows[source] = table_rows(parsed, server_id=server_id, direction_of=rspamd_direction)
    return out


def ingest_batch(conn: Connection, items: Mapping[str, Sequence[Any]] | None = None, *, server_id: int = 1,
                 domains: LocalDomains | None = None, blacklist: Iterable[str] = (),
                 prepared: Prepared | None = None) -> IngestResult:
    """Store and correlate items (per source, OLDEST FIRST) inside the caller's transaction.

    `prepared`: the batch already parsed by prepare_batch (with the same domains), instead of `items`."""
    lock_for_ingest(conn)
    result = IngestResult()
    domains = domains if domains is not None else local_domains(conn, server_id)
    if prepared is None:
        prepared = prepare_batch(items or {}, server_id=server_id, domains=domains, blacklist=blacklist)
    correlator = Correlator(conn, server_id=server_id, domains=domains)
    new_rspamd: list[tuple[int, RspamdRecord]] = []
    for source in SOURCES:
        parsed = prepared.parsed.get(source)
        if parsed is None:
            continue
        new_idx = store_new(conn, parsed, server_id=server_id, rows=prepared.rows[source])
        result.received[source] = prepared.received[source]
        result.stored[source] = len(new_idx)
        result.skipped[source] = parsed.skipped
        if parsed.skip_reasons:
            result.skip_reasons[source] = dict(parsed.skip_reasons)
        if source == "postfix" and new_idx:
            correlator.add_postfix([parsed.records[i] for i in new_idx])
        elif source == "rspamd" and new_idx:
            keys = [(parsed.records[i].time, parsed.hashes[i]) for i in new_idx]
            ids = ids_for_keys(conn, "rspamd", keys)
            new_rspamd = [(ids[k], parsed.records[i]) for k, i in zip(keys, new_idx, strict=True) if k in ids]
    correlator.add_rspamd(new_rspamd)
    stats = correlator.flush()
    result.messages_created = stats.messages_created
    result.messages_updated = stats.messages_updated
    result.rspamd_joined = stats.rspamd_joined
    return result


def ingest_stream(engine: Engine, batches: Iterable[Mapping[str, Sequence[Any]]], *, server_id: int = 1,
                  domains: LocalDomains, blacklist: Iterable[str] = (),
                  done: Callable[[IngestResult], None] | None = None) -> IngestResult:
    """Ingest many batches, each in its own transaction, parsing the next batch in a second thread
    while the current one is written: SQLite and PostgreSQL release the GIL while they work, so
    parsing and writing overlap on two cores. Batches must not split a second (see logfiles)."""
    total = IngestResult()
    blacklist = tuple(blacklist)

    def prepare(items: Mapping[str, Sequence[Any]]) -> Prepared:
        return prepare_batch(items, server_id=server_id, domains=domains, blacklist=blacklist)

    source: Iterator[Mapping[str, Sequence[Any]]] = iter(batches)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlv-parse") as pool:
        first = next(source, None)
        pending: Future[Prepared] | None = pool.submit(prepare, first) if first is not None else None
        while pending is not None:
            ready = pending.result()
            following = next(source, None)
            pending = pool.submit(prepare, following) if following is not None else None
            with engine.begin() as conn:
                result = ingest_batch(conn, server_id=server_id, domains=domains, prepared=ready)
            total.add(result)
            if done is not None:
                done(result)
    return total


def ingest(engine: Engine, items: Mapping[str, Sequence[Any]], **kwargs: Any) -> IngestResult:
    """ingest_batch in a transaction of its own."""
    with engine.begin() as conn:
        return ingest_batch(conn, items, **kwargs)

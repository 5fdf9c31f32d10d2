"""The mailcow fetch: lossless, idempotent import of the log ring buffers.

mailcow's logs are newest-first ring buffers with no cursor. Each run asks for the newest N
items; when they do not reach back past the watermark (the newest second already stored) it
asks again for more (x4 each time) up to the buffer's size, in single requests so that no
line shifts between pages. Lines of the oldest second of an answer are dropped unless the
whole buffer came back, since that second may be cut; they were stored by the run before. When
no run before reached them (the first run, or a gap) they are kept, cut or not: a later, longer
view of that second adds only the twins this one did not have (see mlv.ingest.store).
When even the whole buffer does not reach the watermark, lines were lost: a gap is recorded.
The watermark lives in the database, so a restart of mlv loses nothing either.
"""

from __future__ import annotations

import json
import logging
import time as _time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from mlv.db import database_reason
from mlv.ingest.pipeline import IngestResult, ingest_batch, local_domains
from mlv.mailcow.client import MailcowClient

log = logging.getLogger(__name__)

# Nominal buffer sizes (spec/mailcow-api.md §2.2) and how far we ask at most.
BUFFER_SIZE = {"postfix": 10000, "rspamd": 1000, "netfilter": 10000, "dovecot": 10000}
MAX_ASK = {"postfix": 20000, "rspamd": 1000, "netfilter": 20000, "dovecot": 20000}
OBJECTS = {"domain": "domain/all", "alias_domain": "alias-domain/all", "mailbox": "mailbox/all",
           "alias": "alias/all"}
OBJECT_KEYS = {"domain": "domain_name", "alias_domain": "alias_domain", "mailbox": "username", "alias": "address"}


def item_time(source: str, item: Any) -> int | None:
    """The unix time of a raw item, or None when it has none (null items, garbage)."""
    if not isinstance(item, dict):
        return None
    value = item.get("unix_time" if source == "rspamd" else "time")
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


@dataclass
class SourceFetch:
    source: str
    items: list[Any] = field(default_factory=list)  # oldest first, ready to ingest
    asked: int = 0
    received: int = 0
    newest: int | None = None
    gap: dict | None = None


def get_state(conn: Connection, server_id: int, name: str) -> dict:
    row = conn.execute(text("SELECT value FROM ingest_state WHERE server_id = :s AND name = :n"),
                       {"s": server_id, "n": name}).scalar_one_or_none()
    return json.loads(row) if row else {}


def set_state(conn: Connection, server_id: int, name: str, value: dict) -> None:
    params = {"s": server_id, "n": name, "v": json.dumps(value), "t": int(_time.time())}
    updated = conn.execute(text("UPDATE ingest_state SET value = :v, updated_at = :t "
                                "WHERE server_id = :s AND name = :n"), params).rowcount
    if not updated:
        conn.execute(text("INSERT INTO ingest_state (server_id, name, value, updated_at) VALUES (:s, :n, :v, :t)"),
                     params)


def fetch_source(client: MailcowClient, source: str, count: int, watermark: int | None) -> SourceFetch:
    """Ask mailcow for enough of one log to reach back past `watermark` (network only)."""
    out = SourceFetch(source)
    # The first run takes the whole buffer: history a newcomer can look at straight away.
    ask = MAX_ASK[source] if watermark is None else min(max(count, 1), MAX_ASK[source])
    while True:
        items = client.logs(source, ask)
        out.asked = ask
        times = [t for t in (item_time(source, i) for i in items) if t is not None]
        whole = len(items) < ask
        reached = watermark is None or (bool(times) and min(times) < watermark)
        if reached or whole or ask >= MAX_ASK[source]:
            break
        ask = min(ask * 4, MAX_ASK[source])
    out.received = len(items)
    if not times:
        return out
    oldest, out.newest = min(times), max(times)
    wrapped = len(items) >= BUFFER_SIZE[source]
    if watermark is not None and not reached:
        out.gap = {"last_known": watermark, "oldest_available": oldest,
                   "note": ("mailcow's buffer wrapped before it was read: lines were lost" if wrapped else
                            "mailcow's log buffer was emptied (restart?): lines written before that are missing")}
    keep_oldest_second = (whole and not wrapped) or oldest == out.newest or watermark is None or not reached
    chosen = []
    newer_time = out.newest  # time of the nearest readable item above, walking newest first
    for item in items:
        t = item_time(source, item)
        if t is None:
            # An unreadable item: counted once, while it is still above what was stored before.
            if watermark is None or newer_time > watermark:
                chosen.append(item)
            continue
        newer_time = t
        if keep_oldest_second or t > oldest:
            chosen.append(item)
    chosen.reverse()
    out.items = chosen
    return out


class FetchDatabaseError(RuntimeError):
    """The database could not be read or written during a fetch run (the run's transaction is rolled back)."""


@dataclass
class FetchReport:
    result: IngestResult
    sources: dict[str, dict]
    gaps: list[dict]

    def gap_text(self) -> str:
        """The gaps on one readable line ("" when none): which log, between which times, why."""
        def stamp(t: int) -> str:
            return _time.strftime("%Y-%m-%d %H:%M:%S UTC", _time.gmtime(t))
        return "; ".join(f"{g['source']}: lines between {stamp(g['last_known'])} and {stamp(g['oldest_available'])} "
                         f"are missing ({g['note']})" for g in self.gaps)


def run_fetch(engine: Engine, client: MailcowClient, *, server_id: int = 1, counts: dict[str, int],
              extra_domains: list[str] | tuple[str, ...] = (), blacklist: list[str] | tuple[str, ...] = (),
              objects_every: int = 300) -> FetchReport:
    """One fetch run over every source; all of it lands in one transaction (or none of it does).

    mailcow failures raise MailcowError, database failures FetchDatabaseError: both one readable line.
    """
    try:
        return _run_fetch(engine, client, server_id=server_id, counts=counts, extra_domains=extra_domains,
                          blacklist=blacklist, objects_every=objects_every)
    except Exception as exc:
        # the bulk inserts run on the driver's cursor: its errors arrive unwrapped
        if isinstance(exc, SQLAlchemyError | _driver_error(engine)):
            raise FetchDatabaseError(database_reason(exc)) from exc
        raise


def _driver_error(engine: Engine) -> type[BaseException]:
    dbapi = getattr(engine.dialect, "loaded_dbapi", None) or getattr(engine.dialect, "dbapi", None)
    error = getattr(dbapi, "Error", None)
    return error if isinstance(error, type) and issubclass(error, BaseException) else SQLAlchemyError


def _run_fetch(engine: Engine, client: MailcowClient, *, server_id: int, counts: dict[str, int],
               extra_domains: list[str] | tuple[str, ...], blacklist: list[str] | tuple[str, ...],
               objects_every: int) -> FetchReport:
    with engine.connect() as conn:
        marks = {s: get_state(conn, server_id, f"fetch:{s}").get("newest") for s in counts}
        objects_at = get_state(conn, server_id, "objects").get("fetched_at", 0)
    refresh = _time.time() - objects_at >= objects_every
    fetched = {s: fetch_source(client, s, counts[s], marks[s]) for s in counts}
    objects = None
    if refresh:
        # Read before the transaction: network time must not hold the database lock.
        objects = {kind: client.objects(path) for kind, path in OBJECTS.items()}
    with engine.begin() as conn:
        if objects is not None:
            _store_objects(conn, objects, server_id)
            set_state(conn, server_id, "objects", {"fetched_at": int(_time.time())})
        domains = local_domains(conn, server_id, extra_domains)
        result = ingest_batch(conn, {s: f.items for s, f in fetched.items()}, server_id=server_id,
                              domains=domains, blacklist=blacklist)
        gaps = []
        now = int(_time.time())
        for source, f in fetched.items():
            state = get_state(conn, server_id, f"fetch:{source}")
            if f.newest is not None and (state.get("newest") is None or f.newest >= state["newest"]):
                state["newest"] = f.newest
            # Items of this answer that could not be read, and why (GET /api/settings/info shows them).
            state.update(last_fetch=now, asked=f.asked, received=f.received,
                         skipped=result.skipped.get(source, 0), skip_reasons=result.skip_reasons.get(source, {}))
            if f.items:
                state["last_import"] = now
            set_state(conn, server_id, f"fetch:{source}", state)
            if f.gap:
                gaps.append({"source": source, **f.gap})
                conn.execute(text("INSERT INTO import_gap (server_id, source, detected_at, newest_missing_before, "
                                  "last_known, note) VALUES (:s, :src, :d, :o, :l, :n)"),
                             {"s": server_id, "src": source, "d": now, "o": f.gap["oldest_available"],
                              "l": f.gap["last_known"], "n": f.gap["note"]})
    summary = {s: {"asked": f.asked, "received": f.received, "kept": len(f.items)} for s, f in fetched.items()}
    return FetchReport(result=result, sources=summary, gaps=gaps)


def _store_objects(conn: Connection, objects: dict[str, list[dict]], server_id: int) -> None:
    now = int(_time.time())
    for kind, objs in objects.items():
        conn.execute(text("DELETE FROM mailcow_object WHERE server_id = :s AND kind = :k"),
                     {"s": server_id, "k": kind})
        rows = {}
        for obj in objs:
            key = obj.get(OBJECT_KEYS[kind])
            if not key:
                continue
            active = obj.get("active_int", obj.get("active", 1))
            rows[str(key).lower()[:255]] = {"s": server_id, "k": kind, "key": str(key).lower()[:255],
                                            "a": str(active) in ("1", "True", "true"),
                                            "d": json.dumps(obj, ensure_ascii=False), "t": now}
        if rows:
            conn.execute(text("INSERT INTO mailcow_object (server_id, kind, key, active, data, fetched_at) "
                              "VALUES (:s, :k, :key, :a, :d, :t)"), list(rows.values()))

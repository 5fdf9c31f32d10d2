"""Storing parsed log items: line keys, insert-new-only in batches, per source.

The unique key of a raw line is (time, line_hash). line_hash hashes the server id, the whole
raw item and the item's position among identical items of the same second (counted oldest
first), so two legitimate identical lines in one second are both kept, while fetching the
same window again stores nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any

from sqlalchemy import Connection, text

from mlv.ingest.dovecot import parse_dovecot
from mlv.ingest.netfilter import parse_netfilter
from mlv.ingest.postfix import parse_postfix
from mlv.ingest.records import DovecotRecord, NetfilterRecord, ParseError, PostfixRecord, RspamdRecord
from mlv.ingest.rspamd import parse_rspamd

SOURCES = ("postfix", "rspamd", "netfilter", "dovecot")


def _canonical(source: str, item: dict) -> str:
    if source in ("postfix", "dovecot"):
        return f"{item.get('time')}\x1f{item.get('priority')}\x1f{item.get('program')}\x1f{item.get('message')}"
    if source == "netfilter":
        return f"{item.get('time')}\x1f{item.get('priority')}\x1f{item.get('message')}"
    # rspamd rows: the fields that tell two scans apart (key order in rows is not stable, and
    # dumping whole rows with sorted keys costs more than parsing them).
    get = item.get
    symbols = get("symbols")
    names = ",".join(sorted(symbols)) if isinstance(symbols, dict) else ""
    return (f"{get('unix_time')}\x1f{get('message-id')}\x1f{get('time_real')}\x1f{get('score')}\x1f{get('action')}"
            f"\x1f{get('ip')}\x1f{get('user')}\x1f{get('sender_smtp')}\x1f{get('rcpt_smtp')}\x1f{get('size')}"
            f"\x1f{get('subject')}\x1f{names}")


def line_hash(server_id: int, source: str, canonical: str, occurrence: int) -> int:
    """A signed 64-bit hash (fits BIGINT) of one raw item and its position among its twins."""
    digest = blake2b(f"{server_id}\x1e{canonical}\x1e{occurrence}".encode("utf-8", "surrogatepass"),
                     digest_size=8, person=source.encode()[:16]).digest()
    return int.from_bytes(digest, "big", signed=True)


PARSERS: dict[str, Callable[[Any], Any]] = {
    "postfix": parse_postfix,
    "rspamd": parse_rspamd,
    "netfilter": parse_netfilter,
    "dovecot": parse_dovecot,
}


@dataclass
class Parsed:
    """Items of one source turned into records with their keys, oldest first."""

    source: str
    records: list[Any] = field(default_factory=list)
    hashes: list[int] = field(default_factory=list)
    skipped: int = 0
    skip_reasons: dict[str, int] = field(default_factory=dict)


def parse_items(source: str, items: Iterable[Any], *, server_id: int = 1,
                drop: Callable[[Any], bool] | None = None) -> Parsed:
    """Parse raw items given OLDEST FIRST; malformed ones are skipped and counted, never raised."""
    parse = PARSERS[source]
    out = Parsed(source)
    # The canonical form holds the item's time, so twins are counted per second even when a
    # batch is not in time order (a line out of place must not hide its twin).
    twins: dict[str, int] = {}
    for item in items:
        try:
            record = parse(item)
        except ParseError as exc:
            out.skipped += 1
            reason = str(exc)[:80] or "malformed item"
            out.skip_reasons[reason] = out.skip_reasons.get(reason, 0) + 1
            continue
        canonical = _canonical(source, item)
        occurrence = twins.get(canonical, 0)
        twins[canonical] = occurrence + 1
        if drop is not None and drop(record):
            continue
        out.records.append(record)
        out.hashes.append(line_hash(server_id, source, canonical, occurrence))
    return out


def _cut(value: str | None, size: int) -> str | None:
    return value if value is None or len(value) <= size else value[:size]


def _postfix_row(r: PostfixRecord, h: int, server_id: int) -> tuple:
    return (server_id, r.time, h, _cut(r.priority, 16), _cut(r.program, 64), r.message, r.message.isascii(),
            _cut(r.kind, 16), _cut(r.queue_id, 24), r.message_id, r.sender, r.recipient, r.orig_to,
            _cut(r.status, 16), r.relay, r.delay, _cut(r.delays, 64), _cut(r.dsn, 16), r.client_host,
            _cut(r.client_ip, 64), r.sasl_user)


def _rspamd_row(r: RspamdRecord, h: int, server_id: int, direction: str | None) -> tuple:
    return (server_id, r.time, h, r.message_id, r.score, r.required_score, _cut(r.action, 32), r.is_spam,
            r.has_auth, direction, _cut(r.ip, 64), r.user, r.sender_smtp, r.sender_mime,
            json.dumps(r.rcpt_smtp, ensure_ascii=False), json.dumps(r.rcpt_mime, ensure_ascii=False), r.subject,
            r.size, json.dumps(r.symbols, ensure_ascii=False, default=str))


def _netfilter_row(r: NetfilterRecord, h: int, server_id: int) -> tuple:
    return (server_id, r.time, h, _cut(r.priority, 16), r.message, _cut(r.action, 16), _cut(r.ip, 64),
            _cut(r.network, 64), r.rule_id, r.attempts_left, r.username, _cut(r.auth_method, 32))


def _dovecot_row(r: DovecotRecord, h: int, server_id: int) -> tuple:
    return (server_id, r.time, h, _cut(r.priority, 16), _cut(r.program, 64), r.message, _cut(r.kind, 16), r.user,
            r.message_id, r.mailbox, r.target, _cut(r.ip, 64))


COLUMNS = {
    "postfix": ("server_id", "time", "line_hash", "priority", "program", "message", "message_ascii", "kind",
                "queue_id", "message_id", "sender", "recipient", "orig_to", "status", "relay", "delay", "delays", "dsn",
                "client_host", "client_ip", "sasl_user"),
    "rspamd": ("server_id", "time", "line_hash", "message_id", "score", "required_score", "action", "is_spam",
               "has_auth", "direction", "ip", "user", "sender_smtp", "sender_mime", "rcpt_smtp", "rcpt_mime",
               "subject", "size", "symbols"),
    "netfilter": ("server_id", "time", "line_hash", "priority", "message", "action", "ip", "network", "rule_id",
                  "attempts_left", "username", "auth_method"),
    "dovecot": ("server_id", "time", "line_hash", "priority", "program", "message", "kind", "user", "message_id",
                "mailbox", "target", "ip"),
}
TABLES = {"postfix": "postfix_log", "rspamd": "rspamd_log", "netfilter": "netfilter_log", "dovecot": "dovecot_log"}


def insert_sql(conn: Connection, table: str, columns: Sequence[str], *, ignore_conflicts: bool = True) -> str:
    """An INSERT with positional driver parameters, skipping rows whose unique key exists."""
    marker = "?" if conn.dialect.name == "sqlite" else "%s"
    cols = ", ".join(f'"{c}"' for c in columns)
    values = ", ".join([marker] * len(columns))
    if not ignore_conflicts:
        return f"INSERT INTO {table} ({cols}) VALUES ({values})"
    if conn.dialect.name == "sqlite":
        return f"INSERT OR IGNORE INTO {table} ({cols}) VALUES ({values})"
    return f"INSERT INTO {table} ({cols}) VALUES ({values}) ON CONFLICT DO NOTHING"


def executemany(conn: Connection, sql: str, rows: Sequence[tuple]) -> None:
    """Run `sql` for every row straight on the driver cursor (no per-row ORM work)."""
    if not rows:
        return
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


def existing_keys(conn: Connection, source: str, times: Sequence[int]) -> set[tuple[int, int]]:
    """The (time, line_hash) keys already stored in the time span of a batch."""
    if not times:
        return set()
    rows = conn.execute(
        text(f"SELECT time, line_hash FROM {TABLES[source]} WHERE time >= :lo AND time <= :hi"),
        {"lo": min(times), "hi": max(times)},
    )
    return {(t, h) for t, h in rows}


def table_rows(parsed: Parsed, *, server_id: int = 1,
               direction_of: Callable[[RspamdRecord], str | None] | None = None,
               only: Sequence[int] | None = None) -> list[tuple]:
    """The table rows of parsed records (all of them, or those at the indexes `only`)."""
    recs, hashes = parsed.records, parsed.hashes
    idx: Iterable[int] = range(len(recs)) if only is None else only
    source = parsed.source
    if source == "postfix":
        return [_postfix_row(recs[i], hashes[i], server_id) for i in idx]
    if source == "rspamd":
        return [_rspamd_row(recs[i], hashes[i], server_id, direction_of(recs[i]) if direction_of else None)
                for i in idx]
    if source == "netfilter":
        return [_netfilter_row(recs[i], hashes[i], server_id) for i in idx]
    return [_dovecot_row(recs[i], hashes[i], server_id) for i in idx]


def store_new(conn: Connection, parsed: Parsed, *, server_id: int = 1,
              direction_of: Callable[[RspamdRecord], str | None] | None = None,
              rows: Sequence[tuple] | None = None) -> list[int]:
    """Insert the records not stored yet; returns the indexes (into parsed.records) that were new.

    `rows`: the rows of every record, built beforehand (table_rows), e.g. in a parsing thread."""
    times = [r.time for r in parsed.records]
    have = existing_keys(conn, parsed.source, times)
    new_idx = [i for i, (t, h) in enumerate(zip(times, parsed.hashes, strict=True)) if (t, h) not in have]
    if rows is None:
        new_rows = table_rows(parsed, server_id=server_id, direction_of=direction_of, only=new_idx)
    else:
        new_rows = list(rows) if len(new_idx) == len(rows) else [rows[i] for i in new_idx]
    executemany(conn, insert_sql(conn, TABLES[parsed.source], COLUMNS[parsed.source]), new_rows)
    return new_idx


def ids_for_keys(conn: Connection, source: str, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """Row ids of stored lines by (time, line_hash)."""
    if not keys:
        return {}
    times = [k[0] for k in keys]
    wanted = set(keys)
    rows = conn.execute(
        text(f"SELECT time, line_hash, id FROM {TABLES[source]} WHERE time >= :lo AND time <= :hi"),
        {"lo": min(times), "hi": max(times)},
    )
    return {(t, h): i for t, h, i in rows if (t, h) in wanted}


def rspamd_record_from_row(row: Any) -> RspamdRecord:
    """An RspamdRecord rebuilt from a stored rspamd_log row."""
    return RspamdRecord(
        time=row["time"], message_id=row["message_id"], score=row["score"], required_score=row["required_score"],
        action=row["action"], is_spam=bool(row["is_spam"]), has_auth=bool(row["has_auth"]),
        symbols=json.loads(row["symbols"] or "{}"), ip=row["ip"], user=row["user"], sender_smtp=row["sender_smtp"],
        sender_mime=row["sender_mime"], rcpt_smtp=json.loads(row["rcpt_smtp"] or "[]"),
        rcpt_mime=json.loads(row["rcpt_mime"] or "[]"), subject=row["subject"], size=row["size"],
    )

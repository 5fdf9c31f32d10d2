"""CSV exports: streamed row by row from a database cursor (constant memory), at most
CSV_EXPORT_LIMIT rows, with text cells a spreadsheet would run as a formula neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Engine, text

from mlv.queries.common import bracketed, iso, loads
from mlv.queries.logs import export_queries
from mlv.queries.messages import MessageFilter, export_query

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

HEADERS = {
    "postfix": ["Time", "Program", "Priority", "Queue ID", "Message ID", "Sender", "Recipient", "Status", "Relay",
                "Delay", "DSN", "Message"],
    "rspamd": ["Time", "Message ID", "Subject", "Sender", "Recipients", "Score", "Required Score", "Action",
               "Direction", "Is Spam", "Has Auth", "User", "IP", "Size", "Top Symbols"],
    "netfilter": ["Time", "IP", "Username", "Auth Method", "Action", "Attempts Left", "Rule ID", "Priority",
                  "Message"],
    "messages": ["Time", "Sender", "Recipient", "Subject", "Direction", "Status", "Queue ID", "Message ID",
                 "Spam Score", "Is Spam", "User", "IP", "Is Complete"],
}


def neutralise(value: Any) -> Any:
    """A text cell starting like a formula gets a leading apostrophe; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _top_symbols(symbols: str | None, n: int = 5) -> str:
    data = loads(symbols, {})
    if not isinstance(data, dict):
        return ""
    scored = sorted(((k, (v or {}).get("score", 0) if isinstance(v, dict) else 0) for k, v in data.items()),
                    key=lambda kv: -abs(float(kv[1] or 0)))
    return ", ".join(f"{k}({float(s or 0):g})" for k, s in scored[:n])


def _yes(value: Any) -> str:
    return "yes" if value else "no"


ROWS: dict[str, Callable[[Any], list[Any]]] = {
    "postfix": lambda r: [iso(r["time"]), r["program"], r["priority"], r["queue_id"], bracketed(r["message_id"]),
                          r["sender"], r["recipient"], r["status"], r["relay"], r["delay"], r["dsn"], r["message"]],
    "rspamd": lambda r: [iso(r["time"]), bracketed(r["message_id"]), r["subject"], r["sender_smtp"],
                         ", ".join(loads(r["rcpt_smtp"], [])), r["score"], r["required_score"], r["action"],
                         r["direction"], _yes(r["is_spam"]), _yes(r["has_auth"]), r["user"], r["ip"], r["size"],
                         _top_symbols(r["symbols"])],
    "netfilter": lambda r: [iso(r["time"]), r["ip"], r["username"], r["auth_method"], r["action"],
                            r["attempts_left"], r["rule_id"], r["priority"], r["message"]],
    "messages": lambda r: [iso(r["first_seen"]), r["sender"], ", ".join((r["recipients"] or "").split()),
                           r["subject"], r["direction"], r["final_status"], r["queue_id"], bracketed(r["message_id"]),
                           r["spam_score"], _yes(r["is_spam"]), r["user"], r["ip"], _yes(r["is_complete"])],
}


def stream_csv(*, engine: Engine, kind: str, filters: Any, limit: int, cap: int = 1000,
               chunk_rows: int = 500) -> Iterator[bytes]:
    """The CSV file of one export as a stream of byte chunks (the header first)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(HEADERS[kind])
    to_row = ROWS[kind]
    with engine.connect() as conn:
        if kind == "messages":
            sql, params = export_query(conn, filters if filters is not None else MessageFilter(), limit=limit,
                                       cap=cap)
        else:
            sql, params = export_queries(conn, kind, filters, limit=limit, cap=cap)
        result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(text(sql), params)
        for partition in result.mappings().partitions(chunk_rows):
            for row in partition:
                writer.writerow([neutralise(v) for v in to_row(row)])
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    tail = buf.getvalue()
    if tail:
        yield tail.encode("utf-8")

"""Paginated, filtered lists over a big table: the plan every list route and CSV export shares.

A list is newest first (time, then id). Filters are SQL conditions with bound parameters. The
total comes from a rollup when every filter is one the rollup counts by (exact, a few hundred
rows read whatever the table size); otherwise the first `cap` (MAX_SEARCH_RESULTS) ids are read,
newest first, which gives both the total — reported as capped when it reaches the cap — and the
pages within it in one walk. Deep pages past the middle of an exactly counted list are read from
the other end; pages past the cap of a capped list are read with OFFSET (slower, see BENCHMARKS).

Free-text search on SQLite goes through the table's FTS5 trigram index: when it matches fewer
rows than the cap those rows are sorted by time; when it matches more (a common word) the
newest matches are streamed straight out of the index in row-id order, which is import order
and follows time within seconds. A search combined with other filters is checked row by row on
the rows the other filters select. On PostgreSQL the pg_trgm index and the planner do this.
A filter through another table with many matches (a busy recipient) is a Walk: that table's
index is walked in row-id order the same way, on both databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from mlv.queries import search
from mlv.queries.common import DOCS

DEEP_OFFSET = 1000  # pages skipping this many rows or more get the plan's pg_deep settings too

@dataclass(frozen=True)
class Rollup:
    table: str
    counter: str
    bucket: int = 3600


@dataclass(frozen=True)
class Source:
    table: str
    alias: str
    time_col: str
    rollup: Rollup | None = None

    @property
    def order(self) -> str:
        return f"{self.alias}.{self.time_col} DESC, {self.alias}.id DESC"

    def doc(self) -> str:
        return DOCS[self.table].format(p=f"{self.alias}.")


@dataclass
class Cond:
    """A filter on the base table, and the same filter on the rollup (None: the rollup can't count it)."""

    sql: str
    rollup: str | None = None


@dataclass(frozen=True)
class Walk:
    """Rows reached through another table's index, newest row id first (e.g. a recipient's deliveries)."""

    table: str  # "delivery d"
    key: str  # "d.message_ref": the base table's id
    where: str  # "d.recipient = :rcpt"


@dataclass
class Query:
    """Filters of one list request."""

    conds: list[Cond] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    start: int | None = None
    end: int | None = None
    search: str | None = None
    walk: Walk | None = None


@dataclass
class Plan:
    where: list[str]
    params: dict[str, Any]
    stream: str | None = None  # "FROM ... WHERE first-term" read in row-id order, or None
    order: str = ""  # the stream's order
    known_capped: bool = False  # the stream's matches already reach the cap
    pg_settings: dict[str, str] = field(default_factory=dict)  # planner settings (search on PostgreSQL)
    pg_deep: dict[str, str] = field(default_factory=dict)  # ... added for pages that skip DEEP_OFFSET rows or more


@dataclass
class Listing:
    ids: list[int]
    total: int
    capped: bool


def _time_conds(src: Source, q: Query) -> list[str]:
    out = []
    if q.start is not None:
        out.append(f"{src.alias}.{src.time_col} >= :_start")
    if q.end is not None:
        out.append(f"{src.alias}.{src.time_col} <= :_end")
    return out


def _params(q: Query) -> dict[str, Any]:
    return {**q.params, "_start": q.start, "_end": q.end}


def plan(conn: Connection, src: Source, q: Query, cap: int) -> Plan:
    """How to read q: where terms and params, and whether rows are streamed in row-id order."""
    base = Plan([c.sql for c in q.conds] + _time_conds(src, q), _params(q))
    if q.walk is not None:  # SQLite: CROSS JOIN keeps the walked table outermost
        a = src.alias
        join = "CROSS JOIN" if conn.dialect.name == "sqlite" else "JOIN"
        base.stream = f"{q.walk.table} {join} {src.table} {a} ON {a}.id = {q.walk.key} WHERE {q.walk.where}"
        base.order = f"{q.walk.key} DESC"
    term = (q.search or "").strip()
    if not term:
        return base
    if conn.dialect.name == "postgresql":
        return search.postgres(conn, src, base, term)
    return search.sqlite(conn, src, q, base, term, cap)


@contextmanager
def _settings(conn: Connection, pl: Plan, offset: int = 0) -> Iterator[None]:
    """PostgreSQL planner settings of a plan (for a page at `offset`), for the statements inside only."""
    settings = {**pl.pg_settings, **(pl.pg_deep if offset >= DEEP_OFFSET else {})}
    if not settings:
        yield
        return
    before = set_local(conn, settings)
    try:
        yield
    finally:
        set_local(conn, before)


def set_local(conn: Connection, settings: dict[str, str]) -> dict[str, str]:
    """SET LOCAL of several settings in one round trip; returns the values they had (read first:
    OFFSET 0 keeps the inner SELECT a step of its own)."""
    names = list(settings)
    params = {**{f"n{i}": n for i, n in enumerate(names)}, **{f"v{i}": settings[n] for i, n in enumerate(names)}}
    old = ", ".join(f"current_setting(:n{i}) AS o{i}" for i in range(len(names)))
    new = ", ".join(f"set_config(:n{i}, :v{i}, true)" for i in range(len(names)))
    row = conn.execute(text(f"SELECT o.*, {new} FROM (SELECT {old} OFFSET 0) o"), params).one()
    return dict(zip(names, row[:len(names)], strict=True))


def rollup_total(conn: Connection, src: Source, q: Query) -> int:
    """Exact count from the rollup: whole buckets there, the partial buckets at the edges from the table."""
    r = src.rollup
    assert r is not None
    b = r.bucket
    lo, hi = q.start, q.end
    full_lo = None if lo is None else -(-lo // b) * b
    full_hi = None if hi is None else ((hi + 1) // b) * b  # exclusive
    base_where = [c.sql for c in q.conds]
    params = dict(q.params)

    def base(a: int | None, z: int | None) -> int:
        terms = list(base_where)
        if a is not None:
            terms.append(f"{src.alias}.{src.time_col} >= :_a")
        if z is not None:
            terms.append(f"{src.alias}.{src.time_col} <= :_z")
        sql = f"SELECT COUNT(*) FROM {src.table} {src.alias}" + (f" WHERE {' AND '.join(terms)}" if terms else "")
        return conn.execute(text(sql), {**params, "_a": a, "_z": z}).scalar_one()

    if full_lo is not None and full_hi is not None and full_lo >= full_hi:
        return base(lo, hi)
    terms = [c.rollup for c in q.conds if c.rollup]
    bucket_col = "day" if b == 86400 else "hour"
    if full_lo is not None:
        terms.append(f"{bucket_col} >= :_flo")
    if full_hi is not None:
        terms.append(f"{bucket_col} < :_fhi")
    sql = f"SELECT COALESCE(SUM({r.counter}), 0) FROM {r.table}" + (f" WHERE {' AND '.join(terms)}" if terms else "")
    total = int(conn.execute(text(sql), {**params, "_flo": full_lo, "_fhi": full_hi}).scalar_one())
    if lo is not None and full_lo is not None and lo < full_lo:
        total += base(lo, full_lo - 1)
    if hi is not None and full_hi is not None and full_hi <= hi:
        total += base(full_hi, hi)
    return total


def _from(src: Source, pl: Plan) -> str:
    """FROM ... WHERE ... of a plan (the stream's, or the table's)."""
    if pl.stream:
        return pl.stream + "".join(f" AND {w}" for w in pl.where)
    return f"{src.table} {src.alias}" + (f" WHERE {' AND '.join(pl.where)}" if pl.where else "")


def _exact(src: Source, q: Query) -> bool:
    """Every filter is one the rollup counts by."""
    return (src.rollup is not None and q.walk is None and not (q.search or "").strip()
            and all(c.rollup for c in q.conds))


def count(conn: Connection, src: Source, q: Query, cap: int, pl: Plan | None = None) -> tuple[int, bool]:
    """(total, capped) for the filters of q."""
    if _exact(src, q):
        return rollup_total(conn, src, q), False
    pl = pl or plan(conn, src, q, cap)
    if pl.known_capped:
        return cap, True
    # Newest first, as the pages read them: the same rows (and, on PostgreSQL, the same cached pages).
    order = f" ORDER BY {pl.order or src.order}" if conn.dialect.name == "postgresql" else ""
    sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {_from(src, pl)}{order} LIMIT :_cap) t"
    with _settings(conn, pl):
        found = conn.execute(text(sql), {**pl.params, "_cap": cap}).scalar_one()
    return found, found >= cap


def _ids(conn: Connection, src: Source, pl: Plan, order: str, limit: int, offset: int) -> list[int]:
    sql = f"SELECT {src.alias}.id FROM {_from(src, pl)} ORDER BY {order} LIMIT :_lim OFFSET :_off"
    with _settings(conn, pl, offset):
        return list(conn.execute(text(sql), {**pl.params, "_lim": limit, "_off": offset}).scalars().all())


def list_ids(conn: Connection, src: Source, q: Query, *, offset: int, limit: int, cap: int) -> Listing:
    """The ids of one page (newest first) and the total."""
    pl = plan(conn, src, q, cap)
    order = pl.order or src.order
    if not _exact(src, q):
        if pl.known_capped:
            return Listing(_ids(conn, src, pl, order, limit, offset), cap, True)
        if offset >= cap:  # past the cap: rows there mean the count stops at the cap
            ids = _ids(conn, src, pl, order, limit, offset)
            if ids:
                return Listing(ids, cap, True)
        # Counted up to the cap by reading the first `cap` ids: one walk gives the total and the page.
        first = _ids(conn, src, pl, order, cap, 0)
        capped = len(first) >= cap
        if offset + limit <= len(first) or not capped:
            return Listing(first[offset:offset + limit], len(first), capped)
        return Listing(_ids(conn, src, pl, order, limit, offset), len(first), capped)
    total = rollup_total(conn, src, q)
    if offset >= total:
        return Listing([], total, False)
    lim, off, reverse = limit, offset, False
    if offset > total // 2 and not pl.stream:
        # Deep page: count from the oldest end instead of skipping most of the table.
        order = order.replace("DESC", "ASC")
        lim = min(limit, total - offset)
        off = max(0, total - offset - lim)
        reverse = True
    ids = _ids(conn, src, pl, order, lim, off)
    if reverse:
        ids.reverse()
    return Listing(ids, total, False)


def export_sql(conn: Connection, src: Source, q: Query, columns: str, *, limit: int,
               cap: int) -> tuple[str, dict[str, Any]]:
    """One streaming SELECT of `columns` for q, newest first, at most `limit` rows (the planner
    settings a PostgreSQL search needs stay set on `conn` for it)."""
    pl = plan(conn, src, q, cap)
    if pl.pg_settings:
        set_local(conn, pl.pg_settings)
    a = src.alias
    if pl.stream:
        sql = (f"SELECT {columns} FROM {pl.stream}" + "".join(f" AND {w}" for w in pl.where)
               + f" ORDER BY {pl.order}")
    else:
        sql = (f"SELECT {columns} FROM {src.table} {a}" + (f" WHERE {' AND '.join(pl.where)}" if pl.where else "")
               + f" ORDER BY {src.order}")
    return sql + " LIMIT :_export_limit", {**pl.params, "_export_limit": limit}

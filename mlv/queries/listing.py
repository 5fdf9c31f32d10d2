"""Paginated, filtered lists over a big table: the plan every list route and CSV export shares.

A list is newest first (time, then id). Filters are SQL conditions with bound parameters. The
total comes from a rollup when every filter is one the rollup counts by (exact, a few hundred
rows read whatever the table size); otherwise it is counted up to a cap (MAX_SEARCH_RESULTS) and
reported as capped beyond it. Deep pages past the middle of an exactly counted list are read
from the other end.

Free-text search on SQLite goes through the table's FTS5 trigram index: when it matches fewer
rows than the cap those rows are sorted by time; when it matches more (a common word) the
newest matches are streamed straight out of the index in row-id order, which is import order
and follows time within seconds. A search combined with other filters is checked row by row on
the rows the other filters select. On PostgreSQL the pg_trgm index and the planner do this.
A filter through another table with many matches (a busy recipient) is a Walk: that table's
index is walked in row-id order the same way, on both databases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from mlv.queries.common import DOCS, like_escape


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


def _fts_count(conn: Connection, table: str, term: str, cap: int) -> int:
    return conn.execute(text(f"SELECT COUNT(*) FROM (SELECT rowid FROM {table}_fts WHERE doc LIKE :p LIMIT :cap) t"),
                        {"p": f"%{term}%", "cap": cap}).scalar_one()


def plan(conn: Connection, src: Source, q: Query, cap: int) -> Plan:
    """How to read q: where terms and params, and whether rows are streamed in row-id order."""
    where = [c.sql for c in q.conds] + _time_conds(src, q)
    params = _params(q)
    a = src.alias
    walk = None
    if q.walk is not None:
        walk = (f"{q.walk.table} CROSS JOIN {src.table} {a} ON {a}.id = {q.walk.key} WHERE {q.walk.where}",
                f"{q.walk.key} DESC")
    term = (q.search or "").strip()
    if not term:
        return Plan(where, params, *(walk or (None, "")))
    params["_like"] = f"%{like_escape(term)}%"
    if conn.dialect.name == "postgresql":
        params["_like"] = params["_like"].lower()
        where.append(f"lower({src.doc()}) LIKE :_like ESCAPE '\\'")
        return Plan(where, params, *(walk or (None, "")))
    row_check = f"{src.doc()} LIKE :_like ESCAPE '\\'"
    if len(term) < 3:  # trigrams need 3 characters: check the rows the other filters (or time order) give
        return Plan([*where, row_check], params, *(walk or (None, "")))
    params["_fts"] = f"%{term}%"
    exact = [row_check] if ("%" in term or "_" in term) else []  # FTS LIKE has no ESCAPE: a superset
    if _fts_count(conn, src.table, term, cap) < cap:  # rare: its few rows, with the other filters
        fts = f"{a}.id IN (SELECT rowid FROM {src.table}_fts WHERE doc LIKE :_fts)"
        return Plan([*where, fts, *exact], params)
    if where or walk:  # common, with other filters: those select the rows, checked one by one
        return Plan([*where, row_check], params, *(walk or (None, "")))
    return Plan(exact, params, f"{src.table}_fts f CROSS JOIN {src.table} {a} ON {a}.id = f.rowid "
                "WHERE f.doc LIKE :_fts", "f.rowid DESC", known_capped=True)


def _rollup_total(conn: Connection, src: Source, q: Query) -> int:
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


def count(conn: Connection, src: Source, q: Query, cap: int, pl: Plan | None = None) -> tuple[int, bool]:
    """(total, capped) for the filters of q."""
    if (src.rollup is not None and q.walk is None and not (q.search or "").strip()
            and all(c.rollup for c in q.conds)):
        return _rollup_total(conn, src, q), False
    pl = pl or plan(conn, src, q, cap)
    if pl.known_capped:
        return cap, True
    source = pl.stream or f"{src.table} {src.alias}"
    terms = " AND ".join(pl.where)
    glue = " AND " if pl.stream else " WHERE "
    sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {source}" + (glue + terms if terms else "") + " LIMIT :_cap) t"
    found = conn.execute(text(sql), {**pl.params, "_cap": cap}).scalar_one()
    return found, found >= cap


def list_ids(conn: Connection, src: Source, q: Query, *, offset: int, limit: int, cap: int) -> Listing:
    """The ids of one page (newest first) and the total."""
    pl = plan(conn, src, q, cap)
    total, capped = count(conn, src, q, cap, pl)
    a = src.alias
    if pl.stream:
        sql = (f"SELECT {a}.id FROM {pl.stream}" + "".join(f" AND {w}" for w in pl.where)
               + f" ORDER BY {pl.order} LIMIT :_lim OFFSET :_off")
        ids = conn.execute(text(sql), {**pl.params, "_lim": limit, "_off": offset}).scalars().all()
        return Listing(list(ids), total, capped)
    order, lim, off, reverse = src.order, limit, offset, False
    if not capped and offset >= total:
        return Listing([], total, capped)
    if not capped and offset > total // 2:
        # Deep page: count from the oldest end instead of skipping most of the table.
        order = order.replace("DESC", "ASC")
        lim = min(limit, total - offset)
        off = max(0, total - offset - lim)
        reverse = True
    sql = (f"SELECT {a}.id FROM {src.table} {a}" + (f" WHERE {' AND '.join(pl.where)}" if pl.where else "")
           + f" ORDER BY {order} LIMIT :_lim OFFSET :_off")
    ids = list(conn.execute(text(sql), {**pl.params, "_lim": lim, "_off": off}).scalars().all())
    if reverse:
        ids.reverse()
    return Listing(ids, total, capped)


def export_sql(conn: Connection, src: Source, q: Query, columns: str, *, limit: int,
               cap: int) -> tuple[str, dict[str, Any]]:
    """One streaming SELECT of `columns` for q, newest first, at most `limit` rows."""
    pl = plan(conn, src, q, cap)
    a = src.alias
    if pl.stream:
        sql = (f"SELECT {columns} FROM {pl.stream}" + "".join(f" AND {w}" for w in pl.where)
               + f" ORDER BY {pl.order}")
    else:
        sql = (f"SELECT {columns} FROM {src.table} {a}" + (f" WHERE {' AND '.join(pl.where)}" if pl.where else "")
               + f" ORDER BY {src.order}")
    return sql + " LIMIT :_export_limit", {**pl.params, "_export_limit": limit}

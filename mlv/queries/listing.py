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


@dataclass
class Query:
    """Filters of one list request."""

    conds: list[Cond] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    start: int | None = None
    end: int | None = None
    search: str | None = None


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


def plan(conn: Connection, src: Source, q: Query, cap: int) -> tuple[list[str], dict[str, Any], bool]:
    """(where terms, params, stream) for q; stream: read the newest matches from the FTS index."""
    where = [c.sql for c in q.conds] + _time_conds(src, q)
    params = _params(q)
    term = (q.search or "").strip()
    if not term:
        return where, params, False
    params["_like"] = f"%{like_escape(term)}%"
    if conn.dialect.name == "postgresql":
        params["_like"] = params["_like"].lower()
        where.append(f"lower({src.doc()}) LIKE :_like ESCAPE '\\'")
        return where, params, False
    row_check = f"{src.doc()} LIKE :_like ESCAPE '\\'"
    if len(term) < 3:  # trigrams need 3 characters: check the rows the other filters (or time order) give
        return [*where, row_check], params, False
    params["_fts"] = f"%{term}%"
    exact = [row_check] if ("%" in term or "_" in term) else []  # FTS LIKE has no ESCAPE: a superset
    if _fts_count(conn, src.table, term, cap) < cap:  # rare: its few rows, with the other filters
        fts = f"{src.alias}.id IN (SELECT rowid FROM {src.table}_fts WHERE doc LIKE :_fts)"
        return [*where, fts, *exact], params, False
    if where:  # common, with other filters: those select the rows, checked one by one
        return [*where, row_check], params, False
    return exact, params, True


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


def count(conn: Connection, src: Source, q: Query, cap: int, where: list[str] | None = None,
          params: dict[str, Any] | None = None, stream: bool = False) -> tuple[int, bool]:
    """(total, capped) for the filters of q."""
    if src.rollup is not None and not (q.search or "").strip() and all(c.rollup for c in q.conds):
        return _rollup_total(conn, src, q), False
    if where is None or params is None:
        where, params, stream = plan(conn, src, q, cap)
    if stream:  # the FTS index already found `cap` matches or more
        return cap, True
    sql = (f"SELECT COUNT(*) FROM (SELECT 1 FROM {src.table} {src.alias}"
           + (f" WHERE {' AND '.join(where)}" if where else "") + " LIMIT :_cap) t")
    found = conn.execute(text(sql), {**params, "_cap": cap}).scalar_one()
    return found, found >= cap


def list_ids(conn: Connection, src: Source, q: Query, *, offset: int, limit: int, cap: int) -> Listing:
    """The ids of one page (newest first) and the total."""
    where, params, stream = plan(conn, src, q, cap)
    total, capped = count(conn, src, q, cap, where, params, stream)
    a = src.alias
    if stream:
        sql = (f"SELECT f.rowid FROM {src.table}_fts f CROSS JOIN {src.table} {a} ON {a}.id = f.rowid "
               f"WHERE f.doc LIKE :_fts" + "".join(f" AND {w}" for w in where)
               + " ORDER BY f.rowid DESC LIMIT :_lim OFFSET :_off")
        ids = conn.execute(text(sql), {**params, "_lim": limit, "_off": offset}).scalars().all()
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
    sql = (f"SELECT {a}.id FROM {src.table} {a}" + (f" WHERE {' AND '.join(where)}" if where else "")
           + f" ORDER BY {order} LIMIT :_lim OFFSET :_off")
    ids = list(conn.execute(text(sql), {**params, "_lim": lim, "_off": off}).scalars().all())
    if reverse:
        ids.reverse()
    return Listing(ids, total, capped)


def export_sql(conn: Connection, src: Source, q: Query, columns: str, *, limit: int,
               cap: int) -> tuple[str, dict[str, Any]]:
    """One streaming SELECT of `columns` for q, newest first, at most `limit` rows."""
    where, params, stream = plan(conn, src, q, cap)
    a = src.alias
    if stream:
        sql = (f"SELECT {columns} FROM {src.table}_fts f CROSS JOIN {src.table} {a} ON {a}.id = f.rowid "
               f"WHERE f.doc LIKE :_fts" + "".join(f" AND {w}" for w in where) + " ORDER BY f.rowid DESC")
    else:
        sql = (f"SELECT {columns} FROM {src.table} {a}" + (f" WHERE {' AND '.join(where)}" if where else "")
               + f" ORDER BY {src.order}")
    return sql + " LIMIT :_export_limit", {**params, "_export_limit": limit}

"""How a free-text `search` is read, per database (see mlv.queries.listing for the list plan).

SQLite: the table's FTS5 trigram index (migration 0002). A term with fewer matches than the cap
becomes an id list sorted by time. A common term alone is streamed from the index newest row id
first; with filters that keep most rows (direction, status: measured on the rollup) the same
stream is checked against them, and with narrow filters those filters' index gives the rows,
each checked for the term. Terms under 3 characters have no trigrams: rows are checked directly.

PostgreSQL: pg_trgm GIN indexes. GIN answers with a bitmap of every match, which is quick for
rare terms and slow for common ones, and the planner cannot tell them apart (LIKE '%x%' gets a
fixed estimate). So the newest 2,000 rows are probed first: a term in 1% of them or more walks
the time index (bitmap scans off; lines stored as ASCII lower-cased the cheap way, see
postfix_log.message_ascii), a rarer one uses the bitmap (plain index scans off).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, text

from mlv.queries.common import ASCII_FLAGS, like_escape

if TYPE_CHECKING:
    from mlv.queries.listing import Plan, Query, Source

PROBE_ROWS, COMMON_SHARE = 2000, 0.01
WIDE_SHARE = 0.2  # filters keeping this share of the rows or more are checked on the FTS stream


def _fts_count(conn: Connection, table: str, term: str, cap: int) -> int:
    return conn.execute(text(f"SELECT COUNT(*) FROM (SELECT rowid FROM {table}_fts WHERE doc LIKE :p LIMIT :cap) t"),
                        {"p": f"%{term}%", "cap": cap}).scalar_one()


def postgres(conn: Connection, src: Source, base: Plan, term: str) -> Plan:
    like = f"%{like_escape(term)}%".lower()
    base.params["_like"] = like
    base.where.append(f"lower({src.doc()}) LIKE :_like ESCAPE '\\'")
    a = src.alias
    flag = ASCII_FLAGS.get(src.table, "").format(p=f"{a}.")
    # Rows checked one by one (the probe, and the walk below): a line stored as plain ASCII is
    # lower-cased under the "C" collation (a byte loop, half the cost of the database collation's); a
    # line stored before the flag (NULL) is tested for other characters first; any other line gets the
    # full lower(). So the rows found are the same as the trigram index's over lower().
    check = ("(CASE WHEN {f} OR ({f} IS NULL AND octet_length({d}) = char_length({d})) "
             "THEN lower({d} COLLATE \"C\") ELSE lower({d}) END) LIKE :_like ESCAPE '\\'" if flag else
             "lower({d}) LIKE :_like ESCAPE '\\'")
    cols = f"{src.doc()} AS d" + (f", {flag} AS f" if flag else "")
    probe = (f"SELECT COUNT(*) FROM (SELECT {cols} FROM {src.table} {a} ORDER BY {a}.{src.time_col} DESC "
             f"LIMIT :n) t WHERE {check.format(d='t.d', f='t.f')}")
    found = conn.execute(text(probe), {"n": PROBE_ROWS, "_like": like}).scalar_one()
    if found >= PROBE_ROWS * COMMON_SHARE:
        if flag:
            base.where[-1] = check.format(d=src.doc(), f=flag)
        # The walk of the time index (its row estimate for LIKE is a guess: without these the planner may
        # read the whole table and sort it instead). Parallel workers take longer to start than the walk
        # of a first page takes (14 ms against 4 measured), but share a deep page's walk (messages past the
        # cap: 25 ms against 32).
        base.pg_settings = {"enable_bitmapscan": "off", "enable_seqscan": "off", "max_parallel_workers_per_gather": "0"}
        base.pg_deep = {"max_parallel_workers_per_gather": "2", "parallel_setup_cost": "0",
                        "parallel_tuple_cost": "0", "min_parallel_index_scan_size": "0"}
    else:
        base.pg_settings = {"enable_indexscan": "off", "enable_indexonlyscan": "off"}
    return base


def sqlite(conn: Connection, src: Source, q: Query, base: Plan, term: str, cap: int) -> Plan:
    from mlv.queries.listing import Plan, Query, rollup_total

    a = src.alias
    base.params["_like"] = f"%{like_escape(term)}%"
    row_check = f"{src.doc()} LIKE :_like ESCAPE '\\'"
    if len(term) < 3:  # trigrams need 3 characters
        base.where.append(row_check)
        return base
    base.params["_fts"] = f"%{term}%"
    exact = [row_check] if ("%" in term or "_" in term) else []  # FTS LIKE has no ESCAPE: a superset
    if _fts_count(conn, src.table, term, cap) < cap:  # rare: its few rows, with the other filters
        fts = f"{a}.id IN (SELECT rowid FROM {src.table}_fts WHERE doc LIKE :_fts)"
        return Plan([*base.where, fts, *exact], base.params, base.stream, base.order)
    stream = (f"{src.table}_fts f CROSS JOIN {src.table} {a} ON {a}.id = f.rowid WHERE f.doc LIKE :_fts",
              "f.rowid DESC")
    if not base.where and not base.stream:
        return Plan(exact, base.params, *stream, known_capped=True)
    wide = (src.rollup is not None and base.stream is None and q.start is None and q.end is None
            and all(c.rollup for c in q.conds))
    if wide and rollup_total(conn, src, q) >= WIDE_SHARE * rollup_total(conn, src, Query(params=q.params)):
        return Plan([*base.where, *exact], base.params, *stream)
    base.where.append(row_check)  # narrow filters select the rows; each is checked for the term
    return base

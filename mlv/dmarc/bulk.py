"""Aggregate reports into the database in bulk: a few statements per batch, whatever its size.

For a batch of reports (one big report, or many small ones from a folder or a mailbox): one
``INSERT … ON CONFLICT DO NOTHING RETURNING id`` per report (a conflict = a duplicate, nothing
more is stored for it), then all their records in one COPY (PostgreSQL) or executemany (SQLite),
the rollups summed here and upserted with one statement each, and the new source IPs with their
GeoIP data in one statement.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text

from mlv.dmarc.geoip import GeoIP
from mlv.dmarc.types import AggregateRecord, AggregateReport

ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
REPORT_COLUMNS = ("org_name", "report_id", "email", "extra_contact_info", "domain", "date_begin", "date_end", "day",
                  "version", "generator", "policy_adkim", "policy_aspf", "policy_p", "policy_sp", "policy_np",
                  "policy_pct", "policy_fo", "policy_testing", "policy_discovery", "record_count", "message_count",
                  "errors", "repairs", "source", "file_name", "received_at")
RECORD_COLUMNS = ("report_ref", "seq", "domain", "day", "source_ip", "count", "disposition", "dkim", "spf",
                  "dmarc_pass", "header_from", "envelope_from", "envelope_to", "reasons", "dkim_domain",
                  "dkim_selector", "dkim_result", "spf_domain", "spf_scope", "spf_result", "auth_results")
IP_COLUMNS = ("ip", "country_code", "country_name", "city", "asn", "asn_org", "geo_checked_at")
_NO_AUTH: dict[str, str | None] = {}


def dumps(value: Any) -> str | None:
    return ENCODE(value) if value else None


def day_of(begin: int, end: int) -> int:
    """UTC midnight of the day a report counts on: the day holding the middle of its range."""
    return (begin + end) // 2 // 86400 * 86400


def _marks(conn: Connection, n: int) -> str:
    return ", ".join(("%s" if conn.dialect.name == "postgresql" else "?") for _ in range(n))


def insert_new(conn: Connection, table: str, columns: tuple[str, ...], values: tuple[Any, ...],
               keys: str) -> int | None:
    """INSERT … ON CONFLICT (keys) DO NOTHING RETURNING id: the new id, or None for a duplicate."""
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_marks(conn, len(columns))}) "
           f"ON CONFLICT ({keys}) DO NOTHING RETURNING id")
    return conn.exec_driver_sql(sql, values).scalar()


def bulk_insert(conn: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Many rows at once: COPY on PostgreSQL, one prepared executemany on SQLite."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_marks(conn, len(columns))})", rows)


def add_ips(conn: Connection, ips: set[str], geo: GeoIP | None, now: int, *, ref: int | None = None) -> int:
    """Insert the IPs not yet known, with their GeoIP data when a database is configured."""
    if not ips:
        return 0
    if ref is not None:  # one big report: join its records instead of sending every address
        known = set(conn.execute(text("SELECT DISTINCT r.source_ip FROM dmarc_record r JOIN dmarc_ip i "
                                      "ON i.ip = r.source_ip WHERE r.report_ref = :ref"), {"ref": ref}).scalars())
    else:
        known = set()
        batch = sorted(ips)
        for start in range(0, len(batch), 2000):
            chunk = batch[start:start + 2000]
            known.update(conn.exec_driver_sql(f"SELECT ip FROM dmarc_ip WHERE ip IN ({_marks(conn, len(chunk))})",
                                              tuple(chunk)).scalars())
    new = sorted(ips - known)
    if not new:
        return 0
    usable = geo is not None and geo.available
    rows: list[tuple[Any, ...]] = []
    for ip in new:
        info = geo.lookup(ip) if usable else None  # type: ignore[union-attr]
        rows.append((ip, info.country_code, info.country_name, info.city, info.asn, info.asn_org, now) if info
                    else (ip, None, None, None, None, None, None))
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            f"INSERT INTO dmarc_ip ({', '.join(IP_COLUMNS)}) SELECT * FROM unnest(%s::varchar[], %s::varchar[], "
            "%s::text[], %s::text[], %s::varchar[], %s::text[], %s::bigint[]) ON CONFLICT (ip) DO NOTHING",
            tuple(list(c) for c in zip(*rows, strict=True)))
    else:
        conn.exec_driver_sql(f"INSERT OR IGNORE INTO dmarc_ip ({', '.join(IP_COLUMNS)}) VALUES "
                             f"({_marks(conn, len(IP_COLUMNS))})", rows)
    return len(rows)


def _record_row(ref: int, seq: int, domain: str, day: int, r: AggregateRecord) -> tuple[Any, ...]:
    dkims, spfs = r.dkim_results, r.spf_results
    dkim = dkims[0] if dkims else _NO_AUTH
    spf = spfs[0] if spfs else _NO_AUTH
    # all the results as JSON only when the columns cannot hold them
    extra = (dkims and (len(dkims) > 1 or "human_result" in dkim)) or \
        (spfs and (len(spfs) > 1 or "human_result" in spf))
    return (ref, seq, domain, day, r.source_ip, r.count, r.disposition, r.dkim, r.spf,
            r.dkim == "pass" or r.spf == "pass", r.header_from, r.envelope_from, r.envelope_to,
            dumps(r.reasons) if r.reasons else None, dkim.get("domain"), dkim.get("selector"), dkim.get("result"),
            spf.get("domain"), spf.get("scope"), spf.get("result"),
            ENCODE({"dkim": dkims or [], "spf": spfs or []}) if extra else None)


def _sum(sums: dict[tuple[str, int, str], list[int]], report: AggregateReport, day: int) -> None:
    begin, end, domain = report.date_begin, report.date_end, report.domain
    for r in report.records:
        row = sums.get((domain, day, r.source_ip))
        if row is None:
            row = sums[(domain, day, r.source_ip)] = [0, 0, 0, 0, begin, end]
        else:
            row[4], row[5] = min(row[4], begin), max(row[5], end)
        row[0] += r.count
        if r.dkim == "pass" or r.spf == "pass":
            row[1] += r.count
        if r.spf == "pass":
            row[2] += r.count
        if r.dkim == "pass":
            row[3] += r.count


def _upsert(conn: Connection, table: str, keys: dict[str, str], sums: tuple[str, ...], lows: tuple[str, ...],
            highs: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Add rows (keys..., sums..., lows..., highs...) to a rollup: sums add up, lows take MIN, highs MAX."""
    if not rows:
        return
    pg = conn.dialect.name == "postgresql"
    least, greatest = ("LEAST", "GREATEST") if pg else ("MIN", "MAX")
    columns = (*keys, *sums, *lows, *highs)
    update = ", ".join([f"{c} = {table}.{c} + excluded.{c}" for c in sums]
                       + [f"{c} = {least}({table}.{c}, excluded.{c})" for c in lows]
                       + [f"{c} = {greatest}({table}.{c}, excluded.{c})" for c in highs])
    conflict = f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {update}"
    if pg:
        types = [*keys.values(), *["bigint"] * (len(columns) - len(keys))]
        arrays = ", ".join(f"%s::{kind}[]" for kind in types)
        conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays}) {conflict}",
                             tuple(list(c) for c in zip(*rows, strict=True)))
    else:
        conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_marks(conn, len(columns))}) "
                             f"{conflict}", rows)


def month_start(day: int) -> int:
    """UTC midnight of the first day of the month holding `day`."""
    return int(datetime.fromtimestamp(day, UTC).replace(day=1, hour=0, minute=0, second=0).timestamp())


def _month(day: int, cache: dict[int, int]) -> int:
    month = cache.get(day)
    if month is None:
        month = cache[day] = month_start(day)
    return month


def upsert_rollup(conn: Connection, sums: dict[tuple[str, int, str], list[int]]) -> None:
    """Add the batch's (domain, day, ip) sums to the four rollups the dashboards read."""
    if not sums:
        return
    daily: dict[tuple[str, int], list[int]] = {}
    monthly: dict[tuple[str, int, str], list[int]] = {}
    spans: dict[tuple[str, str], list[int]] = {}
    months: dict[int, int] = {}
    for (domain, day, ip), (m, d, s, k, first, last) in sums.items():
        for target, key in ((daily, (domain, day)), (monthly, (domain, _month(day, months), ip))):
            row = target.get(key)  # type: ignore[call-overload]
            if row is None:
                target[key] = [m, d, s, k, first, last]  # type: ignore[index]
            else:
                row[0] += m
                row[1] += d
                row[2] += s
                row[3] += k
                row[4], row[5] = min(row[4], first), max(row[5], last)
        span = spans.get((domain, ip))
        if span is None:
            spans[(domain, ip)] = [day, day]
        else:
            span[0], span[1] = min(span[0], day), max(span[1], day)
    counts = ("messages", "dmarc_pass", "spf_pass", "dkim_pass")
    keyed = {"domain": "text", "day": "bigint", "source_ip": "varchar"}
    _upsert(conn, "dmarc_daily_source", keyed, counts, ("first_seen",), ("last_seen",),
            [(*key, *values) for key, values in sums.items()])
    _upsert(conn, "dmarc_daily", {"domain": "text", "day": "bigint"}, counts, (), (),
            [(*key, *values[:4]) for key, values in daily.items()])
    _upsert(conn, "dmarc_monthly_source", {"domain": "text", "month": "bigint", "source_ip": "varchar"}, counts,
            ("first_seen",), ("last_seen",), [(*key, *values) for key, values in monthly.items()])
    _upsert(conn, "dmarc_domain_source", {"domain": "text", "source_ip": "varchar"}, (), ("first_day",),
            ("last_day",), [(*key, *values) for key, values in spans.items()])


def report_values(report: AggregateReport, day: int, source: str, file_name: str | None,
                  now: int) -> tuple[Any, ...]:
    p = report.policy

    def cut(value: str | None, n: int) -> str | None:
        return value[:n] if value else None

    return (report.org_name[:500], report.report_id[:500], report.email, report.extra_contact_info, report.domain,
            report.date_begin, report.date_end, day, cut(report.version, 16), report.generator, cut(p.adkim, 8),
            cut(p.aspf, 8), cut(p.p, 16), cut(p.sp, 16), cut(p.np, 16), p.pct, cut(p.fo, 16), cut(p.testing, 8),
            cut(p.discovery_method, 16), len(report.records), sum(r.count for r in report.records),
            dumps(report.errors), dumps(report.repairs), source, file_name, now)


def store_aggregates(conn: Connection, items: list[tuple[AggregateReport, str | None]], source: str,
                     geo: GeoIP | None, now: int) -> list[int | None]:
    """Store a batch; returns each report's new id, or None when it was a duplicate."""
    ids: list[int | None] = []
    rows: list[tuple[Any, ...]] = []
    sums: dict[tuple[str, int, str], list[int]] = {}
    ips: set[str] = set()
    # the DB-API cursor of this transaction: one report row costs a few µs instead of an engine round
    cursor = conn.connection.cursor()
    insert = (f"INSERT INTO dmarc_report ({', '.join(REPORT_COLUMNS)}) VALUES ({_marks(conn, len(REPORT_COLUMNS))}) "
              "ON CONFLICT (org_name, report_id) DO NOTHING RETURNING id")
    for report, file_name in items:
        day = day_of(report.date_begin, report.date_end)
        cursor.execute(insert, report_values(report, day, source, file_name, now))
        found = cursor.fetchone()
        ref = found[0] if found else None
        ids.append(ref)
        if ref is None:
            continue
        domain = report.domain
        rows.extend(_record_row(ref, seq, domain, day, r) for seq, r in enumerate(report.records, 1))
        _sum(sums, report, day)
        ips.update(r.source_ip for r in report.records)
    bulk_insert(conn, "dmarc_record", RECORD_COLUMNS, rows)
    upsert_rollup(conn, sums)
    stored = [ref for ref in ids if ref is not None]
    add_ips(conn, ips, geo, now, ref=stored[0] if len(stored) == 1 else None)
    return ids

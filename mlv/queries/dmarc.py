"""Read functions for DMARC: domains, overview, daily reports, sources, failure reports.

Message counts and pass rates come from the rollups (``dmarc_daily`` per domain and day,
``dmarc_daily_source`` / ``dmarc_monthly_source`` per source IP, ``dmarc_domain_source`` for the
number of distinct IPs), report counts and reporters from ``dmarc_report``; every filter is on an
index, and a year of data reads tens of thousands of rows at most, whatever the record count.
"DMARC pass" is aligned SPF pass or aligned DKIM pass (RFC 7489 §6.6.2). ``days`` looks back from
now: rows whose day (UTC midnight) is on or after the midnight ``days`` days ago.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from sqlalchemy import Engine, bindparam, text

from mlv.dmarc.bulk import month_start
from mlv.dmarc.geoip import flag_emoji

_SUMS = ("CAST(SUM(messages) AS BIGINT), CAST(SUM(dmarc_pass) AS BIGINT), CAST(SUM(spf_pass) AS BIGINT), "
         "CAST(SUM(dkim_pass) AS BIGINT)")


def since_day(days: int, now: float | None = None) -> int:
    return int((now if now is not None else time.time()) - days * 86400) // 86400 * 86400


def pct(part: int | None, total: int | None, digits: int = 1) -> float:
    return round(float(part or 0) * 100.0 / float(total), digits) if total else 0.0


def _rates(total: int, dmarc: int, spf: int, dkim: int) -> dict[str, float]:
    return {"dmarc_pass_pct": pct(dmarc, total), "spf_pass_pct": pct(spf, total), "dkim_pass_pct": pct(dkim, total)}


def _latest_policies(conn: Any, since: int, domain: str | None = None) -> dict[str, dict[str, Any]]:
    where = "WHERE day >= :since" + (" AND domain = :domain" if domain else "")
    rows = conn.execute(text(
        "SELECT domain, policy_p, policy_sp, policy_adkim, policy_aspf, policy_pct, policy_fo, date_begin FROM ("
        "SELECT domain, policy_p, policy_sp, policy_adkim, policy_aspf, policy_pct, policy_fo, date_begin, "
        "ROW_NUMBER() OVER (PARTITION BY domain ORDER BY date_begin DESC, id DESC) AS rn "
        f"FROM dmarc_report {where}) latest WHERE rn = 1"), {"since": since, "domain": domain}).mappings()
    return {row["domain"]: dict(row) for row in rows}


def domains(*, engine: Engine, days: int = 30, now: float | None = None) -> dict[str, Any]:
    """GET /api/dmarc/domains."""
    since = since_day(days, now)
    with engine.connect() as conn:
        ips = dict(conn.execute(text("SELECT domain, COUNT(*) FROM dmarc_domain_source WHERE last_day >= :since "
                                     "GROUP BY domain"), {"since": since}).all())
        stats = [(*row, ips.get(row[0], 0)) for row in conn.execute(text(
            f"SELECT domain, {_SUMS} FROM dmarc_daily WHERE day >= :since GROUP BY domain"), {"since": since})]
        unique_ips = conn.execute(text("SELECT COUNT(DISTINCT source_ip) FROM dmarc_domain_source "
                                       "WHERE last_day >= :since"), {"since": since}).scalar_one()
        policies = _latest_policies(conn, since)
        last = dict(conn.execute(text("SELECT domain, MAX(date_begin) FROM dmarc_report WHERE day >= :since "
                                      "GROUP BY domain"), {"since": since}).all())
    by_domain = {row[0]: row for row in stats}
    out = []
    for name in sorted(set(by_domain) | set(policies)):
        _, total, dmarc, spf, dkim, ips = by_domain.get(name, (name, 0, 0, 0, 0, 0))
        policy = policies.get(name, {})
        sp = policy.get("policy_sp")
        out.append({"domain": name, "total_messages": int(total or 0), "unique_ips": int(ips or 0),
                    **_rates(total, dmarc, spf, dkim), "policy_p": policy.get("policy_p"),
                    "policy_sp": sp if sp and sp != policy.get("policy_p") else None,
                    "last_report_date": last.get(name)})
    out.sort(key=lambda d: (-d["total_messages"], d["domain"]))
    total = sum(d["total_messages"] for d in out)
    dmarc_total = sum(int(row[2] or 0) for row in stats)
    return {"total_domains": len(out), "total_messages": total, "total_unique_ips": int(unique_ips or 0),
            "overall_dmarc_pass_pct": pct(dmarc_total, total), "domains": out}


def overview(*, engine: Engine, domain: str, days: int = 30, now: float | None = None) -> dict[str, Any]:
    """GET /api/dmarc/domains/{domain}/overview."""
    since = since_day(days, now)
    params = {"domain": domain, "since": since}
    with engine.connect() as conn:
        daily = conn.execute(text("SELECT day, messages, dmarc_pass, spf_pass, dkim_pass FROM dmarc_daily "
                                  "WHERE domain = :domain AND day >= :since ORDER BY day"), params).all()
        ips = conn.execute(text("SELECT COUNT(*) FROM dmarc_domain_source WHERE domain = :domain "
                                "AND last_day >= :since"), params).scalar_one()
        reporters = conn.execute(text("SELECT COUNT(DISTINCT org_name) FROM dmarc_report WHERE domain = :domain "
                                      "AND day >= :since"), params).scalar_one()
        policy = _latest_policies(conn, since, domain).get(domain, {})
    totals = [sum(int(row[i] or 0) for row in daily) for i in (1, 2, 3, 4)]
    return {
        "domain": domain, "total_messages": totals[0], "unique_ips": int(ips or 0),
        "unique_reporters": int(reporters or 0), **_rates(*totals),
        "policy": {"p": policy.get("policy_p"), "sp": policy.get("policy_sp"), "adkim": policy.get("policy_adkim"),
                   "aspf": policy.get("policy_aspf"), "pct": policy.get("policy_pct"), "fo": policy.get("policy_fo")},
        "daily_stats": [{"date": int(day), "total_messages": int(total or 0), **_rates(total, dmarc, spf, dkim)}
                        for day, total, dmarc, spf, dkim in daily],
    }


def reports(*, engine: Engine, domain: str, days: int = 30, now: float | None = None) -> dict[str, Any]:
    """GET /api/dmarc/domains/{domain}/reports: one entry per day, newest first."""
    params = {"domain": domain, "since": since_day(days, now)}
    with engine.connect() as conn:
        counts = dict(conn.execute(text("SELECT day, COUNT(*) FROM dmarc_report WHERE domain = :domain "
                                        "AND day >= :since GROUP BY day"), params).all())
        names: dict[int, list[str]] = defaultdict(list)
        for day, org in conn.execute(text("SELECT DISTINCT day, org_name FROM dmarc_report WHERE domain = :domain "
                                          "AND day >= :since ORDER BY day, org_name"), params):
            names[int(day)].append(org)
        ips = dict(conn.execute(text("SELECT day, COUNT(*) FROM dmarc_daily_source WHERE domain = :domain "
                                     "AND day >= :since GROUP BY day"), params).all())
        stats = {int(row[0]): (*row[1:], ips.get(row[0], 0)) for row in conn.execute(text(
            "SELECT day, messages, dmarc_pass, spf_pass, dkim_pass FROM dmarc_daily WHERE domain = :domain "
            "AND day >= :since"), params)}
    out = []
    for day in sorted({int(d) for d in counts} | set(stats), reverse=True):
        total, dmarc, spf, dkim, ips = stats.get(day, (0, 0, 0, 0, 0))
        out.append({"date": day, "report_count": int(counts.get(day, 0)), "unique_ips": int(ips or 0),
                    "total_messages": int(total or 0), **_rates(total, dmarc, spf, dkim),
                    "reporters": names.get(day, [])})
    return {"domain": domain, "reports": out}


def _ip_info(conn: Any, ips: list[str]) -> dict[str, dict[str, Any]]:
    if not ips:
        return {}
    stmt = text("SELECT ip, country_code, country_name, city, asn, asn_org, hostname FROM dmarc_ip "
                "WHERE ip IN :ips").bindparams(bindparam("ips", expanding=True))
    return {row["ip"]: dict(row) for row in conn.execute(stmt, {"ips": ips}).mappings()}


def geo_fields(info: dict[str, Any] | None) -> dict[str, Any]:
    info = info or {}
    return {"country_code": info.get("country_code"), "country_name": info.get("country_name"),
            "country_emoji": flag_emoji(info.get("country_code")), "city": info.get("city"),
            "asn": info.get("asn"), "asn_org": info.get("asn_org"), "hostname": info.get("hostname")}


def sources(*, engine: Engine, domain: str, days: int = 30, limit: int = 1000, offset: int = 0,
            now: float | None = None) -> dict[str, Any]:
    """GET /api/dmarc/domains/{domain}/sources: source IPs by message count, with GeoIP and reverse DNS."""
    since = since_day(days, now)
    first_month = month_start(since)
    # whole months from the monthly rollup, the days before the first whole month from the daily one
    whole = first_month if first_month == since else month_start(first_month + 32 * 86400)
    params = {"domain": domain, "since": since, "whole": whole, "n": limit, "skip": offset}
    counts = "messages, dmarc_pass, spf_pass, dkim_pass, first_seen, last_seen"
    with engine.connect() as conn:
        rows = conn.execute(text(
            f"SELECT source_ip, {_SUMS}, MIN(first_seen), MAX(last_seen) FROM ("
            f"SELECT source_ip, {counts} FROM dmarc_daily_source WHERE domain = :domain AND day >= :since "
            f"AND day < :whole UNION ALL SELECT source_ip, {counts} FROM dmarc_monthly_source "
            "WHERE domain = :domain AND month >= :whole) recent GROUP BY source_ip "
            "ORDER BY 2 DESC, source_ip LIMIT :n OFFSET :skip"), params).all()
        total = conn.execute(text("SELECT COUNT(*) FROM dmarc_domain_source WHERE domain = :domain "
                                  "AND last_day >= :since"), params).scalar_one()
        info = _ip_info(conn, [row[0] for row in rows])
    return {"domain": domain, "total": int(total or 0), "sources": [
        {"source_ip": ip, "total_messages": int(count or 0), **_rates(count, dmarc, spf, dkim),
         **geo_fields(info.get(ip)), "first_seen": int(first), "last_seen": int(last)}
        for ip, count, dmarc, spf, dkim, first, last in rows]}


def failures(*, engine: Engine, domain: str, days: int = 30, limit: int = 100, offset: int = 0,
             now: float | None = None) -> dict[str, Any]:
    """GET /api/dmarc/domains/{domain}/failures: stored failure (ruf) reports, newest first."""
    params = {"domain": domain, "since": since_day(days, now), "n": limit, "skip": offset}
    with engine.connect() as conn:
        total = conn.execute(text("SELECT COUNT(*) FROM dmarc_failure WHERE domain = :domain "
                                  "AND arrival_date >= :since"), params).scalar_one()
        rows = [dict(r) for r in conn.execute(text(
            "SELECT id, arrival_date, reporter, source_ip, feedback_type, auth_failure, delivery_result, "
            "original_mail_from, original_rcpt_to, header_from, subject, message_id, authentication_results, "
            "dkim_domain, dkim_selector, spf_dns, received_at FROM dmarc_failure WHERE domain = :domain "
            "AND arrival_date >= :since ORDER BY arrival_date DESC, id DESC LIMIT :n OFFSET :skip"), params).mappings()]
        info = _ip_info(conn, sorted({r["source_ip"] for r in rows if r["source_ip"]}))
    for row in rows:
        row.update(geo_fields(info.get(row["source_ip"])))
    return {"domain": domain, "total": int(total or 0), "data": rows}

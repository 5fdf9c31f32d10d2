"""Read functions for SMTP TLS reports (RFC 8460) of one domain: list, per day, one day's details.

Counts are the sessions of the policies for that domain (a report may cover several domains).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, text

from mlv.queries.dmarc import pct, since_day


def _iso(ts: int | None) -> str | None:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts is not None else None


def _date(day: int) -> str:
    return datetime.fromtimestamp(int(day), UTC).date().isoformat()  # year 1 is "0001", not "1"


def _rate(success: int, fail: int) -> float:
    return pct(success, success + fail, 2)


def reports(*, engine: Engine, domain: str, days: int = 30, limit: int = 1000, offset: int = 0,
            now: float | None = None) -> dict[str, Any]:
    """GET /api/dmarc/domains/{domain}/tls-reports."""
    params = {"domain": domain, "since": since_day(days, now), "n": limit, "skip": offset}
    with engine.connect() as conn:
        total = conn.execute(text("SELECT COUNT(DISTINCT report_ref) FROM tls_report_policy WHERE domain = :domain "
                                  "AND day >= :since"), params).scalar_one()
        rows = conn.execute(text(
            "SELECT r.id, r.report_id, r.organization_name, r.start_datetime, r.end_datetime, "
            "CAST(SUM(p.successful_sessions) AS BIGINT), CAST(SUM(p.failed_sessions) AS BIGINT) "
            "FROM tls_report_policy p JOIN tls_report r ON r.id = p.report_ref "
            "WHERE p.domain = :domain AND p.day >= :since "
            "GROUP BY r.id, r.report_id, r.organization_name, r.start_datetime, r.end_datetime "
            "ORDER BY r.start_datetime DESC, r.id DESC LIMIT :n OFFSET :skip"), params).all()
    return {"domain": domain, "total": int(total or 0), "data": [
        {"id": rid, "report_id": report_id, "organization_name": org, "start_datetime": _iso(start),
         "end_datetime": _iso(end), "total_success": int(ok or 0), "total_fail": int(bad or 0),
         "success_rate": _rate(int(ok or 0), int(bad or 0))}
        for rid, report_id, org, start, end, ok, bad in rows]}


def daily(*, engine: Engine, domain: str, days: int = 30, page: int = 1, page_size: int = 20,
          now: float | None = None) -> dict[str, Any]:
    """GET /api/dmarc/domains/{domain}/tls-reports/daily: newest day first, paginated."""
    params = {"domain": domain, "since": since_day(days, now), "n": page_size, "skip": (page - 1) * page_size}
    with engine.connect() as conn:
        totals = conn.execute(text(
            "SELECT COUNT(DISTINCT day), COUNT(DISTINCT report_ref), CAST(SUM(successful_sessions) AS BIGINT), "
            "CAST(SUM(failed_sessions) AS BIGINT) FROM tls_report_policy WHERE domain = :domain AND day >= :since"),
            params).one()
        rows = conn.execute(text(
            "SELECT day, COUNT(DISTINCT report_ref), CAST(SUM(successful_sessions) AS BIGINT), "
            "CAST(SUM(failed_sessions) AS BIGINT) FROM tls_report_policy WHERE domain = :domain AND day >= :since "
            "GROUP BY day ORDER BY day DESC LIMIT :n OFFSET :skip"), params).all()
        orgs: dict[int, list[str]] = defaultdict(list)
        if rows:
            for day, org in conn.execute(text(
                    "SELECT DISTINCT p.day, r.organization_name FROM tls_report_policy p JOIN tls_report r "
                    "ON r.id = p.report_ref WHERE p.domain = :domain AND p.day >= :low AND p.day <= :high "
                    "ORDER BY p.day, r.organization_name"),
                    {"domain": domain, "low": rows[-1][0], "high": rows[0][0]}):
                orgs[int(day)].append(org)
    ok, bad = int(totals[2] or 0), int(totals[3] or 0)
    return {"domain": domain, "page": page, "page_size": page_size,
            "totals": {"total_days": int(totals[0] or 0), "total_reports": int(totals[1] or 0),
                       "total_successful_sessions": ok, "total_failed_sessions": bad,
                       "overall_success_rate": _rate(ok, bad)},
            "data": [{"date": _date(day), "report_count": int(count), "organization_count": len(orgs[int(day)]),
                      "organizations": orgs[int(day)], "total_success": int(s or 0), "total_fail": int(f or 0),
                      "success_rate": _rate(int(s or 0), int(f or 0))} for day, count, s, f in rows]}


def details(*, engine: Engine, domain: str, day: int) -> dict[str, Any]:
    """GET /api/dmarc/domains/{domain}/tls-reports/{report_date}/details."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT r.id, r.report_id, r.organization_name, r.contact_info, r.start_datetime, r.end_datetime, "
            "p.policy_type, p.domain, p.mx_host, p.successful_sessions, p.failed_sessions, p.failure_details "
            "FROM tls_report_policy p JOIN tls_report r ON r.id = p.report_ref "
            "WHERE p.domain = :domain AND p.day = :day ORDER BY r.organization_name, r.id, p.id"),
            {"domain": domain, "day": day}).all()
    providers: dict[int, dict[str, Any]] = {}
    for rid, report_id, org, contact, start, end, ptype, pdomain, mx, ok, bad, details_json in rows:
        entry = providers.setdefault(rid, {
            "report_id": report_id, "organization_name": org, "contact_info": contact,
            "start_datetime": _iso(start), "end_datetime": _iso(end), "successful_sessions": 0,
            "failed_sessions": 0, "total_sessions": 0, "success_rate": 0.0, "policies": []})
        ok, bad = int(ok), int(bad)
        entry["successful_sessions"] += ok
        entry["failed_sessions"] += bad
        entry["policies"].append({
            "policy_type": ptype, "policy_domain": pdomain, "mx_host": mx, "successful_sessions": ok,
            "failed_sessions": bad, "total_sessions": ok + bad, "success_rate": _rate(ok, bad),
            "failure_details": json.loads(details_json) if details_json else None})
    for entry in providers.values():
        entry["total_sessions"] = entry["successful_sessions"] + entry["failed_sessions"]
        entry["success_rate"] = _rate(entry["successful_sessions"], entry["failed_sessions"])
    ok = sum(p["successful_sessions"] for p in providers.values())
    bad = sum(p["failed_sessions"] for p in providers.values())
    return {"domain": domain, "date": _date(day), "stats": {
        "total_reports": len(providers), "total_providers": len({p["organization_name"] for p in providers.values()}),
        "total_success": ok, "total_fail": bad, "total_sessions": ok + bad, "success_rate": _rate(ok, bad)},
        "providers": list(providers.values())}

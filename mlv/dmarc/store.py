"""Storing parsed reports; duplicates are detected by the database.

Aggregate reports are unique on (org_name, report_id), TLS reports on (organization_name,
report_id), failure reports on a fingerprint of their content: ``INSERT … ON CONFLICT DO NOTHING``
answers "duplicate" and stores nothing twice, even when two imports race. The per-day rollup
``dmarc_daily_source`` and the source IP table are updated in the same transaction
(:mod:`mlv.dmarc.bulk`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text

from mlv.dmarc.bulk import add_ips, bulk_insert, day_of, dumps, insert_new, month_start, store_aggregates
from mlv.dmarc.geoip import GeoIP
from mlv.dmarc.limits import gc_paused
from mlv.dmarc.records import canonical_ip
from mlv.dmarc.types import AggregateReport, FailureReport, ParsedReport, TlsReport

__all__ = ["StoreResult", "day_of", "delete_older_than", "store_report", "store_reports"]

_TLS_COLUMNS = ("organization_name", "report_id", "contact_info", "start_datetime", "end_datetime", "day",
                "total_success", "total_fail", "repairs", "source", "file_name", "received_at")
_POLICY_COLUMNS = ("report_ref", "domain", "day", "policy_type", "policy_strings", "mx_host", "successful_sessions",
                   "failed_sessions", "failure_details")
_FAILURE_FIELDS = ("fingerprint", "domain", "arrival_date", "feedback_type", "reporter", "source_ip", "auth_failure",
                   "delivery_result", "original_mail_from", "original_rcpt_to", "authentication_results",
                   "dkim_domain", "dkim_selector", "dkim_identity", "spf_dns", "message_id", "subject",
                   "header_from", "sample_headers")


@dataclass
class StoreResult:
    status: str                 # success | duplicate
    kind: str                   # aggregate | tlsrpt | failure
    message: str
    report_id: int | None = None  # database id
    records_count: int = 0
    domain: str | None = None
    repairs: list[str] | None = None

    def public(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.status == "success":
            data.update(report_id=self.report_id, records_count=self.records_count)
        data.update(kind=self.kind, domain=self.domain, repairs=self.repairs or [])
        return data


def _aggregate_result(report: AggregateReport, ref: int | None) -> StoreResult:
    if ref is None:
        return StoreResult("duplicate", "aggregate", f"Report {report.report_id} already exists",
                           domain=report.domain, repairs=report.repairs)
    return StoreResult("success", "aggregate", f"Uploaded report for {report.domain} from {report.org_name}", ref,
                       len(report.records), report.domain, report.repairs)


def _store_tls(conn: Connection, report: TlsReport, source: str, file_name: str | None, now: int) -> StoreResult:
    day = day_of(report.start_datetime, report.end_datetime)
    success = sum(p.successful_sessions for p in report.policies)
    fail = sum(p.failed_sessions for p in report.policies)
    values = (report.organization_name[:500], report.report_id[:500], report.contact_info, report.start_datetime,
              report.end_datetime, day, success, fail, dumps(report.repairs), source, file_name, now)
    domains = ", ".join(report.domains)
    ref = insert_new(conn, "tls_report", _TLS_COLUMNS, values, "organization_name, report_id")
    if ref is None:
        return StoreResult("duplicate", "tlsrpt", f"TLS report {report.report_id} already exists",
                           domain=domains, repairs=report.repairs)
    bulk_insert(conn, "tls_report_policy", _POLICY_COLUMNS, [
        (ref, p.policy_domain, day, p.policy_type, dumps(p.policy_strings), ", ".join(p.mx_hosts) or None,
         p.successful_sessions, p.failed_sessions, dumps(p.failure_details)) for p in report.policies])
    return StoreResult("success", "tlsrpt", f"Uploaded TLS report for {domains} from {report.organization_name}",
                       ref, len(report.policies), domains, report.repairs)


def _store_failure(conn: Connection, report: FailureReport, source: str, geo: GeoIP | None, now: int) -> StoreResult:
    values = (*(getattr(report, k) for k in _FAILURE_FIELDS), dumps(report.repairs), source, now)
    ref = insert_new(conn, "dmarc_failure", (*_FAILURE_FIELDS, "repairs", "source", "received_at"), values,
                     "fingerprint")
    if ref is None:
        return StoreResult("duplicate", "failure", f"Failure report for {report.domain} already exists",
                           domain=report.domain, repairs=report.repairs)
    address = canonical_ip(report.source_ip) if report.source_ip else None
    if address:
        add_ips(conn, {address}, geo, now)
    return StoreResult("success", "failure", f"Uploaded failure report for {report.domain}", ref, 1,
                       report.domain, report.repairs)


def store_reports(engine: Engine, items: list[tuple[ParsedReport, str | None]], *, source: str = "cli",
                  geo: GeoIP | None = None, now: int | None = None) -> list[StoreResult]:
    """Store (report, file name) pairs in one transaction; a result per pair, in order."""
    now = int(now if now is not None else time.time())
    results: list[StoreResult | None] = [None] * len(items)
    aggregates = [(i, report, name) for i, (report, name) in enumerate(items) if isinstance(report, AggregateReport)]
    with gc_paused(), engine.begin() as conn:
        ids = store_aggregates(conn, [(report, name) for _i, report, name in aggregates], source, geo, now)
        for (index, report, _name), ref in zip(aggregates, ids, strict=True):
            results[index] = _aggregate_result(report, ref)  # type: ignore[arg-type]
        for index, (report, name) in enumerate(items):
            if isinstance(report, TlsReport):
                results[index] = _store_tls(conn, report, source, name, now)
            elif isinstance(report, FailureReport):
                results[index] = _store_failure(conn, report, source, geo, now)
    return results  # type: ignore[return-value]


def store_report(engine: Engine, report: ParsedReport, *, source: str = "upload", file_name: str | None = None,
                 geo: GeoIP | None = None, now: int | None = None) -> StoreResult:
    """Store one parsed report in its own transaction; "duplicate" when it is already there."""
    return store_reports(engine, [(report, file_name)], source=source, geo=geo, now=now)[0]


def delete_older_than(engine: Engine, days: int, *, now: float | None = None) -> dict[str, int]:
    """Retention: drop reports (and their records and rollup days) older than `days`."""
    cutoff = int((now or time.time()) - days * 86400) // 86400 * 86400
    with engine.begin() as conn:
        old = "SELECT id FROM dmarc_report WHERE day < :c"
        records = conn.execute(text(f"DELETE FROM dmarc_record WHERE report_ref IN ({old})"), {"c": cutoff}).rowcount
        reports = conn.execute(text("DELETE FROM dmarc_report WHERE day < :c"), {"c": cutoff}).rowcount
        conn.execute(text("DELETE FROM dmarc_daily_source WHERE day < :c"), {"c": cutoff})
        conn.execute(text("DELETE FROM dmarc_daily WHERE day < :c"), {"c": cutoff})
        # whole months only: a month partly inside the retention period keeps its sums
        conn.execute(text("DELETE FROM dmarc_monthly_source WHERE month < :m"), {"m": month_start(cutoff)})
        conn.execute(text("DELETE FROM dmarc_domain_source WHERE last_day < :c"), {"c": cutoff})
        conn.execute(text("DELETE FROM tls_report_policy WHERE day < :c"), {"c": cutoff})
        tls = conn.execute(text("DELETE FROM tls_report WHERE day < :c"), {"c": cutoff}).rowcount
        failures = conn.execute(text("DELETE FROM dmarc_failure WHERE arrival_date < :c"), {"c": cutoff}).rowcount
    return {"reports": reports, "records": records, "tls_reports": tls, "failures": failures}

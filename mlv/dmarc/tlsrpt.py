"""SMTP TLS reports (RFC 8460 §4): JSON with a "policies" array."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from mlv.dmarc.types import ReportError, TlsPolicy, TlsReport
from mlv.dmarc.xmlrepair import decode_xml


def _time(value: Any, what: str, notes: list[str]) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        notes.append(f"{what} written as a Unix time, not RFC 3339")
        return int(value)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        notes.append(f"{what} {value[:40]!r} is unreadable")
        return None
    if parsed.tzinfo is None:
        notes.append(f"{what} has no time zone; UTC assumed")
        return int(parsed.replace(tzinfo=UTC).timestamp())
    return int(parsed.timestamp())


def _count(value: Any, what: str, notes: list[str]) -> int:
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int):
        return max(value, 0)
    try:
        number = int(float(str(value).strip()))
    except ValueError:
        notes.append(f"{what} {str(value)[:30]!r} is not a number; counted as 0")
        return 0
    notes.append(f"{what} written as text")
    return max(number, 0)


def _str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v is not None][:1000]
    return [str(value)] if value else []


def load_json(data: bytes, notes: list[str]) -> Any:
    """JSON from bytes: BOM and bad UTF-8 repaired, text after the document ignored, nesting bounded."""
    text = decode_xml(data, notes).lstrip("\ufeff").strip()
    try:
        obj, end = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"JSON is not well-formed (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    except RecursionError:
        raise ReportError("JSON is nested too deeply") from None
    if text[end:].strip():
        notes.append(f"{len(text) - end:,} characters after the JSON document ignored")
    return obj


def parse_tlsrpt(data: bytes) -> TlsReport:
    """One TLS report; raises ReportError when it is not JSON or has no "policies" array."""
    notes: list[str] = []
    doc = load_json(data, notes)
    if not isinstance(doc, dict) or not isinstance(doc.get("policies"), list):
        raise ReportError('not a TLS-RPT report: the JSON has no "policies" array')
    date_range = doc.get("date-range") if isinstance(doc.get("date-range"), dict) else {}
    start = _time(date_range.get("start-datetime"), "start-datetime", notes)
    end = _time(date_range.get("end-datetime"), "end-datetime", notes)
    if start is None or end is None:
        raise ReportError("not a usable TLS-RPT report: no date-range")
    if start > end:
        start, end = end, start
        notes.append("start-datetime was after end-datetime; they were swapped")
    org = _str(doc.get("organization-name"))
    if not org:
        org = "unknown"
        notes.append('report has no "organization-name"')
    report_id = _str(doc.get("report-id"))
    if not report_id:
        report_id = f"{start}!{org}"
        notes.append('report has no "report-id"; start time and organization were used')
    policies: list[TlsPolicy] = []
    for index, item in enumerate(doc["policies"], 1):
        if not isinstance(item, dict):
            notes.append(f"policy {index} skipped: not an object")
            continue
        policy = item.get("policy") if isinstance(item.get("policy"), dict) else {}
        summary = item.get("summary") if isinstance(item.get("summary"), dict) else {}
        domain = (_str(policy.get("policy-domain")) or "").lower().rstrip(".")
        if not domain:
            notes.append(f"policy {index} skipped: no policy-domain")
            continue
        details = [d for d in item.get("failure-details") or [] if isinstance(d, dict)][:1000]
        policies.append(TlsPolicy(
            policy_type=(_str(policy.get("policy-type")) or "unknown").lower()[:32],
            policy_domain=domain, policy_strings=_strings(policy.get("policy-string")),
            mx_hosts=_strings(policy.get("mx-host")),
            successful_sessions=_count(summary.get("total-successful-session-count"), "successful count", notes),
            failed_sessions=_count(summary.get("total-failure-session-count"), "failure count", notes),
            failure_details=details))
    if not policies:
        raise ReportError("not a usable TLS-RPT report: no policy with a policy-domain")
    return TlsReport(organization_name=org, report_id=report_id, contact_info=_str(doc.get("contact-info")),
                     start_datetime=start, end_datetime=end, policies=policies, repairs=notes)

"""DMARC failure reports (RFC 7489 §7.3): ARF mails (RFC 5965, RFC 6591 auth-failure).

The feedback part (message/feedback-report) gives the fields; the sample (message/rfc822 or
text/rfc822-headers) gives From, Subject and Message-ID. Sample text is stored as text only,
never rendered as HTML.
"""

from __future__ import annotations

import email
import email.message
import hashlib
import time
from email.message import Message

from mlv.dmarc.headers import address_domain, header_text, header_time
from mlv.dmarc.types import FailureReport, ReportError

_FIELDS = {
    "feedback-type": "feedback_type", "source-ip": "source_ip", "auth-failure": "auth_failure",
    "delivery-result": "delivery_result", "original-mail-from": "original_mail_from",
    "original-rcpt-to": "original_rcpt_to", "authentication-results": "authentication_results",
    "dkim-domain": "dkim_domain", "dkim-selector": "dkim_selector", "dkim-identity": "dkim_identity",
    "spf-dns": "spf_dns",
}
SAMPLE_LIMIT = 16384


def _feedback_fields(part: Message) -> list[tuple[str, str]]:
    payload = part.get_payload()
    if isinstance(payload, list):  # the parser reads message/* as an embedded message
        fields: list[tuple[str, str]] = []
        for inner in payload:
            if isinstance(inner, Message):
                fields.extend((k, header_text(v)) for k, v in inner.items())
        return fields
    raw = part.get_payload(decode=True) or b""
    parsed = email.message_from_bytes(raw.lstrip(b"\r\n"))
    return [(k, header_text(v)) for k, v in parsed.items()]


def _sample(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    raw = part.get_payload(decode=True)
    return email.message_from_bytes(raw) if raw else None


def is_failure_report(msg: Message) -> bool:
    return any(p.get_content_type() == "message/feedback-report" for p in msg.walk())


def parse_failure(msg: Message) -> FailureReport:
    """The failure report in an ARF mail; raises ReportError when the mail has no feedback part."""
    feedback: list[tuple[str, str]] | None = None
    sample: Message | None = None
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/feedback-report" and feedback is None:
            feedback = _feedback_fields(part)
        elif ctype in ("message/rfc822", "text/rfc822-headers") and sample is None:
            sample = _sample(part)
    if feedback is None:
        raise ReportError("not a DMARC failure report: no message/feedback-report part")
    repairs: list[str] = []
    values: dict[str, str] = {}
    for name, value in feedback:
        key = _FIELDS.get(name.lower())
        if key and value and key not in values:
            values[key] = value[:2000]
    reported = next((v for k, v in feedback if k.lower() == "reported-domain" and v), None)
    arrival = header_time(next((v for k, v in feedback if k.lower() == "arrival-date"), None))
    sample_from = header_text(sample.get("From")) if sample is not None else ""
    domain = (reported or "").strip().lower().rstrip(".") or address_domain(sample_from)
    if not reported and domain:
        repairs.append("no Reported-Domain; the sample's From domain was used")
    if not domain:
        raise ReportError("not a usable DMARC failure report: no Reported-Domain and no sample From")
    if arrival is None:
        arrival = header_time(msg.get("Date")) or int(time.time())
        repairs.append("no readable Arrival-Date; the report's date was used")
    headers_text = ""
    if sample is not None:
        headers_text = "\n".join(f"{k}: {header_text(v, 4000)}" for k, v in sample.items())[:SAMPLE_LIMIT]
    digest = hashlib.sha256()
    for name, value in feedback:
        digest.update(f"{name.lower()}:{value}\n".encode("utf-8", "replace"))
    digest.update(headers_text.encode("utf-8", "replace"))
    source_ip = values.pop("source_ip", None)
    return FailureReport(
        fingerprint=digest.hexdigest(), domain=domain[:253], arrival_date=arrival,
        reporter=header_text(msg.get("From"), 320) or None,
        source_ip=source_ip.strip()[:45] if source_ip else None,
        message_id=header_text(sample.get("Message-ID"), 998) or None if sample is not None else None,
        subject=header_text(sample.get("Subject")) or None if sample is not None else None,
        header_from=sample_from or None, sample_headers=headers_text or None, repairs=repairs,
        **{k: v for k, v in values.items() if k in FailureReport.__dataclass_fields__},
    )

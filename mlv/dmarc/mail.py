"""Reports inside e-mails, in the MIME shapes real senders use.

Handled: attachments of any content type (application/gzip, application/zip, x-zip-compressed,
octet-stream, text/xml, application/tlsrpt+gzip ...), the report as the whole body of a
single-part mail, XML or JSON pasted in a text/plain body, forwarded mails (message/rfc822 or an
attached .eml), base64 with broken padding or stray characters, quoted-printable, uuencode, and
ARF failure reports (multipart/report; report-type=feedback-report). The content is sniffed;
names and content types are only hints.
"""

from __future__ import annotations

import email
import quopri
from collections.abc import Callable
from email.message import Message

from mlv.dmarc.failure import is_failure_report, parse_failure
from mlv.dmarc.headers import header_text
from mlv.dmarc.limits import Scope, decode_base64, sniff
from mlv.dmarc.types import Extraction, ReportError

Walk = Callable[[bytes, str, Scope, Extraction, int], None]
_SKIP_TYPES = frozenset({"text/html", "message/delivery-status", "message/disposition-notification",
                         "text/rfc822-headers", "message/feedback-report"})


def parse_message(data: bytes | Message) -> Message:
    return data if isinstance(data, Message) else email.message_from_bytes(data)


def part_bytes(part: Message, notes: list[str]) -> bytes:
    """The decoded content of one leaf part, tolerant of the encoding mistakes senders make."""
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    payload = part.get_payload()
    if not isinstance(payload, str):
        return b""
    raw = payload.encode("utf-8", "surrogateescape")
    if cte == "base64":
        return decode_base64(raw, notes=notes)
    if cte == "quoted-printable":
        return quopri.decodestring(raw)
    if cte in ("x-uuencode", "uuencode", "x-uue", "uue"):
        decoded = part.get_payload(decode=True)
        return decoded if isinstance(decoded, bytes) else raw
    return raw


def _looks_like_report(data: bytes) -> bool:
    kind = sniff(data)
    if kind in ("gzip", "zip", "bzip2", "xz", "base64"):
        return True
    head = data[:8192].lower()
    if kind == "xml":
        return b"feedback" in head
    if kind == "json":
        return b'"policies"' in data.lower()
    return False


def extract_mail(data: bytes | Message, name: str, scope: Scope, out: Extraction, depth: int, walk: Walk) -> None:
    """Every report in one e-mail into `out`; what could not be used goes to out.problems."""
    msg = parse_message(data)
    label = name or "e-mail"
    before = len(out.reports)
    problems_before = len(out.problems)
    if is_failure_report(msg):
        try:
            out.reports.append(parse_failure(msg))
        except ReportError as exc:
            out.problems.append(f"{label}: {exc}")
        return
    parts = 0
    for part in msg.walk():
        if part.is_multipart() or part.get_content_maintype() == "message":
            continue
        parts += 1
        if parts > scope.limits.max_mime_parts:
            out.problems.append(f"{label}: more than {scope.limits.max_mime_parts} MIME parts; the rest was skipped")
            break
        ctype = part.get_content_type()
        if ctype in _SKIP_TYPES or ctype.startswith(("image/", "audio/", "video/")):
            continue
        filename = header_text(part.get_filename() or part.get_param("name") or "", 255)
        try:
            content = part_bytes(part, scope.notes)
        except ReportError as exc:
            out.problems.append(f"{filename or ctype}: {exc}")
            continue
        if not content.strip():
            continue
        is_attachment = bool(filename) or not ctype.startswith("text/") or part is msg
        if ctype.startswith("text/") and not filename and not _looks_like_report(content):
            continue  # the human-readable body
        if not is_attachment and not _looks_like_report(content):
            continue
        if sniff(content) == "unknown":
            if filename or not ctype.startswith("text/"):
                out.problems.append(f"{filename or ctype}: not a report (unrecognised content)")
            continue
        walk(content, filename or f"{label} ({ctype})", scope, out, depth + 1)
    if len(out.reports) == before and len(out.problems) == problems_before:
        subject = header_text(msg.get("Subject"), 120)
        out.problems.append(f"No DMARC or TLS report found in the e-mail{f' ({subject!r})' if subject else ''}")

"""Reading the parts of an aggregate report: report_metadata, policy_published, and each <record>.

Element names are matched without namespace and case; values that are enumerations (results,
dispositions, alignment modes) are lower-cased. ``<identities>`` (an old draft's name) is read
as ``<identifiers>``. When a record lacks policy_evaluated results, they are computed from
auth_results and the published alignment modes (RFC 7489 §3.1), and the repair is counted.
"""

from __future__ import annotations

import socket
from collections import Counter
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element

from mlv.dmarc.types import AggregateRecord, PolicyPublished

_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "or", "ne", "go", "gv", "mil", "nhs"})


class Skipped(Exception):
    """A record that cannot be used (no source address, no count); the message says which and why."""


_LOCAL: dict[str, str] = {}


def _local(tag: str) -> str:
    """Element name without namespace, lower-cased (memoised: a report repeats a few dozen names)."""
    try:
        return _LOCAL[tag]
    except KeyError:
        name = (tag.rpartition("}")[2] if tag[:1] == "{" else tag).lower()
        if len(_LOCAL) < 4096:
            _LOCAL[tag] = name
        return name


def _txt(elem: Element) -> str | None:
    text = elem.text
    if text is None:
        return None
    text = text.strip()
    return text or None


def _low(elem: Element) -> str | None:
    text = _txt(elem)
    return text.lower()[:32] if text else None


def _kids(elem: Element) -> dict[str, Element]:
    out: dict[str, Element] = {}
    for child in elem:
        out.setdefault(_local(child.tag), child)
    return out


def org_domain(domain: str) -> str:
    """The organizational domain, approximated without the public suffix list (two labels, three under co.uk-like)."""
    labels = domain.lower().rstrip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def aligned(domain: str | None, header_from: str | None, mode: str | None) -> bool:
    if not domain or not header_from:
        return False
    domain, header_from = domain.lower().rstrip("."), header_from.lower().rstrip(".")
    return domain == header_from if mode == "s" else org_domain(domain) == org_domain(header_from)


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return text or None


def _enum(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return text.lower()[:32] if text else None


def _name(text: str | None) -> str | None:
    """A domain name (header_from, envelope_from/to): stripped, lower-cased, at most 253 characters."""
    if text is None:
        return None
    text = text.strip()
    return text.lower()[:253] if text else None


def _auth(elem: Element) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for child in elem:
        tag = _LOCAL.get(child.tag) or _local(child.tag)
        text = child.text
        if text is not None:
            text = text.strip() or None
        if tag == "result" or tag == "scope":
            out[tag] = text.lower()[:32] if text else None
        elif tag == "domain":
            out[tag] = text.lower()[:253] if text else None
        elif tag == "selector" or tag == "human_result":
            out[tag] = text
    return out


class _Row:
    """The fields of <row> (or of <record> itself, in drafts without <row>)."""

    __slots__ = ("count", "disposition", "dkim", "ip", "reasons", "spf")

    def __init__(self) -> None:
        self.ip = self.count = self.disposition = self.dkim = self.spf = None
        self.reasons: list[dict[str, str | None]] | None = None

    def read(self, child: Element, tag: str) -> None:
        if tag == "source_ip":
            self.ip = child.text
        elif tag == "count":
            self.count = child.text
        elif tag == "policy_evaluated":
            for item in child:
                sub = _LOCAL.get(item.tag) or _local(item.tag)
                if sub == "disposition":
                    self.disposition = item.text
                elif sub == "dkim":
                    self.dkim = item.text
                elif sub == "spf":
                    self.spf = item.text
                elif sub == "reason":
                    parts = _kids(item)
                    self.reasons = self.reasons or []
                    self.reasons.append({"type": _enum(parts["type"].text) if "type" in parts else None,
                                         "comment": _clean(parts["comment"].text) if "comment" in parts else None})


def canonical_ip(text: str) -> str | None:
    """The address in its canonical text form (RFC 5952 for IPv6), or None when it is not one."""
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    try:
        return socket.inet_ntop(family, socket.inet_pton(family, text))
    except (OSError, ValueError):
        return None


def read_record(rec: Element, index: int, policy: PolicyPublished | None, fixes: Counter[str]) -> AggregateRecord:
    row = _Row()
    header_from = envelope_from = envelope_to = None
    dkim_results: list[dict[str, str | None]] | None = None
    spf_results: list[dict[str, str | None]] | None = None
    local = _LOCAL.get
    for child in rec:
        tag = local(child.tag) or _local(child.tag)
        if tag == "row":
            for item in child:
                row.read(item, local(item.tag) or _local(item.tag))
        elif tag == "identifiers" or tag == "identities":
            for item in child:
                name = local(item.tag) or _local(item.tag)
                if name == "header_from":
                    header_from = _name(item.text)
                elif name == "envelope_from":
                    envelope_from = _name(item.text)
                elif name == "envelope_to":
                    envelope_to = _name(item.text)
        elif tag == "auth_results":
            for item in child:
                name = local(item.tag) or _local(item.tag)
                if name == "dkim":
                    if dkim_results is None:
                        dkim_results = [_auth(item)]
                    else:
                        dkim_results.append(_auth(item))
                elif name == "spf":
                    if spf_results is None:
                        spf_results = [_auth(item)]
                    else:
                        spf_results.append(_auth(item))
        else:
            row.read(child, tag)
    ip = _clean(row.ip)
    if not ip:
        raise Skipped(f"record {index} skipped: no source_ip")
    canonical = canonical_ip(ip)
    if canonical is None:
        raise Skipped(f"record {index} skipped: source_ip {ip[:60]!r} is not an IP address")
    count = _clean(row.count)
    if count is None:
        raise Skipped(f"record {index} skipped: no count")
    try:
        number = int(count)
    except ValueError:
        try:
            number = int(float(count))
        except ValueError:
            raise Skipped(f"record {index} skipped: count {count[:30]!r} is not a number") from None
        fixes["count written as a decimal number"] += 1
    if number < 0:
        raise Skipped(f"record {index} skipped: negative count {number}")
    dkim, spf = _enum(row.dkim), _enum(row.spf)
    if dkim is None or spf is None:
        fixes["records had no policy_evaluated result; it was computed from auth_results"] += 1
        if dkim is None:
            dkim = "pass" if any(d.get("result") == "pass" and aligned(d.get("domain"), header_from,
                                 policy.adkim if policy else None) for d in dkim_results or ()) else "fail"
        if spf is None:
            spf = "pass" if any(s.get("result") == "pass" and aligned(s.get("domain"), header_from,
                                policy.aspf if policy else None) for s in spf_results or ()) else "fail"
    return AggregateRecord(canonical, number, _enum(row.disposition) or "none", dkim, spf, header_from,
                           envelope_from, envelope_to, row.reasons, dkim_results, spf_results)


def _timestamp(text: str | None, notes: list[str], what: str) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = int(float(text))
        notes.append(f"date_range {what} written as a decimal number")
        return value
    except ValueError:
        pass
    try:
        value = int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
        notes.append(f"date_range {what} written as a date, not a Unix time")
        return value
    except ValueError:
        notes.append(f"date_range {what} {text[:40]!r} is unreadable")
        return None


class MetaReader:
    """report_metadata, policy_published and version, read as their elements end."""

    def __init__(self) -> None:
        self.seen = False
        self.org_name: str | None = None
        self.email: str | None = None
        self.extra_contact_info: str | None = None
        self.report_id: str | None = None
        self.begin: int | None = None
        self.end: int | None = None
        self.version: str | None = None
        self.generator: str | None = None
        self.errors: list[str] = []
        self.policy: PolicyPublished | None = None
        self.notes: list[str] = []
        self.fixes: Counter[str] = Counter()

    def read(self, tag: str, elem: Element) -> None:
        if tag == "report_metadata":
            self.seen = True
            self._metadata(elem)
        elif tag == "policy_published":
            self.seen = True
            self.policy = self._policy(elem)
        elif tag == "version":
            self.version = _txt(elem)

    def _metadata(self, elem: Element) -> None:
        for child in elem:
            tag = _local(child.tag)
            if tag in ("org_name", "email", "extra_contact_info", "report_id", "generator"):
                setattr(self, tag, _txt(child))
            elif tag == "error" and _txt(child):
                self.errors.append(_txt(child) or "")
            elif tag == "date_range":
                parts = _kids(child)
                begin, end = parts.get("begin"), parts.get("end")
                self.begin = _timestamp(_txt(begin) if begin is not None else None, self.notes, "begin")
                self.end = _timestamp(_txt(end) if end is not None else None, self.notes, "end")

    def _policy(self, elem: Element) -> PolicyPublished:
        values: dict[str, Any] = {}
        for child in elem:
            tag = _local(child.tag)
            if tag in ("domain", "adkim", "aspf", "p", "sp", "np", "fo", "testing", "discovery_method"):
                values[tag] = _low(child) if tag != "domain" else (_txt(child) or "").lower().rstrip(".")
            elif tag == "pct" and _txt(child):
                try:
                    values["pct"] = int(float(_txt(child) or ""))
                except ValueError:
                    self.notes.append(f"policy_published pct {_txt(child)!r} is not a number; ignored")
        values.setdefault("domain", "")
        return PolicyPublished(**values)

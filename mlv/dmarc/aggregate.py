"""DMARC aggregate reports (RFC 7489 appendix C, RFC 9990, and the older drafts seen in the wild).

Safety: defusedxml reads the prolog (the only place a DTD or entity can be declared) with DTDs,
entities and external references forbidden; only then does the C parser stream the body, at most
``max_xml_depth`` levels deep, one <record> at a time. Namespaces (none, dmarc-2.0, or a prefix)
and the case of element names do not matter.

Recovery: broken XML is repaired by :mod:`mlv.dmarc.xmlrepair`; if it is still broken, the records
before the break are kept. Missing metadata is taken from the file name
(``receiver!domain!begin!end``) or the records. Every such step is listed in ``repairs``.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from mlv.dmarc.limits import Limits, gc_paused
from mlv.dmarc.records import _LOCAL, MetaReader, Skipped, _local, read_record
from mlv.dmarc.types import AggregateRecord, AggregateReport, PolicyPublished, ReportError
from mlv.dmarc.xmlrepair import repair_xml

CHUNK = 64 * 1024


class _RootSeen(Exception):
    pass


class _StopAtRoot:
    def start(self, tag: str, attrib: dict[str, str]) -> None:
        raise _RootSeen

    def end(self, tag: str) -> None:
        pass

    def data(self, data: str) -> None:
        pass

    def close(self) -> None:
        return None


def check_prolog(data: bytes) -> None:
    """defusedxml over everything before the root element: no DTD, no entities, no external references."""
    parser = DefusedXMLParser(target=_StopAtRoot(), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        for pos in range(0, len(data), 65536):
            parser.feed(data[pos:pos + 65536])
        parser.close()
    except _RootSeen:
        return
    except DefusedXmlException as exc:
        raise ReportError(f"XML refused: document type declarations and entities are not allowed ({exc})") from None
    except ET.ParseError:
        return  # the main parse reports (or repairs) it


class _Partial:
    def __init__(self) -> None:
        self.meta = MetaReader()
        self.records: list[AggregateRecord] = []
        self.skipped: list[str] = []
        self.error: ET.ParseError | None = None


def _events(data: bytes) -> Iterator[list[tuple[str, ET.Element]]]:
    """(event, element) batches of the C parser, 64 KiB of input at a time.

    XMLPullParser hands them over one by one through a generator; the C parser's own event list
    (what XMLPullParser reads, CPython ≥ 3.4) is about 20% faster on big reports.
    """
    parser = ET.XMLParser(target=ET.TreeBuilder())
    if not hasattr(parser, "_setevents"):
        pull = ET.XMLPullParser(events=("start", "end"))
        for pos in range(0, len(data), CHUNK):
            pull.feed(data[pos:pos + CHUNK])
            yield list(pull.read_events())
        pull.close()
        yield list(pull.read_events())
        return
    events: list[tuple[str, ET.Element]] = []
    parser._setevents(events, ("start", "end"))
    steps = [functools.partial(parser.feed, data[pos:pos + CHUNK]) for pos in range(0, len(data), CHUNK)]
    for step in [*steps, parser.close]:
        try:
            step()
        except ET.ParseError:
            yield events  # the elements before the error still count
            raise
        yield events
        events.clear()


def _parse_tree(data: bytes, limits: Limits) -> _Partial:
    check_prolog(data)
    out = _Partial()
    max_depth = limits.max_xml_depth
    records, skipped, meta = out.records, out.skipped, out.meta
    try:
        with gc_paused():
            events = itertools.chain.from_iterable(_events(data))
            first = next(events, None)
            if first is None:
                return out
            root = first[1]
            if _local(root.tag) != "feedback":
                raise ReportError(f"not a DMARC aggregate report: the root element is <{_local(root.tag)[:40]}>, "
                                  "not <feedback>")
            depth = 1
            for event, elem in events:
                if event == "start":
                    depth += 1
                    if depth > max_depth:
                        raise ReportError(f"XML is nested more than {max_depth} levels deep")
                    continue
                depth -= 1
                if depth != 1:
                    continue
                tag = _LOCAL.get(elem.tag) or _local(elem.tag)
                if tag == "record":
                    try:
                        records.append(read_record(elem, len(records) + len(skipped) + 1, meta.policy, meta.fixes))
                    except Skipped as why:
                        skipped.append(str(why))
                else:
                    meta.read(tag, elem)
                root.clear()
    except ET.ParseError as exc:
        out.error = exc
    return out


def parse_aggregate(data: bytes, *, limits: Limits | None = None, filename: str = "") -> AggregateReport:
    """One aggregate report from XML bytes; raises ReportError when nothing usable is in it."""
    limits = limits or Limits()
    repairs: list[str] = []
    part = _parse_tree(data, limits)
    if part.error is not None:
        fixed, notes = repair_xml(data)
        second = _parse_tree(fixed, limits)
        if second.error is None or len(second.records) >= len(part.records):
            part = second
            repairs.extend(notes)
    if part.error is not None:
        line, column = part.error.position
        if not part.meta.seen:
            raise ReportError(f"XML is not well-formed (line {line}, column {column}): {part.error}")
        repairs.append(f"XML is broken at line {line}, column {column} ({part.error}); "
                       f"the {len(part.records):,} complete records before it were kept")
    return _finish(part, data, filename, repairs)


def _from_filename(filename: str) -> tuple[str | None, str | None, int | None, int | None]:
    """receiver!domain!begin!end[!id].ext, the naming RFC 7489 §7.2.1.1 recommends."""
    name = filename.rsplit("/", 1)[-1]
    parts = name.split("!")
    if len(parts) < 4:
        return None, None, None, None
    end = parts[3].split(".", 1)[0]
    try:
        return parts[0] or None, parts[1].lower() or None, int(parts[2]), int(end)
    except ValueError:
        return parts[0] or None, parts[1].lower() or None, None, None


def _finish(part: _Partial, data: bytes, filename: str, repairs: list[str]) -> AggregateReport:
    meta = part.meta
    repairs.extend(meta.notes)
    repairs.extend(f"{n:,} {what}" for what, n in meta.fixes.items())
    receiver, file_domain, file_begin, file_end = _from_filename(filename)
    policy = meta.policy or PolicyPublished(domain="")
    if not policy.domain:
        froms = Counter(r.header_from for r in part.records if r.header_from)
        if froms:
            policy.domain = froms.most_common(1)[0][0]
            repairs.append("policy_published has no domain; the records' header_from was used")
        elif file_domain:
            policy.domain = file_domain
            repairs.append("policy_published has no domain; the file name's domain was used")
        else:
            raise ReportError("not a usable DMARC aggregate report: no policy_published domain")
    begin, end = meta.begin, meta.end
    if begin is None or end is None:
        if file_begin is None or file_end is None:
            raise ReportError("not a usable DMARC aggregate report: no date_range")
        begin, end = file_begin, file_end
        repairs.append("report has no date_range; the file name's dates were used")
    if begin > end:
        begin, end = end, begin
        repairs.append("date_range begin was after end; they were swapped")
    org = meta.org_name
    if not org:
        email_domain = (meta.email or "").rpartition("@")[2]
        org = email_domain or receiver or "unknown"
        repairs.append(f"report has no org_name; {org!r} was used")
    report_id = meta.report_id
    if not report_id:
        report_id = "sha256:" + hashlib.sha256(data).hexdigest()[:40]
        repairs.append("report has no report_id; a digest of its content was used")
    if part.skipped:
        shown = part.skipped[:20]
        more = len(part.skipped) - len(shown)
        repairs.extend(shown + ([f"... and {more:,} more records skipped"] if more else []))
    if not part.records:
        repairs.append("report has no usable records")
    return AggregateReport(org_name=org, email=meta.email, report_id=report_id, date_begin=begin, date_end=end,
                           policy=policy, records=part.records, extra_contact_info=meta.extra_contact_info,
                           version=meta.version, generator=meta.generator, errors=meta.errors, repairs=repairs)

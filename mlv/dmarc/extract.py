"""From any input (a file, an upload, an IMAP mail) to the reports inside it.

The kind is sniffed from magic bytes, never trusted from names; containers (gzip, zip, bzip2, xz,
base64, e-mails) are opened within one decompression budget, at most ``max_depth`` levels deep.
"""

from __future__ import annotations

from email.message import Message

from mlv.dmarc.aggregate import parse_aggregate
from mlv.dmarc.limits import Limits, Scope, bunzip2, decode_base64, gunzip, sniff, unxz, unzip
from mlv.dmarc.mail import extract_mail
from mlv.dmarc.tlsrpt import parse_tlsrpt
from mlv.dmarc.types import Extraction, InputTooLarge, ReportError, ReportTooLarge

_SUFFIXES = {"gzip": (".gz", ".gzip"), "bzip2": (".bz2",), "xz": (".xz",), "base64": (".b64", ".base64")}


def _inner_name(name: str, kind: str) -> str:
    for suffix in _SUFFIXES.get(kind, ()):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _walk(data: bytes, name: str, scope: Scope, out: Extraction, depth: int) -> None:
    label = name or "input"
    if depth > scope.limits.max_depth:
        out.problems.append(f"{label}: containers nested more than {scope.limits.max_depth} levels deep")
        return
    kind = sniff(data)
    try:
        if kind == "gzip":
            _walk(gunzip(data, scope), _inner_name(name, kind), scope, out, depth + 1)
        elif kind == "bzip2":
            _walk(bunzip2(data, scope), _inner_name(name, kind), scope, out, depth + 1)
        elif kind == "xz":
            _walk(unxz(data, scope), _inner_name(name, kind), scope, out, depth + 1)
        elif kind == "zip":
            members = unzip(data, scope)
            if not members:
                out.problems.append(f"{label}: the ZIP archive holds no readable file")
            for member, content in members:
                _walk(content, member, scope, out, depth + 1)
        elif kind == "base64":
            scope.notes.append(f"{label} was base64 text; decoded")
            _walk(decode_base64(data, notes=scope.notes), _inner_name(name, kind), scope, out, depth + 1)
        elif kind == "xml":
            out.reports.append(parse_aggregate(data, limits=scope.limits, filename=name))
        elif kind == "json":
            out.reports.append(parse_tlsrpt(data))
        elif kind == "email":
            extract_mail(data, name, scope, out, depth, _walk)
        else:
            out.problems.append(f"{label}: not a DMARC or TLS report (not XML, JSON, an e-mail or an archive)")
    except ReportTooLarge:
        raise
    except ReportError as exc:
        out.problems.append(f"{label}: {exc}" if name else str(exc))


def extract_reports(data: bytes | Message, *, filename: str = "", limits: Limits | None = None) -> Extraction:
    """Every report in `data`. Raises ReportError (with the reasons) when there is none, and
    ReportTooLarge when a size, ratio or member limit is crossed anywhere inside."""
    limits = limits or Limits()
    scope = Scope(limits)
    out = Extraction()
    if isinstance(data, Message):
        extract_mail(data, filename, scope, out, 0, _walk)
    else:
        is_mail = sniff(data) == "email"
        limit = limits.max_email_bytes if is_mail else limits.max_file_bytes
        if len(data) > limit:
            raise InputTooLarge(f"{'e-mail' if is_mail else 'file'} is {len(data):,} bytes; "
                                 f"the limit is {limit:,} bytes")
        _walk(data, filename, scope, out, 0)
    for report in out.reports:
        report.repairs[:0] = scope.notes
    if not out.reports:
        raise ReportError(summarise(out.problems) or "no report found")
    return out


def summarise(problems: list[str], shown: int = 5) -> str:
    """The reasons in one readable sentence: an e-mail with 200 junk parts must not give 200 of them."""
    text = "; ".join(problems[:shown])
    if len(problems) > shown + 1:
        text += f"; and {len(problems) - shown - 1:,} more; last: {problems[-1]}"
    elif len(problems) > shown:
        text += f"; {problems[-1]}"
    return text

"""Read plain Postfix/Dovecot syslog files (for ``mlv import-log``) as mailcow-shaped items.

Each mail line becomes ``{"time": "<unix seconds>", "priority": ..., "program": "postfix/smtpd",
"message": ..., "source": "postfix"|"dovecot"}`` - the shape of mailcow's ``logs/postfix`` and
``logs/dovecot`` items (plus ``source``), so the same parsers handle both.

Two stamp styles are understood: classic BSD syslog ``Aug  1 09:30:12 host prog[pid]: msg``
(no year, local time of ``tz``) and RFC 3339 ``2026-08-01T09:30:12.123456+02:00 host prog[pid]: msg``.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from os import PathLike
from zoneinfo import ZoneInfo

_TAIL = r" (?P<host>\S+) (?P<tag>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?: (?P<msg>.*)"
_CLASSIC_RE = re.compile(
    r"(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<hh>\d\d):(?P<mi>\d\d):(?P<ss>\d\d)(?:\.\d+)?" + _TAIL, re.S
)
_RFC3339_RE = re.compile(
    r"(?P<ts>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|z|[+-]\d\d:?\d\d)?)" + _TAIL, re.S
)
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}

# Daemons that identify a Postfix line even under a non-"postfix" syslog_name
# (mailcow's enforced-tls-smtp/smtp, haproxy/postscreen).
_POSTFIX_DAEMONS = frozenset({
    "smtpd", "smtp", "lmtp", "postscreen", "dnsblog", "cleanup", "qmgr", "pickup", "bounce", "local",
    "virtual", "pipe", "error", "discard", "anvil", "scache", "tlsproxy", "master", "postsuper",
    "trivial-rewrite", "verify", "showq", "postdrop", "sendmail", "tlsmgr", "flush", "proxymap",
    "postfix-script", "postmap", "postqueue", "spawn", "oqmgr", "retry", "defer", "trace",
})
_DOVECOT_LEVELS = (("Warning: ", "warning"), ("Error: ", "err"), ("Fatal: ", "crit"), ("Panic: ", "crit"))


def _zone(tz: tzinfo | str | None) -> tzinfo:
    if tz is None:
        return UTC
    if isinstance(tz, str):
        return ZoneInfo(tz)
    return tz


def source_of(tag: str) -> str | None:
    """``postfix`` / ``dovecot`` for a syslog tag (without ``[pid]``), None for other programs."""
    first, slash, _rest = tag.partition("/")
    if first.startswith("postfix"):
        return "postfix"
    if first.startswith("dovecot"):
        return "dovecot"
    if slash and tag[tag.rfind("/") + 1:] in _POSTFIX_DAEMONS:
        return "postfix"
    return None


def _priority(msg: str, source: str) -> str:
    if msg.startswith("warning: "):
        return "warning"
    if msg.startswith("error: "):
        return "err"
    if msg.startswith(("fatal: ", "panic: ")):
        return "crit"
    if source == "dovecot":
        # "imap(user)<pid><sess>: Error: ..." / "master: Warning: ..." / "Fatal: ..."
        for word, level in _DOVECOT_LEVELS:
            if msg.startswith(word) or (": " + word) in msg:
                return level
    return "info"


class _Clock:
    """Local wall time -> unix seconds, cached per minute (zoneinfo lookups are the slow part)."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._cache: dict[tuple[int, int, int, int, int], int] = {}

    def epoch(self, year: int, mon: int, day: int, hh: int, mi: int, ss: int) -> int | None:
        key = (year, mon, day, hh, mi)
        base = self._cache.get(key)
        if base is None:
            try:
                base = int(datetime(year, mon, day, hh, mi, tzinfo=self.tz).timestamp())
            except ValueError:  # Feb 29 in a common year, hour 25, ...
                return None
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = base
        return base + ss


def _item(m: re.Match[str], ts: int) -> dict | None:
    tag = m.group("tag")
    source = source_of(tag)
    if source is None:
        return None
    msg = m.group("msg")
    return {"time": str(ts), "priority": _priority(msg, source), "program": tag, "message": msg, "source": source}


def _classic_fields(m: re.Match[str]) -> tuple[int, int, int, int, int] | None:
    mon = _MONTHS.get(m.group("mon"))
    if mon is None:
        return None
    return mon, int(m.group("day")), int(m.group("hh")), int(m.group("mi")), int(m.group("ss"))


def _rfc3339_epoch(stamp: str, tz: tzinfo) -> int | None:
    stamp = stamp.replace(",", ".")
    if stamp[-1:] in "zZ":
        stamp = stamp[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return int(dt.timestamp())


def parse_syslog_line(line: str, *, year: int, tz: tzinfo | str | None, _clock: _Clock | None = None) -> dict | None:
    """One syslog line -> a mailcow-shaped item, or None for non-mail or unparsable lines.

    ``year`` completes classic stamps (they carry none); ``tz`` is the zone they were written
    in (a tzinfo or a zone name) and the zone for RFC 3339 stamps without an offset.
    """
    line = line.rstrip("\r\n")
    zone = _zone(tz)
    if line[:1].isdigit():
        m = _RFC3339_RE.match(line)
        if m is None:
            return None
        ts = _rfc3339_epoch(m.group("ts"), zone)
    else:
        m = _CLASSIC_RE.match(line)
        if m is None:
            return None
        f = _classic_fields(m)
        if f is None:
            return None
        ts = (_clock or _Clock(zone)).epoch(year, *f)
    if ts is None:
        return None
    return _item(m, ts)


def _open_lines(path: str | PathLike[str]) -> Iterator[bytes]:
    with open(path, "rb") as raw:
        magic = raw.read(2)
        raw.seek(0)
        if magic == b"\x1f\x8b":  # gzip, whatever the file is called
            with gzip.GzipFile(fileobj=raw) as gz:
                yield from gz
        else:
            yield from raw


def iter_syslog_file(path: str | PathLike[str], *, tz: tzinfo | str | None,
                     now: datetime | None = None, stats: dict[str, int] | None = None) -> Iterator[dict]:
    """Yield the mail items of a syslog file (plain or gzip, detected by magic bytes) in file order.

    Classic stamps get a year: that of ``now`` (default: the current time), the previous one
    if the first stamp would lie more than a day in the future, and one more each time the
    months jump backwards (Dec -> Jan) while reading. Invalid UTF-8 is replaced, never fatal.
    Lines that are not mail log lines are counted in ``stats["ignored"]`` when given.
    """
    stats = stats if stats is not None else {}
    stats.setdefault("ignored", 0)
    zone = _zone(tz)
    if now is None:
        now = datetime.now(zone)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=zone)
    limit = now.timestamp() + timedelta(days=1).total_seconds()
    clock = _Clock(zone)
    year: int | None = None
    last_mon = 0
    for raw in _open_lines(path):
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            continue
        if line[0].isdigit():
            item = parse_syslog_line(line, year=now.year, tz=zone, _clock=clock)
            if item is not None:
                yield item
            else:
                stats["ignored"] += 1
            continue
        m = _CLASSIC_RE.match(line)
        if m is None:
            stats["ignored"] += 1
            continue
        f = _classic_fields(m)
        if f is None:
            stats["ignored"] += 1
            continue
        mon = f[0]
        if year is None:
            year = now.year
            ts = clock.epoch(year, *f)
            if ts is not None and ts > limit:
                year -= 1
        elif mon < last_mon and last_mon - mon >= 6:
            year += 1  # the log crossed New Year
        last_mon = mon
        ts = clock.epoch(year, *f)
        if ts is None:
            stats["ignored"] += 1
            continue
        item = _item(m, ts)
        if item is not None:
            yield item
        else:
            stats["ignored"] += 1

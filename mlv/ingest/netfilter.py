"""Parse one mailcow ``logs/netfilter`` item (the fail2ban-like banning daemon) into a record.

Items are ``{"time": 1785576700, "priority": "info|warn|crit", "message": "..."}``. The
messages are fixed templates (mailcow-api.md §6); addresses may be IPv4 or IPv6 (the
original tool only looked for IPv4). The original log line quoted in a ``matched rule id``
warning went through syslog-ng's ``$(sanitize)``, so ``/`` (and control characters) appear
as ``_`` there.
"""

from __future__ import annotations

import ipaddress
import re

from mlv.ingest.postfix import MAX_MESSAGE, clean_text, coerce_unix_time
from mlv.ingest.records import NetfilterRecord, ParseError

_MATCHED_RE = re.compile(r"(?P<ip>\S+) matched rule id (?P<rule>\d+) \((?P<line>.*)\)$", re.S)
_ATTEMPTS_RE = re.compile(r"(?P<n>-?\d+) more attempts? in the next (?P<secs>\d+) seconds until (?P<net>\S+) is banned")
_BANNING_RE = re.compile(r"Banning (?P<net>\S+) for (?P<mins>\d+) minutes?")
_LIST_CHANGE_RE = re.compile(r"(?:Added|Removed) host/network (?P<net>\S+) (?:to|from) (?P<list>\w+)")
_LISTED_RE = re.compile(r"Address (?P<net>\S+) is (?P<list>\w+?)ed by rule (?P<rule>\S+)")
_NOT_BANNED_RE = re.compile(r"(?P<net>\S+) is not banned")
# Maximal runs of address characters (the lookbehind keeps this linear on long lines);
# each run is validated with ipaddress afterwards.
_IP_CANDIDATE_RE = re.compile(r"(?<![0-9A-Fa-f:.])[0-9A-Fa-f:.]{7,}")

_LISTS = {"denylist": "denylist", "blacklist": "denylist", "allowlist": "allowlist", "whitelist": "allowlist"}

# mailcow's default rule ids, used when the quoted line itself does not tell the service.
_RULE_METHODS = {1: "mailcow UI", 2: "Rspamd UI", 3: "SASL", 6: "dovecot", 7: "dovecot", 8: "SOGo", 9: "SOGo"}

_SASL_RE = re.compile(r"SASL (\w+) authentication failed")
# Bounded repeats: an unterminated "user=<" must not make the search quadratic.
_USERNAME_RES = (
    re.compile(r"sasl_username=([^\s,)]+)"),
    re.compile(r"user=<([^>]{1,320})>"),
    re.compile(r"Invalid password for (\S+) by "),
    re.compile(r"for user '([^']{1,320})'"),  # SOGo: Login from 'ip' for user 'x' might not have worked
    re.compile(r"\b(?:passwd-file|sql|ldap|lua|pam|passwd|shadow|static|checkpassword)\(([^,()]+),"),
)
_DOVECOT_SERVICE_RE = re.compile(r"\b(imap|pop3|managesieve|submission|lmtp)(?:-login)?:")


def _ip(text: str) -> str | None:
    """The address if ``text`` is a plain IPv4/IPv6 address, else None."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _host_of(net: str) -> str | None:
    """The single host of ``198.51.100.77/32`` / ``2001:db8::9/128`` (or a bare address)."""
    addr, slash, plen = net.partition("/")
    ip = _ip(addr)
    if ip is None:
        return None
    if not slash:
        return ip
    full = "32" if "." in ip else "128"
    return ip if plen == full else None


def _first_ip(text: str) -> str | None:
    for m in _IP_CANDIDATE_RE.finditer(text):
        cand = m.group(0).strip(".:")
        if cand.count(".") == 3 or cand.count(":") >= 2:
            ip = _ip(cand)
            if ip is not None:
                return ip
    return None


def _auth_method(line: str, rule_id: int | None) -> str | None:
    if line.startswith("mailcow UI"):
        return "mailcow UI"
    if line.startswith("Rspamd UI"):
        return "Rspamd UI"
    m = _SASL_RE.search(line)
    if m is not None:
        return "SASL " + m.group(1)
    if "SOGo" in line:  # "SOGo... Login from" failures and '"GET _SOGo_..." 403' lines
        return "SOGo"
    if "-login:" in line or "Password mismatch" in line or "unknown user" in line or "auth-worker" in line:
        m = _DOVECOT_SERVICE_RE.search(line)
        return f"dovecot {m.group(1)}" if m is not None else "dovecot"
    return _RULE_METHODS.get(rule_id) if rule_id is not None else None


def _username(line: str) -> str | None:
    for rx in _USERNAME_RES:
        m = rx.search(line)
        if m is not None:
            return m.group(1)
    return None


def parse_netfilter(item: object) -> NetfilterRecord:
    """Turn one ``logs/netfilter`` item into a :class:`NetfilterRecord`.

    ``action`` is ``warning`` (a matched rule, or "N more attempts"), ``banned``, ``unbanned``,
    ``denylist``/``allowlist`` (list changes, an allow-listed hit; old whitelist/blacklist
    wording included) or ``info``. Raises :class:`ParseError` for malformed items.
    """
    if not isinstance(item, dict):
        raise ParseError("item is not an object")
    message = item.get("message")
    if not isinstance(message, str):
        raise ParseError("message missing or not a string")
    if len(message) > MAX_MESSAGE:
        raise ParseError("message too long")
    t = coerce_unix_time(item.get("time"))
    priority = item.get("priority")
    if priority is None or priority == "":
        priority = "info"
    elif not isinstance(priority, str):
        raise ParseError("priority is not a string")
    msg = clean_text(message)
    rec = NetfilterRecord(t, clean_text(priority), msg)
    _classify(rec, msg)
    return rec


def _int32(text: str) -> int | None:
    """A number from the line if it fits an INTEGER column, else None (the line is still kept)."""
    if len(text.lstrip("-")) > 10:  # int() also refuses strings of more than 4300 digits
        return None
    value = int(text)
    return value if -(2**31) <= value < 2**31 else None


def _classify(rec: NetfilterRecord, msg: str) -> None:
    if " matched rule id " in msg:
        m = _MATCHED_RE.match(msg)
        if m is not None:
            rec.action = "warning"
            rec.rule_id = _int32(m.group("rule"))
            line = m.group("line")
            rec.ip = _ip(m.group("ip")) or _first_ip(line)
            rec.username = _username(line)
            rec.auth_method = _auth_method(line, rec.rule_id)
            return
    if " more attempt" in msg:
        m = _ATTEMPTS_RE.match(msg)
        if m is not None:
            rec.action = "warning"
            rec.attempts_left = _int32(m.group("n"))
            rec.network = m.group("net")
            rec.ip = _host_of(rec.network)
            return
    if msg.startswith("Banning "):
        m = _BANNING_RE.match(msg)
        if m is not None:
            rec.action = "banned"
            rec.network = m.group("net")
            rec.ban_minutes = _int32(m.group("mins"))
            rec.ip = _host_of(rec.network)
            return
    if msg.startswith("Unbanning "):
        rec.action = "unbanned"
        rec.network = msg[10:].strip()
        rec.ip = _host_of(rec.network)
        return
    if msg.startswith(("Added host/network ", "Removed host/network ")):
        m = _LIST_CHANGE_RE.match(msg)
        if m is not None and m.group("list").lower() in _LISTS:
            rec.action = _LISTS[m.group("list").lower()]
            rec.network = m.group("net")
            rec.ip = _host_of(rec.network)
            return
    if msg.startswith("Address "):
        m = _LISTED_RE.match(msg)
        if m is not None and m.group("list").lower() in _LISTS:
            rec.action = _LISTS[m.group("list").lower()]
            rec.ip = _host_of(m.group("net")) or _ip(m.group("net").partition("/")[0])
            rec.network = m.group("rule")
            return
    first = msg.split(" ", 1)[0].lower()
    if first in _LISTS and " was changed" in msg:
        rec.action = _LISTS[first]
        return
    m = _NOT_BANNED_RE.match(msg)
    if m is not None:
        rec.network = m.group("net")
        rec.ip = _host_of(rec.network)

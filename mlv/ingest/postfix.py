"""Parse one mailcow ``logs/postfix`` item into a :class:`PostfixRecord`.

The parser is pure (no I/O, no state) and built for throughput: it decides the daemon from
the last component of ``program`` (``postfix/submission/smtpd``, ``postfix-1.2.3.4/smtpd``,
``enforced-tls-smtp/smtp`` and ``haproxy/postscreen`` all end in the real daemon name),
splits off the queue id with one ``find`` and then dispatches on the first word, so a line
costs a couple of ``startswith`` tests and at most one or two precompiled regexes.

Kinds (``PostfixRecord.kind``) produced here:

==================  ===================================================================
client              ``QID: client=host[ip]`` (+ sasl_method/sasl_username, orig_*)
pickup              ``QID: uid=N from=<x>`` (local submission)
message_id          cleanup ``QID: message-id=<x>``
resent_message_id   cleanup ``QID: resent-message-id=<x>`` (value in extra, not message_id)
qmgr                ``QID: from=<x>, size=N, nrcpt=N (queue active)``
expired             ``QID: from=<x>, status=expired, returned to sender`` (status expired)
delivery            ``QID: to=<x>, relay=..., status=WORD (...)`` (status = Postfix's word)
removed             ``QID: removed`` (qmgr after the last recipient, or postsuper -d)
reject              smtpd/postscreen/cleanup ``reject|discard|hold|reject_warning|proxy-reject``
milter_reject       ``milter-reject|milter-discard|milter-hold`` (rspamd's verdicts)
action              non-terminal access/header actions (filter, redirect, prepend, info, ...)
bounce_notice       bounce ``QID: sender non-delivery notification: NEWQID``
connect/disconnect  smtpd ``connect from`` / ``disconnect from`` (+ command counters)
lost_connection     smtpd ``lost connection|timeout|too many errors after STAGE from``
tls                 TLS established lines, SSL_accept errors, certificate failures
relay_error         smtp/lmtp client trouble: ``host X said``, ``connect to``, lost connection
postscreen          postscreen CONNECT/PASS/DNSBL/PREGREET/HANGUP/DISCONNECT/...
dnsblog             ``addr IP listed by domain D as R``
anvil               anvil statistics
postsuper           postsuper actions other than removal, and its summaries
master              master / postfix-script start, stop, reload
warning / error     ``warning:`` / ``error:|fatal:|panic:`` lines
other               anything else (still a record)
==================  ===================================================================

Statuses: delivery lines keep Postfix's word (sent, deferred, bounced, expired,
undeliverable, undeliverable-but-not-cached, ...); qmgr expiry is ``expired``; reject kinds
use ``rejected`` (reject, milter-reject, proxy-reject), ``discarded`` (discard, milter-discard),
``held`` (hold, milter-hold) and ``None`` for ``reject_warning`` (nothing was rejected).
"""

from __future__ import annotations

import math
import re

from mlv.ingest.records import ParseError, PostfixRecord

# Syslog-ng's default log-msg-size is 64 KiB, so anything longer did not come from mailcow.
MAX_MESSAGE = 65536
MAX_TIME = 253402300799  # 9999-12-31 23:59:59 UTC: later stamps are garbage and overflow dates

# Short ids: 5 hex digits of microseconds + the inode in hex. Long ids (enable_long_queue_ids):
# base-52 seconds and microseconds, a 'z', then the base-51 inode; the alphabet has no vowels,
# which keeps English words like "statistics" from looking like a queue id.
_QID_RE = re.compile(
    r"[0-9A-F]{6,}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}z[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-y]+"
)
_LEVEL_PREFIXES = ("warning: ", "error: ", "fatal: ", "panic: ")

_DELIVERY_RE = re.compile(
    r"to=(?:<(?P<to>[^>]*)>|(?P<to2>[^,]*)), "
    r"(?:orig_to=(?:<(?P<orig>[^>]*)>|(?P<orig2>[^,]*)), )?"
    r"relay=(?P<relay>[^,]*), "
    r"(?:conn_use=(?P<conn_use>\d+), )?"
    r"delay=(?P<delay>[0-9.]+), delays=(?P<delays>[0-9./]+), "
    r"(?:tls=(?P<tls>[^,]*), )?"
    r"dsn=(?P<dsn>[0-9.]+), status=(?P<status>\S+)(?: (?P<reason>.*))?",
    re.S,
)
# Fallback for delivery lines with keys this Postfix version did not have yet.
_KV_ITEM_RE = re.compile(r"(\w+)=(?:<([^>]*)>|([^,]*))(?:, |$)")
_RELATED_RE = re.compile(r"(?:queued|forwarded) as ([0-9A-Za-z]+)")
_QMGR_RE = re.compile(
    r"from=<(?P<from>.*)>, (?:size=(?P<size>\d+), nrcpt=(?P<nrcpt>\d+) \(queue active\)"
    r"|status=(?P<status>\w+), returned to sender)$",
    re.S,
)
_BOUNCE_RE = re.compile(r"(\S+) (.+?) notification: (\S+)$")

# "STAGE from host[ip]:port: text" - the head of smtpd/postscreen/cleanup action lines.
_ACT_HEAD_RE = re.compile(
    r"(?P<stage>[A-Z][A-Z-]*|\.) from (?P<host>[^\s\[]*)\[(?P<ip>[^\]]*)\](?::(?P<port>\d+))?: (?P<text>.*)",
    re.S,
)
# "550 5.1.1 <x>: message" / "Service unavailable; client [x] blocked using ..." / "5.7.1 text"
_REPLY_RE = re.compile(
    r"(?:(?P<code>\d{3})[ -])?(?:(?P<dsn>\d\.\d{1,3}\.\d{1,3}) )?"
    r"(?:<(?P<data>[^>]*)>: |Service unavailable; [^\[;]*\[(?P<data2>[^\]]*)\] )?(?P<msg>.*)",
    re.S,
)
_KV_TAIL_RE = re.compile(
    r"(?:from=<(?P<from>[^>]*)>[, ]*)?(?:to=<(?P<to>[^>]*)>[, ]*)?(?:proto=(?P<proto>[^\s,:]+)[, ]*)?"
    r"(?:helo=<(?P<helo>[^>]*)>)?(?:: (?P<tail>.*))?$",
    re.S,
)
_ACTIONS = frozenset({
    "reject", "reject_warning", "discard", "hold", "filter", "redirect", "prepend", "replace",
    "warning", "info", "bcc", "proxy-accept", "proxy-reject", "strip",
})
_STATUS_BY_ACTION = {
    "reject": "rejected", "milter-reject": "rejected", "proxy-reject": "rejected",
    "discard": "discarded", "milter-discard": "discarded", "hold": "held", "milter-hold": "held",
}
_KIND_BY_ACTION = {
    "reject": "reject", "discard": "reject", "hold": "reject", "reject_warning": "reject",
    "proxy-reject": "reject", "milter-reject": "milter_reject", "milter-discard": "milter_reject",
    "milter-hold": "milter_reject",
}

_LOSTCONN_RE = re.compile(
    r"(?P<what>[^\[]+?) after (?P<stage>\S+)(?: \(\d+ bytes\))? from (?P<host>[^\s\[]*)\[(?P<ip>[^\]]*)\]"
    r"(?::(?P<port>\d+))?(?:: (?P<tail>.*))?$",
    re.S,
)
_TLS_RE = re.compile(
    r"(?P<trust>\w+) TLS connection established (?P<dir>to|from) (?P<peer>\S*?\[[^\]]*\](?::\d+)?): "
    r"(?P<ver>\S+) with cipher (?P<cipher>\S+) \((?P<bits>[\d/]+) bits\)(?P<tail>.*)",
    re.S,
)
_TLS_TAIL_RE = re.compile(
    r"(?: key-exchange (?P<key_exchange>\S+))?"
    r"(?: server-signature (?P<server_signature>\S+)"
    r"(?: \((?:(?P<server_signature_size>\d+) bits|(?P<server_signature_curve>[^)]*))\))?)?"
    r"(?: server-digest (?P<server_digest>\S+))?"
    r"(?: client-signature (?P<client_signature>\S+)"
    r"(?: \((?:(?P<client_signature_size>\d+) bits|(?P<client_signature_curve>[^)]*))\))?)?"
    r"(?: client-digest (?P<client_digest>\S+))?"
)
_PS_RE = re.compile(
    r"(?P<ev>[A-Za-z][A-Za-z -]*?) (?:(?P<count>\d+) after (?P<t>[0-9.]+) |rank (?P<rank>\d+) for "
    r"|after (?P<t2>[0-9.]+) )?(?:from )?\[(?P<ip>[^\]]+)\]:(?P<port>\d+)(?P<rest>.*)",
    re.S,
)
_CACHE_RE = re.compile(r"cache (?P<name>.*) (?P<type>full|partial) cleanup: retained=(\d+) dropped=(\d+) entries")
_ANVIL_RE = re.compile(
    r"statistics: max (?P<what>[a-z ]+?) (?P<n>\d+)(?:/(?P<period>\w+))? "
    r"(?:for \((?P<svc>\d+\.\d+\.\d+\.\d+:\d+|\[[^\]]*\]:\d+|[^:]+):(?P<ip>.*)\) )?at (?P<ts>.+)",
    re.S,
)
_ANVIL_NAMES = {
    "connection count": "conn_count", "connection rate": "conn_rate", "cache size": "cache_size",
    "message rate": "msg_rate", "recipient rate": "rcpt_rate", "newtls rate": "newtls_rate",
    "auth rate": "auth_rate",
}
_SCACHE_LOOKUP_RE = re.compile(r"statistics: (\w+) lookup hits=(\d+) miss=(\d+) success=(\d+)%")
_SCACHE_MAX_RE = re.compile(r"statistics: max simultaneous domains=(\d+) addresses=(\d+) connection=(\d+)")
_MASTER_RE = re.compile(r"(daemon started|reload) -- version (\S+), configuration (\S+)")
_POSTSUPER_SUMMARY_RE = re.compile(r"([A-Z][a-z ]+): (\d+) messages?$")
_SMTP_SAID_RE = re.compile(
    r"(?:host|SASL authentication failed; server) (?P<peer>\S*?\[[^\]]*\](?::\d+)?) "
    r"(?:said|refused to talk to me): (?P<resp>.*)",
    re.S,
)

# smtp/lmtp lines naming a peer: (prefix, kind, extra key for the text after the peer)
_SMTP_PEER_LINES = (
    ("connect to ", "relay_error", "smtp_lostconn_data"),
    ("SSL_connect error to ", "relay_error", "smtp_lostconn_data"),
    ("certificate verification failed for ", "tls", "tls_error"),
    ("server certificate verification failed for ", "tls", "tls_error"),
)


# ----------------------------------------------------------------------------- item checks


def coerce_unix_time(value: object, what: str = "time") -> int:
    """Integer unix seconds from an int, an integral float or a numeric string; else ParseError."""
    if type(value) is int:
        t = value
    elif isinstance(value, str):
        s = value.strip()
        if s.isascii() and s.isdigit() and len(s) <= 20:  # "²" is a digit int() refuses
            t = int(s)
        else:
            try:
                f = float(s)
            except ValueError:
                raise ParseError(f"{what} is not numeric") from None
            if not math.isfinite(f):
                raise ParseError(f"{what} is not numeric")
            t = int(f)
    elif isinstance(value, float) and math.isfinite(value):
        t = int(value)
    elif value is None:
        raise ParseError(f"{what} is missing")
    else:
        # bool is an int subclass but never a timestamp
        raise ParseError(f"{what} is not numeric")
    if t < 0:
        raise ParseError(f"{what} is negative")
    if t > MAX_TIME:
        raise ParseError(f"{what} is after the year 9999")
    return t


def clean_text(text: str) -> str:
    """Make a message safe to store: lone surrogates and NUL become U+FFFD/'?'."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "replace").decode("utf-8")
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text


def syslog_item_fields(item: object) -> tuple[int, str, str, str]:
    """Validate a ``{time, priority, program, message}`` item (postfix, dovecot); return the four."""
    if not isinstance(item, dict):
        raise ParseError("item is not an object")
    program = item.get("program")
    message = item.get("message")
    if not isinstance(program, str) or not program:
        raise ParseError("program missing or not a string")
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
    return t, clean_text(priority), clean_text(program), clean_text(message)


# ----------------------------------------------------------------------------- small helpers


def _finite(text: str) -> float | None:
    """A finite float from log text, else None (a line must never fail on a number)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _bounded(text: str, bits: int = 64) -> int | None:
    """A non-negative integer that fits a signed column of `bits` bits, else None."""
    if len(text) > 19:  # int() also refuses strings of more than 4300 digits
        return None
    value = int(text)
    return value if value < 2 ** (bits - 1) else None


def _hostip(s: str) -> tuple[str | None, str | None, int | None] | None:
    """Split ``host[ip]`` / ``host[ip]:port`` / ``[ip]:port``; None when there is no ``[...]``."""
    b = s.find("[")
    if b < 0:
        return None
    e = s.find("]", b)
    if e < 0:
        return None
    port = None
    if s[e + 1:e + 2] == ":":
        p = s[e + 2:]
        if p.isascii() and p.isdigit() and len(p) <= 5:  # a port, not "²" or 400 digits
            port = int(p)
    return (s[:b] or None), s[b + 1:e], port


def split_relay(relay: str | None) -> tuple[str | None, str | None, int | None, str | None]:
    """Split a ``relay=`` value into (host, ip, port, service).

    ``dovecot[172.22.1.250]:24`` -> ("dovecot", "172.22.1.250", 24, None);
    ``host[private/dovecot-lmtp]`` -> ("host", None, None, "private/dovecot-lmtp");
    ``none`` / ``local`` / ``virtual`` -> (that word, None, None, None).
    """
    if not relay:
        return None, None, None, None
    parts = _hostip(relay)
    if parts is None:
        return relay, None, None, None
    host, inner, port = parts
    if "/" in inner:
        return host, None, port, inner
    return host, inner, port, None


def _looks_like_ip(s: str) -> bool:
    return ("." in s or ":" in s) and all(c in "0123456789abcdefABCDEF.:" for c in s)


def _set_client(rec: PostfixRecord, host: str | None, ip: str | None, port: int | str | None = None) -> None:
    rec.client_host = host or None
    if ip == "unknown":
        rec.extra["client_ip_unknown"] = ip
    elif ip:
        rec.client_ip = ip
    if port is not None:
        rec.client_port = port if isinstance(port, int) else _bounded(port, 32)


def _addr(v: str) -> str:
    """Strip the ``<>`` around an address; ``<>`` itself is the null sender ""."""
    if v[:1] == "<" and v[-1:] == ">":
        return v[1:-1]
    return v


# ----------------------------------------------------------------------------- entry point


def parse_postfix(item: object) -> PostfixRecord:
    """Turn one ``logs/postfix`` item into a :class:`PostfixRecord`.

    ``item`` is ``{"time": "1785576612", "priority": "info", "program": "postfix/smtpd",
    "message": "..."}`` (``time`` may also be an int). Raises :class:`ParseError` when the item
    is not such a dict; any well-formed line gives a record (``kind="other"`` if unrecognised).
    """
    t, priority, program, msg = syslog_item_fields(item)
    rec = PostfixRecord(t, priority, program, msg)
    daemon = program[program.rfind("/") + 1:]
    if "[" in daemon:  # a tag that kept its "[pid]"
        daemon = daemon[:daemon.find("[")]
    _parse_message(rec, daemon, msg)
    return rec


def _parse_message(rec: PostfixRecord, daemon: str, msg: str) -> None:
    if msg[:1] in ("w", "e", "f", "p") and msg.startswith(_LEVEL_PREFIXES):
        _level_line(rec, msg)
        return
    i = msg.find(": ")
    if 5 < i < 40:
        if i == 7 and msg.startswith("NOQUEUE"):
            rec.noqueue = True
            _queue_line(rec, daemon, msg[9:])
            return
        if _QID_RE.fullmatch(msg, 0, i):
            rec.queue_id = msg[:i]
            _queue_line(rec, daemon, msg[i + 2:])
            return
    handler = _HANDLERS.get(daemon, _generic)
    handler(rec, msg)


# ----------------------------------------------------------------------------- queue-id lines


def _queue_line(rec: PostfixRecord, daemon: str, rest: str) -> None:
    if rest.startswith("to="):
        _delivery(rec, rest)
    elif rest.startswith("client="):
        _client(rec, rest)
    elif rest.startswith("message-id="):
        rec.kind = "message_id"
        rec.message_id = _addr(rest[11:]) or None
    elif rest.startswith("from="):
        _qmgr(rec, rest)
    elif rest == "removed":
        rec.kind = "removed"
        rec.extra["postsuper_action" if daemon == "postsuper" else "message"] = rest
    elif rest.startswith("uid="):
        _pickup(rec, rest)
    elif rest.startswith("resent-message-id="):
        rec.kind = "resent_message_id"
        rec.extra["resent_message_id"] = _addr(rest[18:])
    else:
        j = rest.find(": ")
        word = rest[:j] if j > 0 else rest
        if word in _ACTIONS or word.startswith("milter-"):
            _action(rec, daemon, word, rest[j + 2:] if j > 0 else "")
        elif word.endswith(" notification"):
            m = _BOUNCE_RE.match(rest)
            if m:
                rec.kind = "bounce_notice"
                rec.related_queue_id = m.group(3)
                rec.extra["bounce_recipient"] = m.group(1)
                rec.extra["bounce_reason"] = m.group(2)
            else:
                rec.extra["message"] = rest
        elif daemon == "postsuper":
            rec.kind = "postsuper"
            rec.extra["postsuper_action"] = rest
        elif not _smtp_queue_line(rec, rest):
            rec.extra["message"] = rest


def _delivery(rec: PostfixRecord, rest: str) -> None:
    rec.kind = "delivery"
    m = _DELIVERY_RE.match(rest)
    if m is not None:
        to = m.group("to")
        rec.recipient = to if to is not None else m.group("to2")
        orig = m.group("orig")
        if orig is None:
            orig = m.group("orig2")
        rec.orig_to = orig
        rec.relay = m.group("relay")
        rec.delay = _finite(m.group("delay"))
        if rec.delay is None:  # "1.2.3", or so many digits it overflows: keep the text
            rec.extra["delay"] = m.group("delay")
        rec.delays = m.group("delays")
        rec.dsn = m.group("dsn")
        rec.status = m.group("status")
        conn_use = m.group("conn_use")
        if conn_use is not None:
            rec.extra["conn_use"] = conn_use
        tls = m.group("tls")
        if tls is not None:
            _tls_features(rec, tls)
        reason = m.group("reason")
    else:
        reason = _delivery_fallback(rec, rest)
    if reason is not None:
        if reason[:1] == "(" and reason[-1:] == ")":
            reason = reason[1:-1]
        rec.reason = reason
        if " as " in reason:
            r = _RELATED_RE.search(reason)
            if r is not None:
                rec.related_queue_id = r.group(1)


def _delivery_fallback(rec: PostfixRecord, rest: str) -> str | None:
    """Key-by-key parse of a delivery line the strict regex did not match (new/odd keys)."""
    s = rest
    k = s.find("status=")
    reason = None
    if k >= 0:
        status, _, reason = s[k + 7:].partition(" ")
        rec.status = status
        s = s[:k]
        reason = reason or None
    for m in _KV_ITEM_RE.finditer(s):
        key, val = m.group(1), m.group(2) if m.group(2) is not None else m.group(3)
        if key == "to":
            rec.recipient = val
        elif key == "orig_to":
            rec.orig_to = val
        elif key == "relay":
            rec.relay = val
        elif key == "delay":
            rec.delay = _finite(val)
            if rec.delay is None:
                rec.extra["delay"] = val
        elif key == "delays":
            rec.delays = val
        elif key == "dsn":
            rec.dsn = val
        elif key == "tls":
            _tls_features(rec, val)
        else:
            rec.extra[key] = val
    return reason


def _tls_features(rec: PostfixRecord, tls: str) -> None:
    """``tls=level[?][:downgrade][/[!]requiretls[?][:downgrade]]`` (Postfix >= 3.11)."""
    ex = rec.extra
    ex["tls"] = tls
    left, _, right = tls.partition("/")
    level, _, down = left.partition(":")
    if level.endswith("?"):
        ex["tls_policy_undecided"] = "?"
        level = level[:-1]
    ex["tls_security_level"] = level
    if down:
        ex["tls_downgrade_level"] = down
    if right:
        if right.startswith("!"):
            ex["requiretls_policy_violation"] = "!"
            right = right[1:]
        name, _, down = right.partition(":")
        if name.endswith("?"):
            ex["requiretls_policy_undecided"] = "?"
            name = name[:-1]
        ex["requiretls"] = name
        if down:
            ex["requiretls_downgrade_level"] = down


def _client(rec: PostfixRecord, rest: str) -> None:
    rec.kind = "client"
    parts = rest.split(", ")
    hp = _hostip(parts[0][7:])
    if hp is not None:
        _set_client(rec, *hp)
    else:
        rec.client_host = parts[0][7:] or None
    for p in parts[1:]:
        key, _, val = p.partition("=")
        if key == "sasl_method":
            rec.sasl_method = val
        elif key == "sasl_username":
            rec.sasl_user = val
        else:
            rec.extra[key] = val  # sasl_sender, orig_queue_id, orig_client, ...


def _qmgr(rec: PostfixRecord, rest: str) -> None:
    m = _QMGR_RE.match(rest)
    if m is None:
        rec.kind = "qmgr"
        rec.extra["message"] = rest
        k = rest.find(">")
        if rest.startswith("from=<") and k > 0:
            rec.sender = rest[6:k]
        return
    rec.sender = m.group("from")
    size = m.group("size")
    if size is not None:
        rec.kind = "qmgr"
        rec.size = _bounded(size)
        rec.nrcpt = _bounded(m.group("nrcpt"), 32)
    else:
        rec.kind = "expired"
        rec.status = m.group("status")


def _pickup(rec: PostfixRecord, rest: str) -> None:
    rec.kind = "pickup"
    for m in _KV_ITEM_RE.finditer(rest.replace(" ", ", ")):
        key, val = m.group(1), m.group(2) if m.group(2) is not None else m.group(3)
        if key == "from":
            rec.sender = val
        else:
            rec.extra[key] = val


def _action(rec: PostfixRecord, daemon: str, word: str, body: str) -> None:
    """``reject|milter-reject|discard|...: ...`` lines of smtpd, postscreen and cleanup."""
    ex = rec.extra
    ex["action"] = word
    rec.kind = _KIND_BY_ACTION.get(word, "action")
    rec.status = _STATUS_BY_ACTION.get(word)
    # The envelope summary starts at the LAST "; from=<" (the reply text may contain "; ").
    k = body.rfind("; from=<")
    if k < 0:
        k = body.rfind("; to=<")
        if k < 0:
            k = body.rfind("; proto=")
    tail = None
    if k >= 0:
        head = body[:k]
        m = _KV_TAIL_RE.match(body, k + 2)
        if m is not None:
            if m.group("from") is not None:
                rec.sender = m.group("from")
            rec.recipient = m.group("to")
            rec.helo = m.group("helo")
            if m.group("proto") is not None:
                ex["proto"] = m.group("proto")
            tail = m.group("tail")
    else:
        head = body
    if word.startswith("proxy-"):
        _proxy(rec, word, head)
        return
    if word.startswith("milter-"):
        ex["milter_result"] = word[7:]
        ex["milter_message"] = head
    m = _ACT_HEAD_RE.match(head)
    if m is not None:
        rec.reject_stage = m.group("stage")
        _set_client(rec, m.group("host"), m.group("ip"), m.group("port"))
        text = m.group("text")
        if daemon == "postscreen" and text[:1].isalpha():
            ex["postscreen_toobusy_data"] = text
        _reply(rec, text)
        return
    # header/body check: "header Subject: ... from host[ip]" [": tail" after the envelope]
    f = head.rfind(" from ")
    if f >= 0:
        hp = _hostip(head[f + 6:])
        if hp is not None:
            _set_client(rec, *hp)
    if word == "prepend" or word == "replace":
        ptype, _, trigger = head.partition(" ")
        ex[word + "_type"] = ptype
        ex[word + "_trigger"] = trigger[:trigger.rfind(" from ")] if f >= 0 else trigger
        if tail is not None:
            ex[word + "_value"] = tail
        return
    if word in ("warning", "info"):
        ex["message_level"] = word
    if "milter_message" not in ex:
        ex["message"] = head
    if tail is not None:
        if word.startswith("milter-"):
            ex["milter_data"] = tail
        elif rec.status is not None:
            _reply(rec, tail)
        else:
            ex["action_data"] = tail  # redirect/filter target, bcc address, ...


def _reply(rec: PostfixRecord, text: str) -> None:
    """An SMTP reply text: ``550 5.1.1 <x>: message`` -> reason, dsn and grok's status_* parts."""
    rec.reason = text
    m = _REPLY_RE.match(text)
    ex = rec.extra
    code = m.group("code")
    if code is not None:
        ex["status_code"] = code
    dsn = m.group("dsn")
    if dsn is not None:
        rec.dsn = dsn
        ex["status_code_enhanced"] = dsn
    data = m.group("data")
    if data is None:
        data = m.group("data2")
    if data is not None:
        ex["status_data"] = data
    ex["status_message"] = m.group("msg")


def _proxy(rec: PostfixRecord, word: str, head: str) -> None:
    """``proxy-accept|proxy-reject: STAGE: reply`` (smtpd_proxy_filter)."""
    ex = rec.extra
    ex["proxy_result"] = word[6:]
    stage, _, text = head.partition(": ")
    ex["proxy_smtp_stage"] = rec.reject_stage = stage
    ex["proxy_message"] = text
    rec.reason = text or None
    m = _REPLY_RE.match(text)
    if m.group("code") is not None:
        ex["proxy_status_code"] = m.group("code")
    if m.group("dsn") is not None:
        ex["proxy_status_code_enhanced"] = rec.dsn = m.group("dsn")
    if " as " in text:
        r = _RELATED_RE.search(text)
        if r is not None:
            rec.related_queue_id = r.group(1)


def _smtp_queue_line(rec: PostfixRecord, rest: str) -> bool:
    """smtp/lmtp client trouble for a queued message; False if the line is something else."""
    ex = rec.extra
    if rest.startswith(("host ", "SASL authentication failed; ")):
        m = _SMTP_SAID_RE.match(rest)
        if m is None:
            return False
        rec.kind = "relay_error"
        rec.relay = m.group("peer")
        resp = m.group("resp")
        if resp.endswith(" command)"):
            r = resp.rfind(" (in reply to ")
            if r >= 0:
                ex["smtp_stage"] = resp[r + 14:-9]
                resp = resp[:r]
        _reply(rec, resp)
        return True
    if rest.startswith(("lost connection with ", "conversation with ")):
        lost = rest[0] == "l"
        peer_start = 21 if lost else 18
        e = rest.find("]", peer_start)
        if e < 0:
            return False
        rec.kind = "relay_error"
        rec.relay = rest[peer_start:e + 1]
        w = rest.find(" while ", e)
        ex["smtp_lostconn_data"] = "lost connection" if lost else "conversation timed out"
        if w >= 0:
            ex["smtp_lostconn_reason"] = rec.reason = rest[w + 7:]
        return True
    if rest.startswith("enabling PIX workarounds: "):
        f = rest.rfind(" for ")
        if f < 0:
            return False
        ex["pix_workaround"] = rest[26:f]
        rec.relay = rest[f + 5:]
        return True
    return False


# ----------------------------------------------------------------------------- level lines


def _level_line(rec: PostfixRecord, msg: str) -> None:
    """``warning: ...`` (also ``error:``, ``fatal:``, ``panic:``); priority stays the item's."""
    level, _, text = msg.partition(": ")
    rec.kind = "warning" if level == "warning" else "error"
    ex = rec.extra
    ex["message_level"] = level
    i = text.find(": ")
    if 5 < i < 40 and _QID_RE.fullmatch(text, 0, i):
        rec.queue_id = text[:i]
        text = text[i + 2:]
        i = text.find(": ")
    if i > 0 and (text[i - 1] == "]" or text[i - 1].isdigit()) and " " not in text[:i]:
        # "host[ip]: SASL LOGIN authentication failed: ..." (or host[ip]:port:)
        hp = _hostip(text[:i])
        if hp is not None and (_looks_like_ip(hp[1]) or hp[1] == "unknown"):
            _set_client(rec, *hp)
            text = text[i + 2:]
    if text.startswith("SASL "):
        sp = text.find(" ", 5)
        if sp > 0:
            rec.sasl_method = text[5:sp]
        u = text.rfind(", sasl_username=")
        if u >= 0:
            rec.sasl_user = text[u + 16:]
    elif text.startswith("hostname ") and " does not resolve to address " in text:
        # forward-confirmed reverse DNS failed: Postfix then calls the client "unknown", so the
        # PTR name is not the client's name; keep it aside
        words = text.split(" ", 8)
        rec.extra["reverse_hostname"] = words[1]
        if len(words) > 7:
            rec.client_ip = words[7].rstrip(":")
    elif rec.client_ip is None:
        f = text.find(" from ")
        if f >= 0:
            j = text.find(": ", f)
            hp = _hostip(text[f + 6:j] if j > 0 else text[f + 6:])
            if hp is not None and (_looks_like_ip(hp[1]) or hp[1] == "unknown"):
                _set_client(rec, *hp)
    ex["message"] = text


# ----------------------------------------------------------------------------- lines without a queue id


def _tls(rec: PostfixRecord, msg: str) -> bool:
    m = _TLS_RE.match(msg)
    if m is None:
        return False
    rec.kind = "tls"
    ex = rec.extra
    ex["tls_trustlevel"] = m.group("trust")
    ex["tls_version"] = m.group("ver")
    ex["tls_cipher"] = m.group("cipher")
    ex["tls_cipher_size"] = m.group("bits")
    peer = m.group("peer")
    if m.group("dir") == "to":
        rec.relay = peer
    else:
        hp = _hostip(peer)
        if hp is not None:
            _set_client(rec, *hp)
    tail = m.group("tail")
    if tail:
        t = _TLS_TAIL_RE.match(tail)
        for key, val in t.groupdict().items():
            if val is not None:
                ex["tls_" + key] = val
    return True


def _smtpd(rec: PostfixRecord, msg: str) -> None:
    if msg.startswith("connect from "):
        rec.kind = "connect"
        hp = _hostip(msg[13:])
        if hp is not None:
            _set_client(rec, *hp)
        return
    if msg.startswith("disconnect from "):
        rec.kind = "disconnect"
        e = msg.find("]", 16)
        hp = _hostip(msg[16:e + 1]) if e > 0 else None
        if hp is not None:
            _set_client(rec, *hp)
        if e > 0 and len(msg) > e + 2:
            _counters(rec, msg[e + 2:])
        return
    c = msg[:1]
    if c in "AUTV" and _tls(rec, msg):
        return
    if msg.startswith("SSL_accept error from "):
        rec.kind = "tls"
        rec.extra["smtpd_lostconn_data"] = "SSL_accept error"
        body = msg[22:]
        j = body.find("]")
        hp = _hostip(body[:j + 1]) if j > 0 else None
        if hp is not None:
            _set_client(rec, *hp)
            rec.extra["tls_error"] = body[j + 3:]
        return
    if msg.startswith("proxy-"):
        j = msg.find(": ")
        if j > 0:
            _action(rec, "smtpd", msg[:j], msg[j + 2:])
            return
    if msg.startswith("discarding EHLO keywords: "):
        rec.extra["discarded_ehlo_keywords"] = msg[26:]
        return
    if " after " in msg:
        m = _LOSTCONN_RE.match(msg)
        if m is not None:
            what = m.group("what")
            if what in ("lost connection", "timeout", "too many errors"):
                rec.kind = "lost_connection"
            rec.extra["smtpd_lostconn_data"] = what
            rec.extra["smtp_stage"] = m.group("stage")
            _set_client(rec, m.group("host"), m.group("ip"), m.group("port"))
            return


def _counters(rec: PostfixRecord, data: str) -> None:
    """``ehlo=2 starttls=1 rcpt=0/1 commands=5/7`` -> extra cmd_ehlo, cmd_rcpt(_accepted), ..."""
    ex = rec.extra
    ex["command_counter_data"] = data
    for tok in data.split():
        key, _, val = tok.partition("=")
        if not val:
            continue
        name = "cmd_count" if key == "commands" else "cmd_" + key
        ok, slash, total = val.partition("/")
        if slash:
            ex[name + "_accepted"] = ok
            ex[name] = total
        else:
            ex[name] = val


def _postscreen(rec: PostfixRecord, msg: str) -> None:
    rec.kind = "postscreen" if rec.program.endswith("postscreen") else "other"
    m = _PS_RE.match(msg)
    if m is None:
        if not _cache(rec, msg, "postscreen"):
            _tls(rec, msg)
        return
    ex = rec.extra
    ev = m.group("ev")
    ex["postscreen_event"] = ev
    rec.client_ip = m.group("ip")
    rec.client_port = _bounded(m.group("port"), 32)
    if ev != "CONNECT" and ev != "DISCONNECT":
        if ev.startswith("PASS") or "LIST" in ev:
            ex["postscreen_access"] = ev
        else:
            ex["postscreen_violation"] = ev
            t = m.group("t") or m.group("t2")
            if t is not None:
                ex["postscreen_violation_time"] = t
            if m.group("rank") is not None:
                ex["postscreen_dnsbl_rank"] = m.group("rank")
            if m.group("count") is not None:
                ex["postscreen_pregreet_count"] = m.group("count")
    rest = m.group("rest")
    if rest.startswith(" to ["):
        hp = _hostip(rest[4:])
        if hp is not None:
            ex["server_ip"] = hp[1]
            if hp[2] is not None:
                ex["server_port"] = str(hp[2])
    elif rest.startswith(" after "):
        stage, _, data = rest[7:].partition(":")
        ex["smtp_stage"] = stage
        if data.strip():
            ex["postscreen_data"] = data[1:] if data[:1] == " " else data
    elif rest.startswith(": "):
        ex["postscreen_data"] = rest[2:]
    elif rest.startswith(" in "):
        ex["postscreen_detail"] = rest[1:]


def _cache(rec: PostfixRecord, msg: str, prefix: str) -> bool:
    m = _CACHE_RE.match(msg)
    if m is None:
        return False
    ex = rec.extra
    ex[prefix + "_cache_name"] = m.group("name")
    ex[prefix + "_cleanup_type"] = m.group("type")
    ex[prefix + "_cache_retained"] = m.group(3)
    ex[prefix + "_cache_dropped"] = m.group(4)
    return True


def _smtp(rec: PostfixRecord, msg: str) -> None:
    if msg[:1] in ("c", "S", "s"):
        for prefix, kind, key in _SMTP_PEER_LINES:
            if msg.startswith(prefix):
                start = len(prefix)
                e = msg.find("]", start)
                if e < 0:
                    return
                j = msg.find(": ", e)
                rec.relay = msg[start:j] if j > 0 else msg[start:]
                data = msg[j + 2:] if j > 0 else ""
                rec.kind = kind
                rec.extra[key] = data
                if kind == "relay_error":
                    rec.reason = data or None
                return
    _tls(rec, msg)


def _dnsblog(rec: PostfixRecord, msg: str) -> None:
    if msg.startswith("addr "):
        parts = msg.split(" ")
        # addr IP listed by domain DOMAIN as RESULT
        if len(parts) >= 8 and parts[2] == "listed" and parts[6] == "as":
            rec.kind = "dnsblog"
            rec.client_ip = parts[1]
            rec.extra["dnsbl_domain"] = parts[5]
            rec.extra["dnsbl_result"] = parts[7]


def _anvil(rec: PostfixRecord, msg: str) -> None:
    m = _ANVIL_RE.match(msg)
    if m is None:
        return
    rec.kind = "anvil"
    ex = rec.extra
    what = m.group("what")
    name = _ANVIL_NAMES.get(what, what.replace(" ", "_"))
    ex["anvil_" + name] = m.group("n")
    if m.group("period") is not None:
        ex["anvil_" + name.split("_")[0] + "_period"] = m.group("period")
    if m.group("svc") is not None:
        ex["service"] = m.group("svc")
        _set_client(rec, None, m.group("ip"))
    ex["anvil_timestamp"] = m.group("ts")


def _scache(rec: PostfixRecord, msg: str) -> None:
    ex = rec.extra
    m = _SCACHE_LOOKUP_RE.match(msg)
    if m is not None:
        ex["scache_lookup"] = m.group(1)
        ex["scache_hits"], ex["scache_miss"], ex["scache_success"] = m.group(2, 3, 4)
        return
    m = _SCACHE_MAX_RE.match(msg)
    if m is not None:
        ex["scache_domains"], ex["scache_addresses"], ex["scache_connection"] = m.group(1, 2, 3)
        return
    if msg.startswith("statistics: start interval "):
        ex["scache_timestamp"] = msg[27:]


def _master(rec: PostfixRecord, msg: str) -> None:
    m = _MASTER_RE.match(msg)
    if m is not None:
        rec.kind = "master"
        rec.extra["master_event"] = m.group(1)
        rec.extra["version"] = m.group(2)
        rec.extra["config_path"] = m.group(3)
    elif msg.startswith("terminating on signal "):
        rec.kind = "master"
        rec.extra["master_event"] = "terminating"
        rec.extra["termination_signal"] = msg[22:]
    elif msg.endswith(" the Postfix mail system") or msg.startswith("daemon started"):
        rec.kind = "master"


def _postsuper(rec: PostfixRecord, msg: str) -> None:
    m = _POSTSUPER_SUMMARY_RE.match(msg)
    if m is not None:
        rec.kind = "postsuper"
        rec.extra["postsuper_summary_action"] = m.group(1)
        rec.extra["postsuper_summary_count"] = m.group(2)


def _verify(rec: PostfixRecord, msg: str) -> None:
    _cache(rec, msg, "verify")


def _generic(rec: PostfixRecord, msg: str) -> None:
    if msg[:1] in "AUTV" and _tls(rec, msg):
        return
    if msg.startswith("cache "):
        _cache(rec, msg, "cache")


_HANDLERS = {
    "smtpd": _smtpd,
    "postscreen": _postscreen,
    "tlsproxy": _postscreen,
    "smtp": _smtp,
    "lmtp": _smtp,
    "dnsblog": _dnsblog,
    "anvil": _anvil,
    "scache": _scache,
    "master": _master,
    "postfix-script": _master,
    "postsuper": _postsuper,
    "verify": _verify,
}

"""Parse one mailcow ``logs/dovecot`` item into a :class:`DovecotRecord`.

Dovecot prefixes its lines with the process: ``imap-login: ``, ``lmtp(user)<pid><session>: ``
(2.3), ``lmtp(pid, user): session: `` (2.2), ``auth-worker(pid): ``. After an optional level
word (``Error:``, ``Warning:``, ``Info:``) come

* deliveries (LMTP/LDA and Pigeonhole Sieve): ``msgid=<id>: saved mail to INBOX``,
  ``sieve: msgid=<id>: stored mail into mailbox 'Junk'`` (newer Pigeonhole may insert
  ``fileinto action: ``), ``forwarded to <x>``/``redirected to <x>``, ``sent vacation
  response to <x>``, ``marked message to be discarded ...``, ``sent rejection message``,
  ``save failed to X: reason``;
* logins: ``Login: user=<x>, method=PLAIN, rip=ip, lip=ip, mpid=N, TLS, session=<s>``;
* failed logins and disconnects: ``Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, ...``,
  ``Aborted login (auth failed, ...)``, ``Login aborted: ... (auth failed ...)``,
  auth process lines ``passwd-file(user,ip,<s>): Password mismatch`` / ``unknown user``;
* ``Disconnected: Logged out in=N out=N ...`` / ``Connection closed ...`` of mail processes.

Kinds: saved, save_failed, discarded, redirected, rejected, vacation, login, auth_failed,
disconnected, other.
"""

from __future__ import annotations

import re

from mlv.ingest.postfix import syslog_item_fields
from mlv.ingest.records import DovecotRecord

_PREFIX_RE = re.compile(r"(?P<svc>[a-z][a-z0-9_-]*)(?:\((?P<args>[^)]*)\))?(?:<(?P<pid>\d+)>)?(?:<(?P<sess>[^>]*)>)?: ")
_LEVELS = ("Error: ", "Warning: ", "Info: ", "Debug: ", "Fatal: ", "Panic: ")
_KV_RE = re.compile(r"(?:^|, |: )(\w+)=(<[^>]*>|[^,]*)")
_AUTH_DB_RE = re.compile(
    r"(?:passwd-file|sql|ldap|lua|pam|passwd|shadow|static|checkpassword|policy|oauth2|dict|bsdauth|imap)"
    r"\((?P<user>[^,()]*),(?P<ip>[^,()]*)(?:,<(?P<sess>[^>]*)>)?\): (?P<reason>.*)",
    re.S,
)
_QUOTED_MAILBOX_RE = re.compile(r"mailbox '((?:[^']|''){0,1000})'")
_TARGET_RE = re.compile(r" to <([^>]{0,320})>")  # bounded: stays linear without a ">"
_SAVE_FAILED_RE = re.compile(r"save failed to (?P<box>.+?): ")
_AUTH_FAILURE_WORDS = ("mismatch", "unknown user", "fail", "refus", "disallowed")


def parse_dovecot(item: object) -> DovecotRecord:
    """Turn one ``logs/dovecot`` item (``{time, priority, program, message}``) into a record.

    Raises :class:`ParseError` for malformed items; unrecognised lines give ``kind="other"``.
    """
    t, priority, program, msg = syslog_item_fields(item)
    rec = DovecotRecord(t, priority, program, msg)
    _parse(rec, msg)
    return rec


def _parse(rec: DovecotRecord, msg: str) -> None:
    m = _PREFIX_RE.match(msg)
    if m is None:
        return
    svc = m.group("svc")
    args = m.group("args")
    if args:
        _pid, comma, user_part = args.partition(", ")
        if comma:  # 2.2: lmtp(pid, user)
            rec.user = user_part or None
        elif not args.isdigit():
            rec.user = args
    rec.session = m.group("sess") or None
    rest = msg[m.end():]
    if rest.startswith(_LEVELS):
        rest = rest[rest.find(" ") + 1:]
    if svc.startswith("auth"):
        _auth(rec, rest)
        return
    if svc.endswith("-login"):
        _login(rec, rest)
        return
    # 2.2 LMTP puts the session id first: "lmtp(pid, user): SESSION: msgid=..."
    if rec.session is None and not rest.startswith(("msgid=", "sieve: ")):
        j = rest.find(": ")
        if 0 < j and " " not in rest[:j] and rest[j + 2:].startswith(("msgid=", "sieve: ")):
            rec.session = rest[:j]
            rest = rest[j + 2:]
    if rest.startswith("sieve: "):
        rest = rest[7:]
    if rest.startswith("msgid="):
        _delivery(rec, rest)
        return
    if rest.startswith(("Disconnected", "Connection closed", "Logged out")):
        rec.kind = "disconnected"


def _message_id(value: str) -> str | None:
    if value[:1] == "<" and value[-1:] == ">":
        value = value[1:-1]
    if not value or value == "unspecified":
        return None
    return value


def _delivery(rec: DovecotRecord, rest: str) -> None:
    body = rest[6:]
    if body.startswith("<"):
        e = body.find(">: ")
        if e < 0:
            e = body.rfind(">")
            rec.message_id = _message_id(body[:e + 1]) if e > 0 else None
            return
        rec.message_id = _message_id(body[:e + 1])
        text = body[e + 3:]
    else:
        e = body.find(": ")
        rec.message_id = _message_id(body[:e] if e >= 0 else body)
        text = body[e + 2:] if e >= 0 else ""
    # newer Pigeonhole: "fileinto action: stored mail into mailbox 'X'"
    a = text.find(" action: ")
    if 0 < a < 20:
        text = text[a + 9:]
    if text.startswith("saved mail to "):
        rec.kind = "saved"
        rec.mailbox = _unquote(text[14:])
    elif text.startswith("stored mail into mailbox "):
        rec.kind = "saved"
        rec.mailbox = _unquote(text[25:])
    elif text.startswith(("forwarded to ", "redirected to ", "forwarded ")):
        rec.kind = "redirected"
        rec.target = _target(text)
    elif text.startswith("save failed") or text.startswith("failed to store"):
        rec.kind = "save_failed"
        m = _SAVE_FAILED_RE.match(text)
        if m is not None:
            rec.mailbox = _unquote(m.group("box"))
        else:
            q = _QUOTED_MAILBOX_RE.search(text)
            if q is not None:
                rec.mailbox = q.group(1).replace("''", "'")
    elif "vacation response" in text:
        rec.kind = "vacation" if text.startswith("sent ") else "other"
        rec.target = _target(text)
    elif "discard" in text:
        rec.kind = "discarded"
    elif "reject" in text:
        rec.kind = "rejected"
        rec.target = _target(text)


def _unquote(box: str) -> str:
    if len(box) >= 2 and box[0] == box[-1] and box[0] in "'\"":
        return box[1:-1]
    return box


def _target(text: str) -> str | None:
    m = _TARGET_RE.search(text)
    return m.group(1) if m is not None else None


def _login(rec: DovecotRecord, rest: str) -> None:
    if rest.startswith("Login: "):
        rec.kind = "login"
    elif "auth failed" in rest or "tried to use disallowed" in rest:
        rec.kind = "auth_failed"
    elif rest.startswith(("Disconnected", "Aborted login", "Login aborted", "Connection closed")):
        rec.kind = "disconnected"
    else:
        return
    _login_fields(rec, rest)


def _login_fields(rec: DovecotRecord, rest: str) -> None:
    for m in _KV_RE.finditer(rest):
        key, val = m.group(1), m.group(2)
        if key == "user":
            rec.user = (val[1:-1] if val[:1] == "<" and val[-1:] == ">" else val) or None
        elif key == "method":
            rec.method = val or None
        elif key == "rip":
            rec.ip = val or None
        elif key == "session":
            rec.session = val.strip("<>") or rec.session


def _auth(rec: DovecotRecord, rest: str) -> None:
    m = _AUTH_DB_RE.search(rest)
    if m is None:
        return
    rec.user = m.group("user") or None
    rec.ip = m.group("ip") or None
    if m.group("sess"):
        rec.session = m.group("sess")
    reason = m.group("reason").lower()
    if any(w in reason for w in _AUTH_FAILURE_WORDS):
        rec.kind = "auth_failed"

"""parse_dovecot: deliveries, Sieve actions, logins, auth failures, disconnects."""

from __future__ import annotations

import pytest

from mlv.ingest.dovecot import parse_dovecot
from mlv.ingest.records import DovecotRecord, ParseError


def dc(message: str, priority: str = "info") -> DovecotRecord:
    return parse_dovecot({"time": "1785576613", "priority": priority, "program": "dovecot", "message": message})


def fields(rec: DovecotRecord) -> dict:
    return {k: getattr(rec, k) for k in ("kind", "user", "message_id", "mailbox", "target", "ip", "method", "session")
            if getattr(rec, k) is not None}


CASES = [
    # mailcow-api.md §2.6
    ("imap-login: Login: user=<alice@example.org>, method=PLAIN, rip=203.0.113.50, lip=172.22.1.250, mpid=48213, TLS, "
     "session=<Xk2b9PsY0tjLvwAA>",
     {"kind": "login", "user": "alice@example.org", "ip": "203.0.113.50", "method": "PLAIN",
      "session": "Xk2b9PsY0tjLvwAA"}),
    ("lmtp(alice@example.org)<4521><kP3vQ0SxrGZq3QAA4mW7Lw>: msgid=<CAHx8k2Q@mail.gmail.com>: saved mail to INBOX",
     {"kind": "saved", "user": "alice@example.org", "message_id": "CAHx8k2Q@mail.gmail.com", "mailbox": "INBOX",
      "session": "kP3vQ0SxrGZq3QAA4mW7Lw"}),
    ("imap(alice@example.org)<48213><Xk2b9PsY0tjLvwAA>: Disconnected: Logged out in=312 out=9824 deleted=0 "
     "expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0",
     {"kind": "disconnected", "user": "alice@example.org", "session": "Xk2b9PsY0tjLvwAA"}),
    # Sieve
    ("lmtp(bob@example.org)<4521><kP3v>: sieve: msgid=<a@x.example>: stored mail into mailbox 'Junk'",
     {"kind": "saved", "user": "bob@example.org", "message_id": "a@x.example", "mailbox": "Junk", "session": "kP3v"}),
    ("lmtp(bob@example.org)<4521><kP3v>: sieve: msgid=<a@x.example>: fileinto action: stored mail into mailbox "
     "'Archive/2026'",
     {"kind": "saved", "user": "bob@example.org", "message_id": "a@x.example", "mailbox": "Archive/2026",
      "session": "kP3v"}),
    ("lmtp(bob@example.org)<4521><kP3v>: sieve: msgid=<a@x.example>: forwarded to <carol@partner.example>",
     {"kind": "redirected", "user": "bob@example.org", "message_id": "a@x.example", "target": "carol@partner.example",
      "session": "kP3v"}),
    ("lmtp(bob@example.org)<4521><kP3v>: sieve: msgid=<a@x.example>: redirect action: redirected to <c@p.example>",
     {"kind": "redirected", "user": "bob@example.org", "message_id": "a@x.example", "target": "c@p.example",
      "session": "kP3v"}),
    ("lmtp(bob@example.org)<4521><kP3v>: sieve: msgid=<a@x.example>: sent vacation response to <jane@gmail.com>",
     {"kind": "vacation", "user": "bob@example.org", "message_id": "a@x.example", "target": "jane@gmail.com",
      "session": "kP3v"}),
    ("lmtp(bob@example.org)<4521><kP3v>: sieve: msgid=<a@x.example>: discarded duplicate vacation response to "
     "<jane@gmail.com>",
     {"kind": "other", "user": "bob@example.org", "message_id": "a@x.example", "target": "jane@gmail.com",
      "session": "kP3v"}),
    ("lmtp(bob@example.org)<4521><kP3v>: sieve: msgid=<a@x.example>: marked message to be discarded if not "
     "explicitly delivered (discard action)",
     {"kind": "discarded", "user": "bob@example.org", "message_id": "a@x.example", "session": "kP3v"}),
    ("lmtp(bob@example.org)<4521><kP3v>: sieve: msgid=<a@x.example>: sent rejection message to <spam@bad.example>",
     {"kind": "rejected", "user": "bob@example.org", "message_id": "a@x.example", "target": "spam@bad.example",
      "session": "kP3v"}),
    ("lmtp(bob@example.org)<4521><kP3v>: Error: msgid=<a@x.example>: save failed to INBOX: Quota exceeded (mailbox "
     "for user is full)",
     {"kind": "save_failed", "user": "bob@example.org", "message_id": "a@x.example", "mailbox": "INBOX",
      "session": "kP3v"}),
    ("lmtp(bob@example.org)<4521><kP3v>: sieve: msgid=unspecified: stored mail into mailbox 'INBOX'",
     {"kind": "saved", "user": "bob@example.org", "mailbox": "INBOX", "session": "kP3v"}),
    # Dovecot 2.2 LMTP prefix
    ("lmtp(4521, bob@example.org): kP3vQ0SxrGZq: msgid=<a@x.example>: saved mail to INBOX",
     {"kind": "saved", "user": "bob@example.org", "message_id": "a@x.example", "mailbox": "INBOX",
      "session": "kP3vQ0SxrGZq"}),
    # failed logins
    ("imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<alice@example.org>, method=PLAIN, "
     "rip=198.51.100.77, lip=172.22.1.250, TLS, session=<abc>",
     {"kind": "auth_failed", "user": "alice@example.org", "ip": "198.51.100.77", "method": "PLAIN", "session": "abc"}),
    ("imap-login: Disconnected: Connection closed (auth failed, 1 attempts in 2 secs): user=<a@example.org>, "
     "method=LOGIN, rip=2001:db8::7, lip=fd4d:6169:6c63:6f77::250, TLS: Connection closed, session=<s1>",
     {"kind": "auth_failed", "user": "a@example.org", "ip": "2001:db8::7", "method": "LOGIN", "session": "s1"}),
    ("pop3-login: Aborted login (auth failed, 3 attempts in 14 secs): user=<c@example.org>, method=PLAIN, "
     "rip=192.0.2.8, lip=172.22.1.250, session=<s2>",
     {"kind": "auth_failed", "user": "c@example.org", "ip": "192.0.2.8", "method": "PLAIN", "session": "s2"}),
    ("imap-login: Login aborted: Connection closed (auth failed, 1 attempts in 2 secs) (auth_failed): "
     "user=<d@example.org>, method=PLAIN, rip=192.0.2.9, lip=172.22.1.250, TLS, session=<s3>",
     {"kind": "auth_failed", "user": "d@example.org", "ip": "192.0.2.9", "method": "PLAIN", "session": "s3"}),
    ("imap-login: Aborted login (tried to use disallowed plaintext auth): user=<>, rip=192.0.2.10, lip=172.22.1.250, "
     "session=<s4>",
     {"kind": "auth_failed", "ip": "192.0.2.10", "session": "s4"}),
    ("auth: passwd-file(alice@example.org,203.0.113.50,<sess1>): Password mismatch",
     {"kind": "auth_failed", "user": "alice@example.org", "ip": "203.0.113.50", "session": "sess1"}),
    ("auth-worker(1234): Info: sql(bob@example.org,198.51.100.9): unknown user",
     {"kind": "auth_failed", "user": "bob@example.org", "ip": "198.51.100.9"}),
    ("auth-worker(7921): conn unix:auth-worker (pid=7920,uid=97): auth-worker<5>: lua(e@example.org,192.0.2.3,<s5>): "
     "Password mismatch",
     {"kind": "auth_failed", "user": "e@example.org", "ip": "192.0.2.3", "session": "s5"}),
    # disconnects without a login
    ("pop3-login: Disconnected (no auth attempts in 0 secs): user=<>, rip=192.0.2.11, lip=172.22.1.250, session=<q>",
     {"kind": "disconnected", "ip": "192.0.2.11", "session": "q"}),
    ("imap(alice@example.org): Disconnected: Logged out in=1 out=2",
     {"kind": "disconnected", "user": "alice@example.org"}),
    ("imap(alice@example.org)<1><s6>: Connection closed (IDLE running for 0.001 + waiting input for 28.914 secs, "
     "2 B in + 10+10 B out, state=wait-input) in=3 out=4",
     {"kind": "disconnected", "user": "alice@example.org", "session": "s6"}),
    # other
    ("lmtp(12345): Connect from local", {"kind": "other"}),
    ("master: Dovecot v2.3.21 (47349e2482) starting up for imap, pop3, lmtp, sieve", {"kind": "other"}),
    ("", {"kind": "other"}),
]


@pytest.mark.parametrize(("message", "want"), CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_dovecot_lines(message: str, want: dict) -> None:
    rec = dc(message)
    assert (rec.time, rec.program, rec.message) == (1785576613, "dovecot", message)
    assert fields(rec) == want


def test_priority_is_kept() -> None:
    assert dc("imap(a@example.org)<1><s>: Error: Mailbox INBOX: read failed", "err").priority == "err"


@pytest.mark.parametrize("item", [
    None, [], {"time": "x", "priority": "info", "program": "dovecot", "message": "m"},
    {"time": "1", "priority": "info", "message": "m"}, {"time": "1", "priority": "info", "program": "dovecot"},
])
def test_bad_items(item) -> None:
    with pytest.raises(ParseError):
        parse_dovecot(item)


def test_garbage_gives_records() -> None:
    for message in ["lmtp(", "lmtp(a)<1><: msgid=", "lmtp(a)<1><s>: msgid=<", "lmtp(a): msgid=<x>",
                    "imap-login: Login: user=<", "auth: sql(,): x", "\ud800imap-login: Login: user=<\ud800>"]:
        rec = dc(message)
        assert isinstance(rec, DovecotRecord)
        rec.message.encode("utf-8")


def test_long_hostile_lines_stay_fast() -> None:
    import time

    for message in ["lmtp(a)<1><s>: msgid=<x>: sent vacation response" + " to <" * 12000,
                    "lmtp(a)<1><s>: msgid=<x>: failed to store" + " mailbox '" * 6000,
                    "auth: " + "sql(a," * 10000, "imap-login: Login: " + "a=, " * 15000,
                    "lmtp(a)<1><s>: msgid=<" + "x" * 60000]:
        start = time.perf_counter()
        parse_dovecot({"time": 1, "program": "dovecot", "message": message})
        assert time.perf_counter() - start < 0.5

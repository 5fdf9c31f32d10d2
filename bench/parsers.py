"""Throughput of the pure log parsers on realistic mailcow traffic.

Builds ~200,000 postfix items in the proportions of a busy mailcow (postscreen, smtpd
connect/TLS/client/disconnect, cleanup, qmgr, lmtp/smtp deliveries, removals, NOQUEUE and
milter rejects, a few warnings) plus rspamd-history rows, netfilter and dovecot items, then
prints items per second for each parser (best of a few rounds, so a noisy neighbour costs
less), and how fast iter_syslog_file reads the same postfix traffic from a syslog file.

    python bench/parsers.py [--lines 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlv.ingest.dovecot import parse_dovecot
from mlv.ingest.netfilter import parse_netfilter
from mlv.ingest.postfix import parse_postfix
from mlv.ingest.rspamd import parse_rspamd
from mlv.ingest.syslog import iter_syslog_file

_rnd = random.Random(1785576612)


def _qid() -> str:
    return f"{_rnd.randrange(16**5):05X}{_rnd.randrange(16**6):X}"


def _ip() -> str:
    return f"{_rnd.choice((198, 203, 192, 209))}.{_rnd.randrange(256)}.{_rnd.randrange(256)}.{_rnd.randrange(1, 255)}"


def _host(ip: str) -> str:
    return _rnd.choice(("unknown", f"mail-{ip.replace('.', '-')}.example.net", "mx1.partner.example"))


def _addr() -> str:
    return f"{_rnd.choice(('alice', 'bob', 'news', 'jane.doe', 'info'))}{_rnd.randrange(100)}@" \
           f"{_rnd.choice(('example.org', 'gmail.com', 'partner.example'))}"


def inbound(t: int) -> list[tuple[str, str]]:
    """One accepted inbound message (postscreen -> smtpd -> cleanup -> qmgr -> lmtp -> removed)."""
    ip, q = _ip(), _qid()
    host, port, sender = _host(ip), _rnd.randrange(1024, 65535), _addr()
    rcpts = [_addr() for _ in range(_rnd.choice((1, 1, 1, 2)))]
    lines = [
        ("postfix/postscreen", f"CONNECT from [{ip}]:{port} to [172.22.1.253]:25"),
        ("postfix/postscreen", f"PASS OLD [{ip}]:{port}"),
        ("postfix/smtpd", f"connect from {host}[{ip}]"),
        ("postfix/smtpd", f"Anonymous TLS connection established from {host}[{ip}]: TLSv1.3 with cipher "
                          "TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS "
                          "(2048 bits) server-digest SHA256"),
        ("postfix/smtpd", f"{q}: client={host}[{ip}]"),
        ("postfix/cleanup", f"{q}: message-id=<CAHx8k2Qm{_rnd.randrange(10**9)}v4rT1pLw9nE3yU6sD0aF5@mail.gmail.com>"),
        ("postfix/qmgr", f"{q}: from=<{sender}>, size={_rnd.randrange(2000, 90000)}, nrcpt={len(rcpts)} "
                         "(queue active)"),
        ("postfix/smtpd", f"disconnect from {host}[{ip}] ehlo=2 starttls=1 mail=1 rcpt={len(rcpts)} bdat=1 quit=1 "
                          f"commands={6 + len(rcpts)}"),
    ]
    for r in rcpts:
        lines.append(("postfix/lmtp", f"{q}: to=<{r}>, relay=dovecot[172.22.1.250]:24, delay=0.71, "
                                      "delays=0.58/0.01/0.02/0.1, dsn=2.0.0, status=sent (250 2.0.0 "
                                      f"<{r}> kP3vQ0SxrGZq3QAA4mW7Lw Saved)"))
    lines.append(("postfix/qmgr", f"{q}: removed"))
    return lines


def outbound(t: int) -> list[tuple[str, str]]:
    """One authenticated submission relayed to a remote MX."""
    q, r = _qid(), _addr()
    return [
        ("postfix/submission/smtpd", "connect from unknown[203.0.113.50]"),
        ("postfix/submission/smtpd", f"{q}: client=unknown[203.0.113.50], sasl_method=PLAIN, "
                                     "sasl_username=alice@example.org"),
        ("postfix/cleanup", f"{q}: message-id=<5e-6a8c2f11-1f-{_rnd.randrange(10**8)}@219473226>"),
        ("postfix/qmgr", f"{q}: from=<alice@example.org>, size=7344, nrcpt=1 (queue active)"),
        ("postfix/submission/smtpd", "disconnect from unknown[203.0.113.50] ehlo=2 starttls=1 auth=1 mail=1 "
                                     "rcpt=1 data=1 quit=1 commands=8"),
        ("postfix/smtp", "Verified TLS connection established to mx1.partner.example[198.51.100.25]:25: TLSv1.3 "
                         "with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature "
                         "ECDSA (P-256) server-digest SHA256"),
        ("postfix/smtp", f"{q}: to=<{r}>, relay=mx1.partner.example[198.51.100.25]:25, delay=1.2, "
                         "delays=0.21/0.01/0.43/0.52, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4F9C27A01B)"),
        ("postfix/qmgr", f"{q}: removed"),
    ]


def rejected(t: int) -> list[tuple[str, str]]:
    """Spam sources: postscreen DNSBL, NOQUEUE rejects, an rspamd milter-reject."""
    ip, port, q = _ip(), _rnd.randrange(1024, 65535), _qid()
    kind = _rnd.randrange(3)
    if kind == 0:
        return [
            ("postfix/postscreen", f"CONNECT from [{ip}]:{port} to [172.22.1.253]:25"),
            ("postfix/postscreen", f"PREGREET 11 after 0.08 from [{ip}]:{port}: EHLO User\\r\\n"),
            ("postfix/postscreen", f"DNSBL rank 8 for [{ip}]:{port}"),
            ("postfix/postscreen", f"NOQUEUE: reject: RCPT from [{ip}]:{port}: 550 5.7.1 Service unavailable; "
                                   f"client [{ip}] blocked using zen.spamhaus.org; from=<{_addr()}>, "
                                   "to=<alice@example.org>, proto=ESMTP, helo=<User>"),
            ("postfix/postscreen", f"HANGUP after 2.4 from [{ip}]:{port} in tests after SMTP handshake"),
            ("postfix/postscreen", f"DISCONNECT [{ip}]:{port}"),
        ]
    if kind == 1:
        return [
            ("postfix/smtpd", f"connect from unknown[{ip}]"),
            ("postfix/smtpd", f"NOQUEUE: reject: RCPT from unknown[{ip}]: 550 5.1.1 <nobody@example.org>: "
                              "Recipient address rejected: User unknown in virtual mailbox table; "
                              f"from=<{_addr()}> to=<nobody@example.org> proto=ESMTP helo=<WIN-3K2J1Q>"),
            ("postfix/smtpd", f"lost connection after RCPT from unknown[{ip}]"),
            ("postfix/smtpd", f"disconnect from unknown[{ip}] ehlo=1 mail=1 rcpt=0/1 commands=2/3"),
            ("postfix/smtps/smtpd", f"warning: unknown[{ip}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6"),
        ]
    return [
        ("postfix/smtpd", f"connect from unknown[{ip}]"),
        ("postfix/smtpd", f"{q}: client=unknown[{ip}]"),
        ("postfix/cleanup", f"{q}: message-id=<{_rnd.randrange(10**12)}@shady.example>"),
        ("postfix/cleanup", f"{q}: milter-reject: END-OF-MESSAGE from unknown[{ip}]: 5.7.1 This message does not "
                            "meet our delivery requirements; from=<billing@shady-invoices.example> "
                            "to=<alice@example.org> proto=ESMTP helo=<mx.shady-invoices.example>"),
        ("postfix/smtpd", f"disconnect from unknown[{ip}] ehlo=1 mail=1 rcpt=1 data=0/1 quit=1 commands=4/5"),
    ]


def postfix_items(n: int) -> list[dict]:
    items: list[dict] = []
    t = 1785576612
    while len(items) < n:
        gen = _rnd.choices((inbound, outbound, rejected), weights=(6, 2, 3))[0]
        for program, message in gen(t):
            items.append({"time": str(t), "priority": "warning" if message.startswith("warning:") else "info",
                          "program": program, "message": message})
        t += _rnd.randrange(2)
    return items[:n]


def rspamd_rows(n: int) -> list[dict]:
    sym = {"name": "BAYES_HAM", "score": -2.99952, "metric_score": -3, "description": "Message probably ham",
           "options": ["99.98%"]}
    base = {
        "is_skipped": False, "score": -4.00952, "required_score": 15, "action": "no action",
        "thresholds": {"reject": 15, "add header": 8, "greylist": 7},
        "symbols": {f"SYM_{i}": dict(sym, name=f"SYM_{i}") for i in range(15)},
        "message-id": "CAHx8k2QmZ7v4rT1pLw9nE3yU6sD0aF5gJ2hK8cB1xV7mN4qR9w@mail.gmail.com", "time_real": 0.912384,
        "sender_smtp": "jane.doe@gmail.com", "sender_mime": "jane.doe@gmail.com", "rcpt_smtp": ["alice@example.org"],
        "rcpt_mime": ["alice@example.org"], "user": "unknown", "unix_time": 1785576612,
        "subject": "Re: Quarterly numbers", "size": 5821, "ip": "209.85.218.47",
    }
    return [dict(base, unix_time=1785576612 + i) for i in range(n)]


def netfilter_items(n: int) -> list[dict]:
    msgs = [
        ("crit", "Banning 198.51.100.77/32 for 30 minutes"),
        ("warn", "198.51.100.77 matched rule id 3 (warning: unknown[198.51.100.77]: SASL LOGIN authentication "
                 "failed: UGFzc3dvcmQ6)"),
        ("warn", "1 more attempts in the next 600 seconds until 198.51.100.77/32 is banned"),
        ("info", "Unbanning 192.0.2.44/32"),
        ("warn", "2001:db8:4:5::9 matched rule id 1 (mailcow UI: Invalid password for admin by 2001:db8:4:5::9)"),
    ]
    return [{"time": 1785576700 + i, "priority": msgs[i % 5][0], "message": msgs[i % 5][1]} for i in range(n)]


def dovecot_items(n: int) -> list[dict]:
    msgs = [
        "imap-login: Login: user=<alice@example.org>, method=PLAIN, rip=203.0.113.50, lip=172.22.1.250, mpid=48213, "
        "TLS, session=<Xk2b9PsY0tjLvwAA>",
        "lmtp(alice@example.org)<4521><kP3vQ0SxrGZq3QAA4mW7Lw>: msgid=<CAHx8k2Q@mail.gmail.com>: saved mail to INBOX",
        "imap(alice@example.org)<48213><Xk2b9PsY0tjLvwAA>: Disconnected: Logged out in=312 out=9824 deleted=0",
        "lmtp(bob@example.org)<4521><kP3v>: sieve: msgid=<a@x.example>: stored mail into mailbox 'Junk'",
        "imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<a@example.org>, method=PLAIN, "
        "rip=198.51.100.77, lip=172.22.1.250, TLS, session=<abc>",
    ]
    return [{"time": str(1785576700 + i), "priority": "info", "program": "dovecot", "message": msgs[i % 5]}
            for i in range(n)]


def rate(parse: Callable[[dict], object], items: list[dict], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for item in items:
            parse(item)
        best = min(best, time.perf_counter() - start)
    return len(items) / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    pf = postfix_items(args.lines)
    rs = rspamd_rows(max(args.lines // 10, 1000))
    nf = netfilter_items(max(args.lines // 10, 1000))
    print(f"parse_postfix:   {rate(parse_postfix, pf, args.rounds):>10,.0f} lines/s  ({len(pf):,} lines)")
    print(f"parse_rspamd:    {rate(parse_rspamd, rs, args.rounds):>10,.0f} rows/s   ({len(rs):,} rows, 15 symbols)")
    print(f"parse_netfilter: {rate(parse_netfilter, nf, args.rounds):>10,.0f} rows/s   ({len(nf):,} rows)")
    dc = dovecot_items(max(args.lines // 10, 1000))
    print(f"parse_dovecot:   {rate(parse_dovecot, dc, args.rounds):>10,.0f} lines/s  ({len(dc):,} lines)")
    # the same postfix traffic as a classic syslog file carries it (mlv import-log)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mail.log"
        path.write_text("".join(f"Aug  1 09:{i // 60 % 60:02d}:{i % 60:02d} mx {it['program']}[{1000 + i % 900}]: "
                                f"{it['message']}\n" for i, it in enumerate(pf)), encoding="utf-8")
        best = float("inf")
        for _ in range(args.rounds):
            start = time.perf_counter()
            n = sum(1 for _ in iter_syslog_file(path, tz="UTC", now=datetime(2026, 8, 2, tzinfo=UTC)))
            best = min(best, time.perf_counter() - start)
    print(f"iter_syslog_file: {n / best:>9,.0f} lines/s  ({n:,} lines, reading only, no postfix parsing)")


if __name__ == "__main__":
    main()

"""Postfix SMTP sessions, queue handling and delivery as simulated processes (spec §4.9).

A :class:`Msg` describes one SMTP transaction; :func:`smtpd_session` plays it from the
connection to the queue (or to the milter reject), :func:`deliver` plays the queue manager
and the delivery agents until the message leaves the queue (sent, bounced or expired), and
:func:`send_dsn` creates the bounce message Postfix generates itself.
"""

from __future__ import annotations

import time as _time
import zlib
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import TYPE_CHECKING

from . import noise, rspamd
from .ids import fmt_delay, lmtp_id, postfix_message_id
from .site import (
    DOVECOT_IP,
    FORWARDS,
    HOSTNAME,
    LEGACY,
    POSTFIX_IP,
    REMOTE_BY_DOMAIN,
    UNREACHABLE,
    VACATION,
    domain_of,
    is_local,
    resolve,
)

if TYPE_CHECKING:
    from .generator import TrafficGenerator

TLS_IN = ("TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 "
          "server-signature RSA-PSS (2048 bits) server-digest SHA256")
TLS_OUT = ("TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 "
           "server-signature ECDSA (P-256) server-digest SHA256")
REJECT_TEXT = "5.7.1 This message does not meet our delivery requirements"
GREYLIST_TEXT = "4.7.1 Try again later"
RATELIMIT_TEXT = '4.7.1 Ratelimit "mailcow" exceeded'


@dataclass(slots=True)
class Msg:
    """One SMTP transaction and what should happen to it."""

    rec: dict  # ground-truth record
    sender: str
    rcpts: list[str]  # envelope recipients as addressed (RCPT TO)
    mid: str | None
    subject: str
    size: int
    program: str = "postfix/smtpd"
    client_host: str = "unknown"
    client_ip: str = ""
    helo: str = ""
    tls: bool = True
    postscreen: bool = False
    sasl_user: str | None = None
    scan: str = "no action"  # rspamd action the scan should end in
    from_header: str | None = None
    rcpt_mime: list[str] | None = None
    # external recipient -> plan: "sent", ("defer", n_deferrals, kind), ("expire", kind), ("bounce",)
    plans: dict = field(default_factory=dict)
    final: list = field(default_factory=list)  # [(to, orig_to | None)] after alias expansion
    qid: str = ""
    arrival: float = 0.0
    greylisted_at: str | None = None
    retry_pass: bool = False


def mx_for(domain: str) -> tuple[str, str]:
    """(hostname, ip) of the MX Postfix delivers to for ``domain``."""
    r = REMOTE_BY_DOMAIN.get(domain)
    if r:
        return r.mx
    for special in (UNREACHABLE, LEGACY):
        if special.domain == domain:
            return special.mx
    return f"mx.{domain}", f"198.51.100.{150 + zlib.crc32(domain.encode()) % 100}"


def _client(m: Msg) -> str:
    return f"{m.client_host}[{m.client_ip}]"


def smtpd_session(g: TrafficGenerator, m: Msg):
    """Connection, envelope, cleanup, milter scan; then queue + delivery or milter reject."""
    rng = g.rng
    client = _client(m)
    port = rng.randint(32768, 65000)
    if m.postscreen:
        to = "[172.22.1.253]:25" if ":" not in m.client_ip else "[fd4d:6169:6c63:6f77::6]:25"
        g.pf("postfix/postscreen", f"CONNECT from [{m.client_ip}]:{port} to {to}")
        yield rng.uniform(0.01, 0.3)
        g.pf("postfix/postscreen", f"PASS {'NEW' if rng.random() < 0.2 else 'OLD'} [{m.client_ip}]:{port}")
    g.pf(m.program, f"connect from {client}")
    yield rng.uniform(0.02, 0.25)
    if m.tls:
        g.pf(m.program, f"Anonymous TLS connection established from {client}: {TLS_IN}")
        yield rng.uniform(0.02, 0.3)
    m.qid = qid = g.qids.new(g.now)
    m.arrival = g.now
    rec = m.rec = g.register(m.rec, qid)
    if m.sasl_user:
        g.pf(m.program, f"{qid}: client={client}, sasl_method={rng.choice(('PLAIN', 'LOGIN'))}, "
                        f"sasl_username={m.sasl_user}")
    else:
        g.pf(m.program, f"{qid}: client={client}")
    yield rng.uniform(0.05, 0.4)
    g.pf("postfix/cleanup", f"{qid}: message-id=<{m.mid or ''}>")
    scan_start = g.t
    time_real = rng.uniform(0.05, 1.4)
    yield time_real
    action = _scan(g, m, scan_start, time_real)
    g.set_action(rec, action)
    if action == "soft reject":
        noise.ratelimited_item(g, m)
    nrcpt = len(m.rcpts)
    starttls = m.tls and "smtps" not in m.program  # port 465 speaks TLS from the start
    tls_cmds = "ehlo=2 starttls=1 " if starttls else "ehlo=1 "
    auth = "auth=1 " if m.sasl_user else ""
    base_cmds = (3 if starttls else 1) + (1 if m.sasl_user else 0) + 1 + nrcpt + 1 + 1
    if action in ("reject", "greylist", "soft reject"):
        text = {"reject": REJECT_TEXT, "greylist": GREYLIST_TEXT, "soft reject": RATELIMIT_TEXT}[action]
        g.pf("postfix/cleanup", f"{qid}: milter-reject: END-OF-MESSAGE from {client}: {text}; "
                                f"from=<{m.sender}> to=<{m.rcpts[0]}> proto=ESMTP helo=<{m.helo}>")
        status = "spam" if action == "reject" else "deferred"
        for r in m.rcpts:
            if rec["recipients"].get(r) != "delivered":
                rec["recipients"][r] = status
        if action == "reject":
            _quarantine(g, m)
        g.qids.free(qid, g.now)
        yield rng.uniform(0.01, 0.1)
        g.pf(m.program, f"disconnect from {client} {tls_cmds}{auth}mail=1 rcpt={nrcpt} data=0/1 quit=1 "
                        f"commands={base_cmds - 1}/{base_cmds}")
        return
    m.final = expand(m.rcpts)
    g.queue[qid] = {"queue_name": "active", "queue_id": qid, "arrival_time": int(m.arrival),
                    "message_size": m.size, "forced_expire": False, "sender": m.sender,
                    "recipients": [t for t, _ in m.final]}
    g.pf("postfix/qmgr", f"{qid}: from=<{m.sender}>, size={m.size}, nrcpt={len(m.final)} (queue active)")
    g.spawn(deliver(g, m), rng.uniform(0.01, 0.2))
    yield rng.uniform(0.0, 0.15)
    data = "bdat=1" if m.client_host.endswith("google.com") else "data=1"
    g.pf(m.program, f"disconnect from {client} {tls_cmds}{auth}mail=1 rcpt={nrcpt} {data} quit=1 "
                    f"commands={base_cmds}")


def expand(rcpts: list[str]) -> list[tuple[str, str | None]]:
    """Alias / alias-domain expansion of envelope recipients into (to, orig_to) pairs."""
    out: list[tuple[str, str | None]] = []
    seen = set()
    for r in rcpts:
        targets = resolve(r) if is_local(r) else [r]
        for t in targets:
            if t in seen:
                continue
            seen.add(t)
            out.append((t, None if t == r else r))
    return out


def _scan(g: TrafficGenerator, m: Msg, unix_time: int, time_real: float) -> str:
    """Emit the rspamd history row of this transaction and return its action."""
    rng = g.rng
    target = m.scan
    greylisted = None
    if target == "greylist":
        greylisted = formatdate(g.now + 300, usegmt=True)
    symbols, score = rspamd.build_symbols(
        rng, target if target != "soft reject" else "no action", ip=m.client_ip,
        sender_domain=domain_of(m.from_header or m.sender), rcpt_count=len(m.rcpts),
        authenticated=m.sasl_user is not None, has_mid=m.mid is not None, greylisted=greylisted)
    if m.retry_pass:
        symbols["GREYLIST"] = {"name": "GREYLIST", "score": 0, "metric_score": 0,
                               "description": "Greylisting result", "options": ["pass"]}
    action = target if target == "soft reject" else rspamd.action_for(score)
    assert action == target, (action, target, score)
    row = rspamd.history_row(
        message_id=m.mid, unix_time=unix_time, time_real=time_real, symbols=symbols, score=score, action=action,
        sender_smtp=m.sender, sender_mime=m.from_header or m.sender or f"MAILER-DAEMON@{HOSTNAME}",
        rcpt_smtp=list(m.rcpts), rcpt_mime=list(m.rcpts if m.rcpt_mime is None else m.rcpt_mime),
        user=m.sasl_user, subject=m.subject, size=max(200, m.size - rng.randint(250, 800)), ip=m.client_ip)
    if target == "soft reject":
        row["passthrough_module"] = "ratelimit"
    g.emit("rspamd-history", row)
    m.rec["_score"] = score
    return action


def _quarantine(g: TrafficGenerator, m: Msg) -> None:
    score = m.rec.get("_score", 15.0)
    seen = set()
    for r in m.rcpts:
        for mbox in expand([r]):
            if mbox[0] in seen or not is_local(mbox[0]):
                continue
            seen.add(mbox[0])
            g.counters["quarantine_id"] += 1
            sc = round(score, 2)
            g.emit("quarantine", {"id": g.counters["quarantine_id"], "qid": m.qid, "subject": m.subject,
                                  "virus_flag": 0, "score": int(sc) if sc.is_integer() else sc, "rcpt": mbox[0],
                                  "sender": m.sender or "empty-env-from@localhost", "action": "reject",
                                  "created": g.t, "notified": 0})


def _resolved(rec: dict, to: str, orig: str | None, status: str) -> None:
    """Set a recipient's status; an envelope address seen before (greylisted) gives way to its targets."""
    rec["recipients"][to] = status
    if orig and orig != to and orig in rec["recipients"]:
        del rec["recipients"][orig]


def _delays(g: TrafficGenerator, m: Msg, conn: float, xfer: float) -> str:
    total = g.now - m.arrival
    a = max(0.0, total - conn - xfer - 0.01)
    return (f"delay={fmt_delay(total)}, delays={fmt_delay(a)}/{fmt_delay(0.01 if total > 0.02 else 0)}/"
            f"{fmt_delay(conn)}/{fmt_delay(xfer)}")


def deliver(g: TrafficGenerator, m: Msg):
    """qmgr + lmtp/smtp delivery attempts until the message leaves the queue."""
    rng = g.rng
    rec, qid = m.rec, m.qid
    pending = list(m.final)
    attempt = 0
    while True:
        deferred: list[tuple[str, str | None, str]] = []
        bounced: list[tuple[str, str]] = []
        local = [p for p in pending if is_local(p[0])]
        remote: dict[str, list] = {}
        for p in pending:
            if not is_local(p[0]):
                remote.setdefault(domain_of(p[0]), []).append(p)
        if local:
            yield from _lmtp(g, m, local, bounced)
        for dom, group in remote.items():
            yield from _smtp(g, m, dom, group, attempt, deferred, bounced)
        if bounced:
            yield rng.uniform(0.01, 0.1)
            yield from send_dsn(g, m, bounced, expired=False)
        if not deferred:
            yield rng.uniform(0.0, 0.05)
            g.pf("postfix/qmgr", f"{qid}: removed")
            g.queue.pop(qid, None)
            g.qids.free(qid, g.now)
            return
        entry = g.queue.get(qid)
        if entry is not None:
            entry["queue_name"] = "deferred"
            entry["recipients"] = [f"{to} ({reason})" for to, _, reason in deferred]
        pending = [(to, orig) for to, orig, _ in deferred]
        yield min(300 * 2 ** attempt, 4000) * rng.uniform(1.0, 1.15)
        attempt += 1
        if g.now - m.arrival > g.max_queue_lifetime:
            g.pf("postfix/qmgr", f"{qid}: from=<{m.sender}>, status=expired, returned to sender")
            for to, _ in pending:
                rec["recipients"][to] = "expired"
            yield rng.uniform(0.01, 0.1)
            yield from send_dsn(g, m, [(to, "expired") for to, _ in pending], expired=True)
            yield rng.uniform(0.0, 0.05)
            g.pf("postfix/qmgr", f"{qid}: removed")
            g.queue.pop(qid, None)
            g.qids.free(qid, g.now)
            return
        if entry is not None:
            entry["queue_name"] = "active"
        g.pf("postfix/qmgr", f"{qid}: from=<{m.sender}>, size={m.size}, nrcpt={len(m.final)} (queue active)")
        yield rng.uniform(0.01, 0.3)


def _lmtp(g: TrafficGenerator, m: Msg, group: list, bounced: list):
    """Deliver local recipients to Dovecot over LMTP (one LMTP session)."""
    from . import traffic

    rng = g.rng
    pid = g.pid()
    g.dc(f"lmtp({pid}): Connect from {POSTFIX_IP}")
    for to, orig in group:
        conn = rng.uniform(0.0, 0.03)
        xfer = rng.uniform(0.02, 0.25)
        yield conn + xfer
        session = lmtp_id(g.rng)
        msgid = f"<{m.mid}>" if m.mid else "unspecified"
        orig_part = f"orig_to=<{orig}>, " if orig else ""
        if m.rec.get("_overquota") == to:
            text = f"host dovecot[{DOVECOT_IP}] said: 552 5.2.2 <{to}> Quota exceeded (mailbox for user is full) " \
                   f"(in reply to end of DATA command)"
            g.dc(f"lmtp({to})<{pid}><{session}>: msgid={msgid}: save failed to INBOX: Quota exceeded "
                 f"(mailbox for user is full)", "err")
            g.pf("postfix/lmtp", f"{m.qid}: to=<{to}>, {orig_part}relay=dovecot[{DOVECOT_IP}]:24, "
                                 f"{_delays(g, m, conn, xfer)}, dsn=5.2.2, status=bounced ({text})")
            _resolved(m.rec, to, orig, "bounced")
            bounced.append((to, text))
            continue
        junk = m.rec.get("action") == "add header"
        if to in FORWARDS or to in VACATION:
            g.dc(f"lmtp({to})<{pid}><{session}>: sieve: msgid={msgid}: stored mail into mailbox "
                 f"'{'Junk' if junk else 'INBOX'}'")
        else:
            g.dc(f"lmtp({to})<{pid}><{session}>: msgid={msgid}: saved mail to {'Junk' if junk else 'INBOX'}")
        g.pf("postfix/lmtp", f"{m.qid}: to=<{to}>, {orig_part}relay=dovecot[{DOVECOT_IP}]:24, "
                             f"{_delays(g, m, conn, xfer)}, dsn=2.0.0, status=sent (250 2.0.0 <{to}> {session} Saved)")
        _resolved(m.rec, to, orig, "delivered")
        traffic.after_local_delivery(g, m, to, pid, session, junk)
    g.dc(f"lmtp({pid}): Disconnect from {POSTFIX_IP}: Logged out (state=READY)")


def _remote_ok(rng, dom: str, host: str, ip: str, mid: str | None) -> str:
    if dom == "gmail.com":
        return (f"250 2.0.0 OK  {rng.randint(1785000000, 1786000000)} {rng.getrandbits(40):x}si"
                f"{rng.randint(10**6, 10**7)}ejc.{rng.randint(100, 999)} - gsmtp")
    if dom == "outlook.com":
        return f"250 2.6.0 <{mid or 'unknown'}> [InternalId={rng.randint(10**12, 10**13)}, " \
               f"Hostname=AM6PR05MB{rng.randint(1000, 9999)}.eurprd05.prod.outlook.com] Queued mail for delivery"
    return f"250 2.0.0 Ok: queued as {rng.getrandbits(40):010X}"


def _smtp(g: TrafficGenerator, m: Msg, dom: str, group: list, attempt: int, deferred: list, bounced: list):
    """One outbound SMTP connection to ``dom``'s MX carrying ``group`` recipients."""
    rng = g.rng
    host, ip = mx_for(dom)
    relay = f"{host}[{ip}]:25"
    program = "enforced-tls-smtp/smtp" if dom == LEGACY.domain else "postfix/smtp"
    plan0 = m.plans.get(group[0][0], "sent")
    kind = plan0[-1] if isinstance(plan0, tuple) else ""
    if kind == "timeout":
        yield 30.0
    else:
        yield rng.uniform(0.1, 0.6)
        if kind != "notls":
            g.pf(program, f"{rng.choice(('Verified', 'Trusted'))} TLS connection established to {relay}: {TLS_OUT}")
        yield rng.uniform(0.05, 0.8)
    for to, orig in group:
        plan = m.plans.get(to, "sent")
        orig_part = f"orig_to=<{orig}>, " if orig else ""
        conn, xfer = (30.0, 0.0) if kind == "timeout" else (rng.uniform(0.1, 0.5), rng.uniform(0.05, 0.9))
        delays = _delays(g, m, conn, xfer)
        if plan == "sent" or (plan[0] == "defer" and attempt >= plan[1]):
            text = _remote_ok(rng, dom, host, ip, m.mid)
            g.pf(program, f"{m.qid}: to=<{to}>, {orig_part}relay={relay}, {delays}, dsn=2.0.0, status=sent ({text})")
            _resolved(m.rec, to, orig, "delivered")
        elif plan[0] == "bounce":
            text = (f"host {host}[{ip}] said: 550 5.1.1 <{to}>: Recipient address rejected: User unknown in "
                    f"virtual mailbox table (in reply to RCPT TO command)")
            g.pf(program, f"{m.qid}: to=<{to}>, {orig_part}relay={relay}, {delays}, dsn=5.1.1, status=bounced ({text})")
            _resolved(m.rec, to, orig, "bounced")
            bounced.append((to, text))
        else:
            dsn, text, rel = _deferral(dom, host, ip, to, kind)
            g.pf(program, f"{m.qid}: to=<{to}>, {orig_part}relay={rel or relay}, {delays}, dsn={dsn}, "
                          f"status=deferred ({text})")
            _resolved(m.rec, to, orig, "deferred")
            deferred.append((to, orig, text))
        yield rng.uniform(0.0, 0.05)


def _deferral(dom: str, host: str, ip: str, to: str, kind: str) -> tuple[str, str, str | None]:
    if kind == "timeout":
        return "4.4.1", f"connect to {host}[{ip}]:25: Connection timed out", "none"
    if kind == "notls":
        return "4.7.4", f"TLS is required, but was not offered by host {host}[{ip}]", None
    if kind == "greylist":
        return "4.2.0", (f"host {host}[{ip}] said: 450 4.2.0 <{to}>: Recipient address rejected: Greylisted, see "
                         f"https://postgrey.schweikert.ch/help/{dom}.html (in reply to RCPT TO command)"), None
    return "4.7.28", (f"host {host}[{ip}] said: 421 4.7.28 Our system has detected an unusual rate of unsolicited "
                      f"mail from your IP address (in reply to end of DATA command)"), None


def send_dsn(g: TrafficGenerator, m: Msg, failed: list, expired: bool):
    """Postfix's non-delivery notification for ``failed`` recipients, back to the sender."""
    if not m.sender:
        return  # never bounce a bounce
    rng = g.rng
    nqid = g.qids.new(g.now)
    mid = postfix_message_id(g.now, nqid)
    rec = g.new_message("dsn", mid, "", local_origin=True, recipients=[m.sender],
                        subject="Undelivered Mail Returned to Sender")
    dsn = Msg(rec=rec, sender="", rcpts=[m.sender], mid=mid, subject=rec["subject"],
              size=m.size + rng.randint(2200, 4200), qid=nqid, arrival=g.now)
    dsn.rec = g.register(rec, nqid)
    g.pf("postfix/cleanup", f"{nqid}: message-id=<{mid}>")
    yield rng.uniform(0.0, 0.05)
    g.pf("postfix/bounce", f"{m.qid}: sender non-delivery notification: {nqid}")
    dsn.final = expand(dsn.rcpts)
    g.queue[nqid] = {"queue_name": "active", "queue_id": nqid, "arrival_time": g.t, "message_size": dsn.size,
                     "forced_expire": False, "sender": "", "recipients": [t for t, _ in dsn.final]}
    g.pf("postfix/qmgr", f"{nqid}: from=<>, size={dsn.size}, nrcpt={len(dsn.final)} (queue active)")
    g.spawn(deliver(g, dsn), rng.uniform(0.05, 0.3))


def date_header(t: float) -> str:
    """RFC 2822 date for simulated time ``t`` (UTC)."""
    return _time.strftime("%a, %d %b %Y %H:%M:%S +0000", _time.gmtime(t))

"""Everything around the mail flow: IMAP and SOGo users, brute-force attackers, scanners,
and the light housekeeping logs (watchdog, acme, cron, api, ui, autodiscover, sasl)."""

from __future__ import annotations

import time as _time
from typing import TYPE_CHECKING

from .ids import dovecot_session, rand_str
from .site import ATTACKER_IPS, DOVECOT_IP, HOSTNAME, MAILBOXES, SPAM_IPS

if TYPE_CHECKING:
    from .generator import TrafficGenerator
    from .smtp import Msg

_HEX = "0123456789abcdef"
WATCHDOG_SERVICES = [("Postfix", 8), ("Dovecot", 12), ("Rspamd", 8), ("MySQL/MariaDB", 10), ("Redis", 5),
                     ("PHP-FPM", 5), ("SOGo", 3), ("Nginx", 5), ("Unbound", 5), ("Clamd", 15), ("Fail2ban", 3)]
USER_AGENTS = ["Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)",
               "Apple-iPhone15C2/2205.236", "Android-Mail/2026.07.14.662313412.Release", "Thunderbird/128.5.0"]


def processes(g: TrafficGenerator):
    """The background processes of the noise sources."""
    yield imap_users(g)
    yield sogo_users(g)
    yield attackers(g)
    yield scanners(g)
    yield periodic(g, 300, watchdog)
    yield periodic(g, 86400, acme, first=5)
    yield periodic(g, 3600, cron, first=120)
    yield periodic(g, 300, api_monitor, first=30)
    yield periodic(g, 600, anvil, first=300)
    yield periodic(g, 1800, autodiscover, first=60, jitter=0.9)
    yield periodic(g, 21600, ui_login, first=900, jitter=0.5)


def periodic(g: TrafficGenerator, every: float, fn, first: float = 0.0, jitter: float = 0.05):
    """Call ``fn(g)`` every ``every`` simulated seconds (with some jitter)."""
    yield first
    while True:
        fn(g)
        yield every * g.rng.uniform(1 - jitter, 1 + jitter)


def sasl_row(g: TrafficGenerator, user: str, service: str, ip: str) -> None:
    """A successful login recorded in mailcow's ``sasl_log`` table."""
    g.emit("sasl", {"service": service, "app_password": None, "username": user, "real_rip": ip,
                    "datetime": _time.strftime("%Y-%m-%d %H:%M:%S", _time.gmtime(g.now))})


# ---------------------------------------------------------------- users
def imap_users(g: TrafficGenerator):
    rng = g.rng
    while True:
        yield rng.expovariate(1 / 240)
        g.spawn(imap_session(g))


def imap_session(g: TrafficGenerator):
    rng = g.rng
    box = rng.choice(MAILBOXES)
    ip = rng.choice(box.client_ips)
    pid, session = g.pid(), dovecot_session(rng)
    proto = "imap" if rng.random() < 0.9 else "pop3"
    g.dc(f"{proto}-login: Login: user=<{box.username}>, method=PLAIN, rip={ip}, lip={DOVECOT_IP}, mpid={pid}, "
         f"TLS, session=<{session}>")
    sasl_row(g, box.username, proto, ip)
    yield rng.uniform(5, 1800)
    g.dc(f"{proto}({box.username})<{pid}><{session}>: Disconnected: Logged out in={rng.randint(50, 5000)} "
         f"out={rng.randint(500, 200000)} deleted=0 expunged=0 trashed=0 hdr_count={rng.randint(0, 40)} "
         f"hdr_bytes={rng.randint(0, 20000)} body_count={rng.randint(0, 5)} body_bytes={rng.randint(0, 90000)}")


def sogo_users(g: TrafficGenerator):
    rng = g.rng
    while True:
        yield rng.expovariate(1 / 400)
        box = rng.choice(MAILBOXES)
        ip = rng.choice(box.client_ips)
        pid = g.pid()
        g.emit("sogo", _sogo(g, f"[{pid}]: SOGoRootPage successful login from '{ip}' for user '{box.username}' - "
                                f"expire = -1  grace = -1"))
        for path, size in (("view", 4211), ("Mail/0/folderINBOX/unseenCount", 40), ("Calendar/alarmslist", 2)):
            g.emit("sogo", _sogo(g, f"[{pid}]: {ip} \"GET /SOGo/so/{box.username}/{path} HTTP/1.1\" 200 "
                                    f"{size}/0 {rng.uniform(0.002, 0.2):.3f} - - 0"))


def _sogo(g: TrafficGenerator, message: str) -> dict:
    return {"time": str(g.t), "priority": "notice", "program": "sogod", "message": message}


def sogo_send(g: TrafficGenerator, user: str, ip: str) -> None:
    """The SOGo web request that submits a mail (port 588 follows)."""
    g.emit("sogo", _sogo(g, f"[{g.pid()}]: {ip} \"POST /SOGo/so/{user}/Mail/0/folderDrafts/newDraft{g.t}-1/send "
                            f"HTTP/1.1\" 200 45/{g.rng.randint(900, 90000)} {g.rng.uniform(0.1, 1.2):.3f} - - 0"))


# ---------------------------------------------------------------- attackers
def attackers(g: TrafficGenerator):
    rng = g.rng
    while True:
        yield rng.expovariate(1 / 1500)
        g.spawn(attacker(g, rng.choice(ATTACKER_IPS)))
        if rng.random() < 0.3:
            g.spawn(typo_user(g))


def attacker(g: TrafficGenerator, ip: str):
    """Password guessing against SMTP AUTH or IMAP, until banned or bored."""
    rng = g.rng
    attempts = rng.randint(4, 25)
    imap = rng.random() < 0.3
    program = rng.choice(["postfix/smtps/smtpd", "postfix/submission/smtpd"])
    for _ in range(attempts):
        if not g.netfilter.is_banned(ip):  # banned: packets are dropped, nothing is logged
            if imap:
                session = dovecot_session(rng)
                line = (f"imap-login: Disconnected: Connection closed (auth failed, 1 attempts in 2 secs): "
                        f"user=<{rng.choice(['info', 'admin', 'test', 'alice'])}@example.org>, method=PLAIN, "
                        f"rip={ip}, lip={DOVECOT_IP}, TLS, session=<{session}>")
                g.dc(line)
                g.netfilter.match(ip, 6, line)
            else:
                client = f"unknown[{ip}]"
                g.pf(program, f"connect from {client}")
                yield rng.uniform(0.1, 0.9)
                if rng.random() < 0.6:
                    text = f"warning: {client}: SASL LOGIN authentication failed: UGFzc3dvcmQ6"
                else:
                    text = (f"warning: {client}: SASL PLAIN authentication failed: (reason unavailable), "
                            f"sasl_username={rng.choice(['info', 'admin', 'postmaster', 'test'])}@example.org")
                g.pf(program, text, "warning")
                g.netfilter.match(ip, 3, text)
                yield rng.uniform(0.0, 0.3)
                g.pf(program, f"lost connection after AUTH from {client}")
                g.pf(program, f"disconnect from {client} ehlo=1 auth=0/1 commands=1/2")
        yield rng.uniform(15, 70)


def typo_user(g: TrafficGenerator):
    """A legitimate user mistyping the password once or twice (no ban)."""
    rng = g.rng
    box = rng.choice(MAILBOXES)
    ip = rng.choice(box.client_ips)
    client = f"unknown[{ip}]"
    for _ in range(rng.randint(1, 2)):
        g.pf("postfix/submission/smtpd", f"connect from {client}")
        yield rng.uniform(0.1, 0.5)
        text = (f"warning: {client}: SASL PLAIN authentication failed: (reason unavailable), "
                f"sasl_username={box.username}")
        g.pf("postfix/submission/smtpd", text, "warning")
        g.netfilter.match(ip, 3, text)
        g.pf("postfix/submission/smtpd", f"disconnect from {client} ehlo=2 starttls=1 auth=0/1 quit=1 commands=4/5")
        yield rng.uniform(5, 30)


def scanners(g: TrafficGenerator):
    """Port scanners: parallel connections (exact duplicate lines in one second), HTTP on port 25."""
    rng = g.rng
    while True:
        yield rng.expovariate(1 / 2400)
        ip = rng.choice(SPAM_IPS)
        client = f"unknown[{ip}]"
        if rng.random() < 0.5:
            for _ in range(2):
                g.pf("postfix/smtpd", f"connect from {client}")
            yield rng.uniform(0.0, 0.6)
            for _ in range(2):
                g.pf("postfix/smtpd", f"lost connection after EHLO from {client}")
                g.pf("postfix/smtpd", f"disconnect from {client} ehlo=1 commands=1")
        else:
            g.pf("postfix/smtpd", f"connect from {client}")
            text = f"warning: non-SMTP command from {client}: GET / HTTP/1.1"
            g.pf("postfix/smtpd", text, "warning")
            g.netfilter.match(ip, 4, text)
            g.pf("postfix/smtpd", f"disconnect from {client} unknown=0/1 commands=0/1")


# ---------------------------------------------------------------- housekeeping
def watchdog(g: TrafficGenerator) -> None:
    for service, hp in WATCHDOG_SERVICES:
        if g.rng.random() < 0.5:
            g.emit("watchdog", {"time": str(g.t), "service": service, "lvl": "100", "hpnow": str(hp),
                                "hptotal": str(hp), "hpdiff": "0"})


def acme(g: TrafficGenerator) -> None:
    g.emit("acme", {"time": str(g.t), "message": f"{HOSTNAME} - Certificate validation done, neither changed nor "
                                                 f"due for renewal, sleeping for another day."})


def cron(g: TrafficGenerator) -> None:
    g.emit("cron", {"time": g.t, "priority": "info", "task": "Quarantine Notification",
                    "message": f"Sent {g.rng.randint(0, 3)} quarantine notifications"})


def api_monitor(g: TrafficGenerator) -> None:
    g.emit("api", {"time": g.t, "uri": "/api/v1/get/status/containers", "method": "GET", "remote": "203.0.113.7",
                   "data": ""})


def anvil(g: TrafficGenerator) -> None:
    stamp = _time.strftime("%b %e %H:%M:%S", _time.gmtime(g.now - g.rng.uniform(10, 500)))
    ip = g.rng.choice(SPAM_IPS + ATTACKER_IPS)
    g.pf("postfix/anvil", f"statistics: max connection rate {g.rng.randint(1, 6)}/60s for (smtpd:{ip}) at {stamp}")
    g.pf("postfix/anvil", f"statistics: max connection count 1 for (smtpd:{ip}) at {stamp}")


def autodiscover(g: TrafficGenerator) -> None:
    rng = g.rng
    box = rng.choice(MAILBOXES)
    if rng.random() < 0.1:
        g.emit("autodiscover", {"time": g.t, "ua": rng.choice(USER_AGENTS), "user": "none",
                                "ip": rng.choice(SPAM_IPS), "service": "Error: invalid or missing request data"})
        return
    g.emit("autodiscover", {"time": g.t, "ua": rng.choice(USER_AGENTS), "user": box.username,
                            "ip": rng.choice(box.client_ips), "service": rng.choice(["activesync", "imap"])})


def ui_login(g: TrafficGenerator) -> None:
    g.counters["ui_id"] += 1
    g.emit("ui", {"id": g.counters["ui_id"], "task": rand_str(g.rng, _HEX, 32), "type": "success",
                  "msg": '["logged_in_as","admin"]', "call": '["check_login","admin","*"]', "user": "admin",
                  "role": "admin", "remote": "203.0.113.7", "time": g.t})


def ratelimited_item(g: TrafficGenerator, m: Msg) -> None:
    """The ``logs/ratelimited`` entry of a message rspamd rate-limited."""
    rl_hash = "RL" + rand_str(g.rng, "abcdefghijklmnopqrstuvwxyz0123456789", 22)
    box = next((b for b in MAILBOXES if b.username == m.sasl_user), None)
    g.emit("ratelimited", {"time": g.t, "rcpt": ", ".join(m.rcpts), "from": m.sender, "user": m.sasl_user or "",
                           "rl_info": f"mailcow({rl_hash})", "rl_name": "mailcow", "rl_hash": rl_hash, "qid": m.qid,
                           "ip": m.client_ip, "message_id": m.mid or "", "header_subject": m.subject,
                           "header_from": f"\"{box.name if box else ''}\" <{m.sender}>"})


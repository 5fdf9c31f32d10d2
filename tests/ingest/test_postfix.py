"""parse_postfix: the whyscream/postfix-grok-patterns corpus, mailcow's own line shapes, bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from mlv.ingest.postfix import parse_postfix, split_relay
from mlv.ingest.records import ParseError, PostfixRecord

GROK_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "postfix-grok-patterns"
GROK_FILES = sorted(GROK_DIR.glob("*.yaml"))

# ------------------------------------------------------------------ grok corpus


def _daemon(pattern: str) -> str:
    """``^%{POSTFIX_TRIVIAL_REWRITE}$`` -> ``trivial-rewrite``."""
    name = re.search(r"%\{POSTFIX_(\w+)\}", pattern).group(1).lower()
    return {"trivial_rewrite": "trivial-rewrite", "script": "postfix-script"}.get(name, name)


# Four grok patterns describe a fragment of a line, not a whole message. Their data is embedded
# into a real line of the daemon that writes it, and the record of that line is checked.
_FRAGMENTS = {
    "command_counter_data": ("smtpd", "disconnect from unknown[192.0.2.1] {}"),
    "delays": ("smtp", "0123456789: to=<a@example.org>, relay=none, delay=1, delays={}, dsn=2.0.0, status=sent (ok)"),
    "relay": ("lmtp", "0123456789: to=<a@example.org>, relay={}, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (ok)"),
    "tls_features": (
        "smtp",
        "0123456789: to=<a@example.org>, relay=mx.example.org[192.0.2.2]:25, delay=1, delays=1/0/0/0, tls={}, "
        "dsn=2.0.0, status=sent (ok)",
    ),
}


def _delay_part(n: int):
    return lambda r: r.delays.split("/")[n]


def _stage(r: PostfixRecord):
    # Rejects keep the SMTP stage in reject_stage; lost connections, postscreen and
    # "(in reply to X command)" keep it in extra.
    return r.reject_stage if r.kind in ("reject", "milter_reject", "action") else r.extra.get("smtp_stage")


# grok field -> how to read it off a record; everything not listed is record.extra[name minus "postfix_"]
_ATTR = {
    "postfix_queueid": lambda r: "NOQUEUE" if r.noqueue else r.queue_id,
    "postfix_client_ip": lambda r: r.client_ip,
    "postfix_client_hostname": lambda r: r.client_host,
    "postfix_client_port": lambda r: r.client_port,
    "postfix_relay_hostname": lambda r: split_relay(r.relay)[0],
    "postfix_relay_ip": lambda r: split_relay(r.relay)[1],
    "postfix_relay_port": lambda r: split_relay(r.relay)[2],
    "postfix_relay_service": lambda r: split_relay(r.relay)[3],
    "postfix_status": lambda r: r.status,
    "postfix_from": lambda r: r.sender,
    "postfix_to": lambda r: r.recipient,
    "postfix_message-id": lambda r: r.message_id or "",
    "postfix_smtp_response": lambda r: r.reason,
    "postfix_local_response": lambda r: r.reason,
    "postfix_pipe_response": lambda r: r.reason,
    "postfix_error_response": lambda r: r.reason,
    "postfix_status_code_enhanced": lambda r: r.dsn,
    "postfix_smtp_stage": _stage,
    "postfix_bounce_queueid": lambda r: r.related_queue_id,
    "postfix_delay_before_qmgr": _delay_part(0),
    "postfix_delay_in_qmgr": _delay_part(1),
    "postfix_delay_conn_setup": _delay_part(2),
    "postfix_delay_transmission": _delay_part(3),
}

# postfix_keyvalue_data is grok's "rest of the line" capture (its trailing comma even differs
# between daemons), so it is not compared as one string: every key=value pair in it must be
# found in the record instead, which is the stronger check.
_KV_PAIR_RE = re.compile(r"(\w+)=(<[^>]*>|[^,\s]*)")
_KV_ATTR = {
    "to": lambda r: r.recipient,
    "orig_to": lambda r: r.orig_to,
    "relay": lambda r: r.relay,
    "delay": lambda r: r.delay,
    "delays": lambda r: r.delays,
    "dsn": lambda r: r.dsn,
    "tls": lambda r: r.extra.get("tls"),
    "from": lambda r: r.sender,
    "size": lambda r: r.size,
    "nrcpt": lambda r: r.nrcpt,
    "uid": lambda r: r.extra.get("uid"),
    "proto": lambda r: r.extra.get("proto"),
    "helo": lambda r: r.helo,
    "client": lambda r: f"{r.client_host}[{r.client_ip}]",
}


def _norm(v) -> str:
    return str(v)


def _check_keyvalue(rec: PostfixRecord, data: str) -> list[str]:
    problems = []
    pairs = _KV_PAIR_RE.findall(data)
    assert pairs, f"no key=value pairs in {data!r}"
    for key, raw in pairs:
        want = raw[1:-1] if raw.startswith("<") else raw
        got = _KV_ATTR[key](rec)
        if key == "delay":
            ok = got == float(want)
        else:
            ok = _norm(got) == want
        if not ok:
            problems.append(f"keyvalue {key}: want {want!r}, got {got!r}")
    return problems


def _get(rec: PostfixRecord, field: str):
    if field in _ATTR:
        return _ATTR[field](rec)
    return rec.extra.get(field.removeprefix("postfix_"))


@pytest.mark.parametrize("path", GROK_FILES, ids=[p.stem for p in GROK_FILES])
def test_grok_vector(path: Path) -> None:
    vec = yaml.safe_load(path.read_text(encoding="utf-8"))
    daemon = _daemon(vec["pattern"])
    data = vec["data"]
    if daemon in _FRAGMENTS:
        daemon, template = _FRAGMENTS[daemon]
        data = template.format(data)
    rec = parse_postfix({"time": "1785576612", "priority": "info", "program": f"postfix/{daemon}", "message": data})
    problems = []
    for field, want in (vec.get("results") or {}).items():
        if field == "postfix_keyvalue_data":
            problems += _check_keyvalue(rec, want)
            continue
        got = _get(rec, field)
        if got is None or _norm(got) != _norm(want):
            problems.append(f"{field}: want {want!r}, got {got!r}")
    assert not problems, f"{data!r} -> kind={rec.kind}\n" + "\n".join(problems) + f"\nextra={rec.extra}"


def test_grok_corpus_is_complete() -> None:
    assert len(GROK_FILES) >= 190
    assert (GROK_DIR / "LICENSE.BSD-3-Clause").is_file()


# ------------------------------------------------------------------ mailcow's own lines (mailcow-api.md §2.3, §4)


def pf(message: str, program: str = "postfix/smtpd", **item) -> PostfixRecord:
    return parse_postfix({"time": "1785576612", "priority": "info", "program": program, "message": message, **item})


def test_item_fields_are_kept() -> None:
    rec = parse_postfix({"time": "1785576613", "priority": "info", "program": "postfix/qmgr",
                         "message": "3C1E21A0B42: removed"})
    assert (rec.time, rec.priority, rec.program, rec.message) == (1785576613, "info", "postfix/qmgr",
                                                                 "3C1E21A0B42: removed")
    assert rec.kind == "removed" and rec.queue_id == "3C1E21A0B42" and not rec.noqueue


def test_time_as_int_and_as_string() -> None:
    assert pf("connect from x[192.0.2.1]", time=1785576612).time == 1785576612
    assert pf("connect from x[192.0.2.1]", time=" 1785576612 ").time == 1785576612


def test_lmtp_delivery_to_dovecot() -> None:
    rec = pf("3C1E21A0B42: to=<alice@example.org>, relay=dovecot[172.22.1.250]:24, delay=0.71, "
             "delays=0.58/0.01/0.02/0.1, dsn=2.0.0, status=sent (250 2.0.0 <alice@example.org> "
             "kP3vQ0SxrGZq3QAA4mW7Lw Saved)", "postfix/lmtp")
    assert rec.kind == "delivery"
    assert rec.queue_id == "3C1E21A0B42"
    assert rec.recipient == "alice@example.org" and rec.orig_to is None
    assert rec.relay == "dovecot[172.22.1.250]:24"
    assert split_relay(rec.relay) == ("dovecot", "172.22.1.250", 24, None)
    assert rec.delay == 0.71 and isinstance(rec.delay, float)
    assert rec.delays == "0.58/0.01/0.02/0.1"
    assert rec.dsn == "2.0.0" and rec.status == "sent"
    assert rec.reason == "250 2.0.0 <alice@example.org> kP3vQ0SxrGZq3QAA4mW7Lw Saved"
    assert rec.related_queue_id is None


def test_alias_expansion_keeps_orig_to() -> None:
    rec = pf("7B2D91C0E44: to=<bob@example.org>, orig_to=<sales@example.org>, relay=dovecot[172.22.1.250]:24, "
             "delay=0.4, delays=0.31/0/0.01/0.08, dsn=2.0.0, status=sent (250 2.0.0 <bob@example.org> "
             "Rm9vYmFyYmF6cXV4AAAAAA Saved)", "postfix/lmtp")
    assert (rec.recipient, rec.orig_to) == ("bob@example.org", "sales@example.org")


def test_outbound_smtp_queued_as() -> None:
    rec = pf("DEE6F1A0B95: to=<carol@partner.example>, relay=mx1.partner.example[198.51.100.25]:25, delay=1.2, "
             "delays=0.21/0.01/0.43/0.52, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4F9C27A01B)",
             "postfix/smtp")
    assert rec.status == "sent" and rec.related_queue_id == "4F9C27A01B"
    assert rec.delay == 1.2


@pytest.mark.parametrize(("message", "status", "dsn", "delay"), [
    ("0A0012D7F0C: to=<bob@unreachable.example>, relay=none, delay=30, delays=0.02/0/30/0, dsn=4.4.1, "
     "status=deferred (connect to mx.unreachable.example[198.51.100.80]:25: Connection timed out)",
     "deferred", "4.4.1", 30.0),
    ("8E3F12A0D6C: to=<gone@partner.example>, relay=mx1.partner.example[198.51.100.25]:25, delay=0.88, "
     "delays=0.12/0/0.41/0.35, dsn=5.1.1, status=bounced (host mx1.partner.example[198.51.100.25] said: 550 5.1.1 "
     "<gone@partner.example>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT "
     "TO command))", "bounced", "5.1.1", 0.88),
    ("5A1C0B2D7E3: to=<someone@bigmail.example>, relay=mx.bigmail.example[198.51.100.90]:25, delay=2.1, "
     "delays=0.1/0/0.9/1.1, dsn=4.7.28, status=deferred (host mx.bigmail.example[198.51.100.90] said: 421 4.7.28 "
     "Our system has detected an unusual rate of unsolicited mail from your IP address (in reply to end of DATA "
     "command))", "deferred", "4.7.28", 2.1),
])
def test_outbound_failures(message: str, status: str, dsn: str, delay: float) -> None:
    rec = pf(message, "postfix/smtp")
    assert (rec.kind, rec.status, rec.dsn, rec.delay) == ("delivery", status, dsn, delay)
    assert rec.reason and not rec.reason.startswith("(") and rec.reason.endswith(("Connection timed out", "command)"))


def test_enforced_tls_smtp_program() -> None:
    rec = pf("2B7A04C1F9E: to=<x@legacy.example>, relay=mx.legacy.example[198.51.100.60]:25, delay=1.5, "
             "delays=0.1/0/1.4/0, dsn=4.7.4, status=deferred (TLS is required, but was not offered by host "
             "mx.legacy.example[198.51.100.60])", "enforced-tls-smtp/smtp")
    assert rec.kind == "delivery" and rec.status == "deferred" and rec.dsn == "4.7.4"
    assert rec.reason == "TLS is required, but was not offered by host mx.legacy.example[198.51.100.60]"


def test_local_spam_learning_alias() -> None:
    rec = pf("4D2E61C0F1A: to=<spam@localhost>, orig_to=<learn-spam@example.org>, relay=local, delay=0.21, "
             "delays=0.05/0.01/0/0.15, dsn=2.0.0, status=sent (delivered to command: /usr/local/bin/rspamd-pipe-spam)",
             "postfix/local")
    assert (rec.recipient, rec.orig_to, rec.relay) == ("spam@localhost", "learn-spam@example.org", "local")
    assert rec.reason == "delivered to command: /usr/local/bin/rspamd-pipe-spam"


def test_delivery_with_future_keys_falls_back() -> None:
    rec = pf("3C1E21A0B42: to=<a@example.org>, relay=dovecot[172.22.1.250]:24, newkey=1, delay=0.5, "
             "delays=0.1/0/0/0.4, dsn=2.0.0, status=sent (ok)", "postfix/lmtp")
    assert (rec.kind, rec.recipient, rec.relay, rec.delay, rec.dsn, rec.status, rec.reason) == (
        "delivery", "a@example.org", "dovecot[172.22.1.250]:24", 0.5, "2.0.0", "sent", "ok")
    assert rec.extra["newkey"] == "1"


def test_noqueue_reject_recipient_unknown() -> None:
    rec = pf("NOQUEUE: reject: RCPT from mail.partner.example[198.51.100.23]: 550 5.1.1 <nobody@example.org>: "
             "Recipient address rejected: User unknown in virtual mailbox table; from=<news@partner.example> "
             "to=<nobody@example.org> proto=ESMTP helo=<mail.partner.example>")
    assert rec.kind == "reject" and rec.status == "rejected"
    assert rec.noqueue and rec.queue_id is None
    assert rec.reject_stage == "RCPT"
    assert (rec.client_host, rec.client_ip) == ("mail.partner.example", "198.51.100.23")
    assert (rec.sender, rec.recipient, rec.helo) == ("news@partner.example", "nobody@example.org",
                                                     "mail.partner.example")
    assert rec.dsn == "5.1.1"
    assert rec.reason == ("550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in virtual "
                          "mailbox table")


def test_noqueue_relay_denied_and_sender_not_owned() -> None:
    rec = pf("NOQUEUE: reject: RCPT from unknown[192.0.2.10]: 454 4.7.1 <victim@elsewhere.example>: Relay access "
             "denied; from=<spam@bad.example> to=<victim@elsewhere.example> proto=ESMTP helo=<WIN-3K2J1Q>")
    assert (rec.client_host, rec.client_ip, rec.dsn, rec.helo) == ("unknown", "192.0.2.10", "4.7.1", "WIN-3K2J1Q")
    rec = pf("NOQUEUE: reject: RCPT from unknown[203.0.113.50]: 553 5.7.1 <ceo@example.org>: Sender address "
             "rejected: not owned by user alice@example.org; from=<ceo@example.org> to=<bob@partner.example> "
             "proto=ESMTP helo=<[192.168.1.20]>", "postfix/submission/smtpd")
    assert rec.kind == "reject" and rec.helo == "[192.168.1.20]" and rec.sender == "ceo@example.org"


def test_postscreen_reject_uses_comma_separators() -> None:
    rec = pf("NOQUEUE: reject: RCPT from [192.0.2.77]:61022: 550 5.7.1 Service unavailable; client [192.0.2.77] "
             "blocked using zen.spamhaus.org; from=<offer@bulk-sender.example>, to=<alice@example.org>, "
             "proto=ESMTP, helo=<User>", "postfix/postscreen")
    assert rec.kind == "reject" and rec.status == "rejected" and rec.noqueue
    assert (rec.client_host, rec.client_ip, rec.client_port) == (None, "192.0.2.77", 61022)
    assert (rec.sender, rec.recipient, rec.helo) == ("offer@bulk-sender.example", "alice@example.org", "User")
    assert rec.reason == "550 5.7.1 Service unavailable; client [192.0.2.77] blocked using zen.spamhaus.org"


@pytest.mark.parametrize(("message", "dsn"), [
    ("4F1A2B0C3D9: milter-reject: END-OF-MESSAGE from unknown[192.0.2.31]: 5.7.1 This message does not meet our "
     "delivery requirements; from=<billing@shady-invoices.example> to=<alice@example.org> proto=ESMTP "
     "helo=<mx.shady-invoices.example>", "5.7.1"),
    ("6C8E52D1B0F: milter-reject: END-OF-MESSAGE from mail.partner.example[198.51.100.23]: 4.7.1 Try again later; "
     "from=<news@partner.example> to=<alice@example.org> proto=ESMTP helo=<mail.partner.example>", "4.7.1"),
])
def test_cleanup_milter_reject(message: str, dsn: str) -> None:
    rec = pf(message, "postfix/cleanup")
    assert rec.kind == "milter_reject" and rec.status == "rejected"
    assert rec.queue_id == message[:11] and not rec.noqueue
    assert rec.reject_stage == "END-OF-MESSAGE" and rec.dsn == dsn
    assert rec.recipient == "alice@example.org" and rec.client_ip
    assert rec.reason.startswith(dsn + " ")


@pytest.mark.parametrize(("action", "kind", "status"), [
    ("reject", "reject", "rejected"),
    ("discard", "reject", "discarded"),
    ("hold", "reject", "held"),
    ("reject_warning", "reject", None),
    ("milter-reject", "milter_reject", "rejected"),
    ("milter-discard", "milter_reject", "discarded"),
    ("filter", "action", None),
])
def test_reject_family(action: str, kind: str, status: str | None) -> None:
    rec = pf(f"NOQUEUE: {action}: RCPT from unknown[192.0.2.10]: 550 5.7.1 <a@example.org>: no; "
             "from=<b@example.net> to=<a@example.org> proto=ESMTP helo=<x>")
    assert (rec.kind, rec.status, rec.extra["action"]) == (kind, status, action)


def test_queued_reject_after_first_recipient() -> None:
    rec = pf("7B2D91C0E44: reject: RCPT from unknown[192.0.2.10]: 550 5.1.1 <x@example.org>: Recipient address "
             "rejected: User unknown; from=<a@example.net> to=<x@example.org> proto=ESMTP helo=<h>")
    assert rec.kind == "reject" and rec.queue_id == "7B2D91C0E44" and not rec.noqueue


def test_cleanup_header_check_reject_takes_the_reply_from_the_tail() -> None:
    rec = pf("3C1E21A0B42: reject: header Subject: buy now from unknown[192.0.2.31]; from=<a@spam.example> "
             "to=<alice@example.org> proto=ESMTP helo=<x>: 5.7.1 message content rejected", "postfix/cleanup")
    assert rec.kind == "reject" and rec.status == "rejected"
    assert rec.dsn == "5.7.1" and rec.reason == "5.7.1 message content rejected"
    assert rec.client_ip == "192.0.2.31" and rec.extra["message"] == "header Subject: buy now from unknown[192.0.2.31]"


def test_bounce_and_delay_notifications() -> None:
    rec = pf("8E3F12A0D6C: sender non-delivery notification: 91B2D1C0E3F", "postfix/bounce")
    assert (rec.kind, rec.queue_id, rec.related_queue_id) == ("bounce_notice", "8E3F12A0D6C", "91B2D1C0E3F")
    assert rec.extra["bounce_reason"] == "non-delivery"
    rec = pf("0A0012D7F0C: sender delay notification: 6F0B33C2A18", "postfix/bounce")
    assert (rec.kind, rec.related_queue_id, rec.extra["bounce_reason"]) == ("bounce_notice", "6F0B33C2A18", "delay")
    rec = pf("482E4404AC8: postmaster non-delivery notification: 47335405A44", "postfix/bounce")
    assert rec.extra["bounce_recipient"] == "postmaster"


def test_qmgr_lines() -> None:
    rec = pf("3C1E21A0B42: from=<jane.doe@gmail.com>, size=5821, nrcpt=1 (queue active)", "postfix/qmgr")
    assert (rec.kind, rec.sender, rec.size, rec.nrcpt) == ("qmgr", "jane.doe@gmail.com", 5821, 1)
    rec = pf("91B2D1C0E3F: from=<>, size=7344, nrcpt=1 (queue active)", "postfix/qmgr")
    assert rec.sender == ""
    rec = pf("0A0012D7F0C: from=<alice@example.org>, status=expired, returned to sender", "postfix/qmgr")
    assert (rec.kind, rec.status, rec.sender) == ("expired", "expired", "alice@example.org")
    rec = pf("0A0012D7F0C: removed", "postfix/postsuper")
    assert (rec.kind, rec.queue_id) == ("removed", "0A0012D7F0C")


def test_long_queue_ids() -> None:
    rec = pf("4hByMm1l3QzDrC1: message-id=<a@example.org>", "postfix/cleanup")
    assert (rec.queue_id, rec.kind, rec.message_id) == ("4hByMm1l3QzDrC1", "message_id", "a@example.org")
    rec = pf("4hByMm1l3QzDrC1: to=<a@example.org>, relay=dovecot[172.22.1.250]:24, delay=0.1, delays=0.1/0/0/0, "
             "dsn=2.0.0, status=sent (250 2.0.0 Saved)", "postfix/lmtp")
    assert rec.queue_id == "4hByMm1l3QzDrC1" and rec.kind == "delivery"
    # an English word of the same length is not a queue id
    assert pf("statistics: max cache size 1 at Oct 26 18:13:50", "postfix/anvil").queue_id is None


@pytest.mark.parametrize(("message", "mid"), [
    ("3C1E21A0B42: message-id=<CAHx8k2QmZ7v4rT1pLw9nE3yU6sD0aF5gJ2hK8cB1xV7mN4qR9w@mail.gmail.com>",
     "CAHx8k2QmZ7v4rT1pLw9nE3yU6sD0aF5gJ2hK8cB1xV7mN4qR9w@mail.gmail.com"),
    ("5A1C0B2D7E3: message-id=<5e-6a8c2f11-1f-7d3a9c00@219473226>", "5e-6a8c2f11-1f-7d3a9c00@219473226"),
    ("91B2D1C0E3F: message-id=<20260801093013.91B2D1C0E3F@mail.example.org>",
     "20260801093013.91B2D1C0E3F@mail.example.org"),
    ("4F1A2B0C3D9: message-id=<>", None),
    ("4F1A2B0C3D9: message-id=bare-text@example", "bare-text@example"),
])
def test_cleanup_message_ids(message: str, mid: str | None) -> None:
    rec = pf(message, "postfix/cleanup")
    assert rec.kind == "message_id" and rec.message_id == mid


def test_resent_message_id_does_not_replace_the_join_key() -> None:
    rec = pf("3C1E21A0B42: resent-message-id=<r@example.org>", "postfix/cleanup")
    assert rec.kind == "resent_message_id" and rec.message_id is None
    assert rec.extra["resent_message_id"] == "r@example.org"


@pytest.mark.parametrize("program", ["postfix/submission/smtpd", "postfix/sogo/smtpd", "postfix/smtps-haproxy/smtpd",
                                     "postfix-1.2.3.4/smtpd", "postfix/smtpd"])
def test_submission_client_with_sasl(program: str) -> None:
    rec = pf("DEE6F1A0B95: client=unknown[203.0.113.50], sasl_method=PLAIN, sasl_username=alice@example.org", program)
    assert rec.kind == "client"
    assert (rec.client_host, rec.client_ip, rec.sasl_method, rec.sasl_user) == (
        "unknown", "203.0.113.50", "PLAIN", "alice@example.org")


def test_client_with_orig_queue_id_and_port() -> None:
    rec = pf("ABCDEF12345: client=mx.example.net[2001:db8::25]:41022, orig_queue_id=99999A, "
             "orig_client=mx.example.net[2001:db8::25]", "postfix/quarantine/smtpd")
    assert (rec.client_ip, rec.client_port) == ("2001:db8::25", 41022)
    assert rec.extra["orig_queue_id"] == "99999A"
    assert rec.extra["orig_client"] == "mx.example.net[2001:db8::25]"


def test_pickup() -> None:
    rec = pf("D2FAE20586: uid=0 from=<fail2ban>", "postfix/pickup")
    assert (rec.kind, rec.sender, rec.extra["uid"]) == ("pickup", "fail2ban", "0")


def test_connect_disconnect_lost_connection() -> None:
    rec = pf("connect from mail-ej1-f47.google.com[209.85.218.47]")
    assert (rec.kind, rec.client_host, rec.client_ip) == ("connect", "mail-ej1-f47.google.com", "209.85.218.47")
    rec = pf("disconnect from mail-ej1-f47.google.com[209.85.218.47] ehlo=2 starttls=1 mail=1 rcpt=1 bdat=1 quit=1 "
             "commands=7")
    assert rec.kind == "disconnect" and rec.extra["cmd_count"] == "7" and rec.extra["cmd_bdat"] == "1"
    rec = pf("disconnect from unknown[192.0.2.10] ehlo=1 auth=0/1 rset=1 quit=1 commands=3/4")
    assert (rec.extra["cmd_auth_accepted"], rec.extra["cmd_auth"]) == ("0", "1")
    rec = pf("lost connection after AUTH from unknown[192.0.2.10]", "postfix/smtps/smtpd")
    assert (rec.kind, rec.client_ip, rec.extra["smtp_stage"]) == ("lost_connection", "192.0.2.10", "AUTH")


def test_postscreen_sequence() -> None:
    rec = pf("CONNECT from [209.85.218.47]:43617 to [172.22.1.253]:25", "postfix/postscreen")
    assert (rec.kind, rec.client_ip, rec.client_port) == ("postscreen", "209.85.218.47", 43617)
    assert rec.extra["postscreen_event"] == "CONNECT" and rec.extra["server_ip"] == "172.22.1.253"
    rec = pf("PASS NEW [198.51.100.23]:50544", "haproxy/postscreen")
    assert (rec.kind, rec.extra["postscreen_access"]) == ("postscreen", "PASS NEW")
    rec = pf("PREGREET 11 after 0.08 from [192.0.2.77]:61022: EHLO User\\r\\n", "postfix/postscreen")
    assert rec.extra["postscreen_violation"] == "PREGREET" and rec.extra["postscreen_violation_time"] == "0.08"
    rec = pf("DNSBL rank 8 for [192.0.2.77]:61022", "postfix/postscreen")
    assert rec.extra["postscreen_dnsbl_rank"] == "8"
    rec = pf("DISCONNECT [192.0.2.77]:61022", "postfix/postscreen")
    assert (rec.kind, rec.extra["postscreen_event"], rec.client_ip) == ("postscreen", "DISCONNECT", "192.0.2.77")


def test_postscreen_ipv6() -> None:
    rec = pf("CONNECT from [2001:db8::77]:50544 to [fd4d:6169:6c63:6f77::253]:25", "postfix/postscreen")
    assert (rec.client_ip, rec.client_port, rec.extra["server_ip"]) == ("2001:db8::77", 50544,
                                                                         "fd4d:6169:6c63:6f77::253")


def test_warnings() -> None:
    rec = pf("warning: unknown[198.51.100.77]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
             "postfix/smtps/smtpd", priority="warning")
    assert (rec.kind, rec.priority, rec.client_host, rec.client_ip, rec.sasl_method, rec.sasl_user) == (
        "warning", "warning", "unknown", "198.51.100.77", "LOGIN", None)
    rec = pf("warning: unknown[198.51.100.77]: SASL PLAIN authentication failed: (reason unavailable), "
             "sasl_username=info@example.org", "postfix/submission/smtpd", priority="warning")
    assert (rec.sasl_method, rec.sasl_user) == ("PLAIN", "info@example.org")
    rec = pf("warning: non-SMTP command from unknown[192.0.2.10]: GET / HTTP/1.1", priority="warning")
    assert (rec.kind, rec.client_host, rec.client_ip) == ("warning", "unknown", "192.0.2.10")
    assert rec.extra["message"] == "non-SMTP command from unknown[192.0.2.10]: GET / HTTP/1.1"
    rec = pf("warning: hostname dsl-77.isp.example does not resolve to address 192.0.2.10: Name or service not known")
    assert rec.client_ip == "192.0.2.10" and rec.client_host is None
    # the priority is the item's, whatever the text says
    assert pf("warning: something odd", priority="info").priority == "info"
    assert pf("fatal: no space", "postfix/master").kind == "error"


def test_misc_lines() -> None:
    rec = pf("addr 192.0.2.77 listed by domain zen.spamhaus.org as 127.0.0.4", "postfix/dnsblog")
    assert (rec.kind, rec.client_ip, rec.extra["dnsbl_domain"]) == ("dnsblog", "192.0.2.77", "zen.spamhaus.org")
    rec = pf("statistics: max connection rate 3/60s for (smtpd:192.0.2.77) at Aug  1 09:31:40", "postfix/anvil")
    assert (rec.kind, rec.client_ip, rec.extra["anvil_conn_rate"], rec.extra["anvil_timestamp"]) == (
        "anvil", "192.0.2.77", "3", "Aug  1 09:31:40")
    rec = pf("Deleted: 3 messages", "postfix/postsuper")
    assert (rec.kind, rec.extra["postsuper_summary_count"]) == ("postsuper", "3")
    rec = pf("daemon started -- version 3.10.12, configuration /opt/postfix/conf", "postfix/master")
    assert (rec.kind, rec.extra["version"]) == ("master", "3.10.12")
    rec = pf("starting the Postfix mail system", "postfix/postfix-script")
    assert rec.kind == "master"
    rec = pf("Verified TLS connection established to mx1.partner.example[198.51.100.25]:25: TLSv1.3 with cipher "
             "TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature ECDSA (P-256) "
             "server-digest SHA256", "postfix/smtp")
    assert (rec.kind, rec.relay, rec.extra["tls_server_signature_curve"]) == (
        "tls", "mx1.partner.example[198.51.100.25]:25", "P-256")


def test_unrecognised_lines_are_other_records() -> None:
    for program, message in [("postfix/smtpd", "something new from Postfix 4"), ("postfix/qmgr", ""),
                             ("postfix/whatever", "x"), ("postfix", "ABCDEF123: a brand new thing")]:
        rec = pf(message, program)
        assert isinstance(rec, PostfixRecord)
    assert pf("ABCDEF123: a brand new thing", "postfix/qmgr").kind == "other"
    assert pf("ABCDEF123: a brand new thing", "postfix/qmgr").queue_id == "ABCDEF123"


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("item", [
    None, [], "text", 42,
    {},
    {"time": "1785576612", "priority": "info", "program": "postfix/smtpd"},
    {"time": "1785576612", "priority": "info", "message": "connect from x[192.0.2.1]"},
    {"priority": "info", "program": "postfix/smtpd", "message": "m"},
    {"time": "abc", "priority": "info", "program": "postfix/smtpd", "message": "m"},
    {"time": True, "priority": "info", "program": "postfix/smtpd", "message": "m"},
    {"time": "nan", "priority": "info", "program": "postfix/smtpd", "message": "m"},
    {"time": "-5", "priority": "info", "program": "postfix/smtpd", "message": "m"},
    {"time": [1], "priority": "info", "program": "postfix/smtpd", "message": "m"},
    {"time": "1785576612", "priority": 3, "program": "postfix/smtpd", "message": "m"},
    {"time": "1785576612", "priority": "info", "program": None, "message": "m"},
    {"time": "1785576612", "priority": "info", "program": "", "message": "m"},
    {"time": "1785576612", "priority": "info", "program": "postfix/smtpd", "message": None},
    {"time": "1785576612", "priority": "info", "program": "postfix/smtpd", "message": b"bytes"},
    {"time": "1785576612", "priority": "info", "program": "postfix/smtpd", "message": "x" * 70000},
])
def test_malformed_items_raise_parse_error(item) -> None:
    with pytest.raises(ParseError):
        parse_postfix(item)


_NASTY = [
    "",
    ":",
    ": : :",
    "NOQUEUE:",
    "NOQUEUE: reject:",
    "NOQUEUE: reject: RCPT from",
    "NOQUEUE: reject: RCPT from [",
    "3C1E21A0B42:",
    "3C1E21A0B42: to=",
    "3C1E21A0B42: to=<a, relay=",
    "3C1E21A0B42: from=<",
    "3C1E21A0B42: client=",
    "3C1E21A0B42: client=[",
    "3C1E21A0B42: message-id=",
    "3C1E21A0B42: milter-reject:",
    "3C1E21A0B42: milter-reject: ; from=<",
    "3C1E21A0B42: host [",
    "3C1E21A0B42: lost connection with ",
    "3C1E21A0B42: sender non-delivery notification:",
    "warning:",
    "warning: ",
    "warning: [",
    "warning: x[: y",
    "connect from",
    "connect from [",
    "disconnect from x[",
    "lost connection after",
    " after  from [",
    "statistics: max",
    "CONNECT from [",
    "PASS NEW [1.2.3.4]:",
    "Anonymous TLS connection established from",
    "\x00\x01\x02\x1b[31m",
    "3C1E21A0B42: to=<a\x00b>, relay=x, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (\r\n)",
    "\ud800\udfff lone surrogates \udc80",
    "3C1E21A0B42: message-id=<\ud83d@x>",
    "connect from h\u00e9\u00e9[192.0.2.1]",
    "NOQUEUE: reject: RCPT from x[1.2.3.4]: " + "550 " * 5000 + "; from=<" * 2000,
    "3C1E21A0B42: to=<" + "a" * 60000 + ">",
    "COMMAND " * 8000,
    "[" * 60000,
    " after " * 9000,
]


@pytest.mark.parametrize("program", ["postfix/smtpd", "postfix/postscreen", "postfix/cleanup", "postfix/smtp",
                                     "postfix/qmgr", "postfix/anvil", "postfix/bounce", "postfix/master",
                                     "postfix/dnsblog", "postfix/scache", "postfix/postsuper", "postfix/x/y/z"])
def test_nasty_messages_never_crash(program: str) -> None:
    import time

    for message in _NASTY:
        start = time.perf_counter()
        try:
            rec = parse_postfix({"time": "1785576612", "priority": "info", "program": program, "message": message})
        except ParseError:
            continue
        assert time.perf_counter() - start < 0.5, f"slow on {message[:40]!r}"
        assert isinstance(rec, PostfixRecord)
        # what gets stored must be encodable
        rec.message.encode("utf-8")
        assert "\x00" not in rec.message

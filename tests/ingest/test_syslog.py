"""Reading plain syslog files: stamp styles, tags, priorities, gzip, year inference."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mlv.ingest.dovecot import parse_dovecot
from mlv.ingest.postfix import parse_postfix
from mlv.ingest.syslog import iter_syslog_file, parse_syslog_line, source_of

BERLIN = ZoneInfo("Europe/Berlin")


def ts(*args: int, tz=UTC) -> str:
    return str(int(datetime(*args, tzinfo=tz).timestamp()))


def test_classic_line() -> None:
    item = parse_syslog_line("Aug  1 09:30:12 mx postfix/smtpd[1234]: connect from unknown[192.0.2.1]",
                             year=2026, tz=BERLIN)
    assert item == {"time": ts(2026, 8, 1, 9, 30, 12, tz=BERLIN), "priority": "info", "program": "postfix/smtpd",
                    "message": "connect from unknown[192.0.2.1]", "source": "postfix"}
    assert int(item["time"]) == 1785569412  # 07:30:12 UTC
    assert parse_postfix(item).kind == "connect"


def test_two_digit_day_and_zone_name() -> None:
    item = parse_syslog_line("Dec 24 23:59:59 mx postfix/qmgr[7]: ABCDEF1234: removed", year=2025, tz="UTC")
    assert item["time"] == ts(2025, 12, 24, 23, 59, 59)


@pytest.mark.parametrize(("stamp", "expected"), [
    ("2026-08-01T09:30:12.123456+02:00", ts(2026, 8, 1, 7, 30, 12)),
    ("2026-08-01T09:30:12+02:00", ts(2026, 8, 1, 7, 30, 12)),
    ("2026-08-01T07:30:12Z", ts(2026, 8, 1, 7, 30, 12)),
    ("2026-08-01T07:30:12.5-00:00", ts(2026, 8, 1, 7, 30, 12)),
    ("2026-08-01T09:30:12", ts(2026, 8, 1, 9, 30, 12, tz=BERLIN)),  # no offset: the given zone
])
def test_rfc3339_line(stamp: str, expected: str) -> None:
    item = parse_syslog_line(f"{stamp} mx postfix/lmtp[99]: ABCDEF1234: removed", year=1999, tz=BERLIN)
    assert item["time"] == expected and item["program"] == "postfix/lmtp"


@pytest.mark.parametrize(("tag", "program"), [
    ("postfix-1.2.3.4/smtpd[123]", "postfix-1.2.3.4/smtpd"),
    ("postfix/submission/smtpd[123]", "postfix/submission/smtpd"),
    ("postfix/smtps-haproxy/smtpd[9]", "postfix/smtps-haproxy/smtpd"),
    ("enforced-tls-smtp/smtp[55]", "enforced-tls-smtp/smtp"),
    ("haproxy/postscreen[1]", "haproxy/postscreen"),
    ("postfix/postfix-script[1]", "postfix/postfix-script"),
    ("postfix/smtpd", "postfix/smtpd"),
])
def test_multi_instance_tags(tag: str, program: str) -> None:
    item = parse_syslog_line(f"Aug  1 09:30:12 mx {tag}: connect from unknown[192.0.2.1]", year=2026, tz=UTC)
    assert item["program"] == program and item["source"] == "postfix"


@pytest.mark.parametrize("line", [
    "Aug  1 09:30:12 mx dovecot[321]: imap-login: Login: user=<a@example.org>, method=PLAIN, rip=192.0.2.5, "
    "lip=192.0.2.1, mpid=5, TLS, session=<s>",
    "Aug  1 09:30:12 mx dovecot: imap-login: Login: user=<a@example.org>, method=PLAIN, rip=192.0.2.5, "
    "lip=192.0.2.1, mpid=5, TLS, session=<s>",
])
def test_dovecot_tags(line: str) -> None:
    item = parse_syslog_line(line, year=2026, tz=UTC)
    assert item["program"] == "dovecot" and item["source"] == "dovecot"
    assert item["message"].startswith("imap-login: Login:")
    rec = parse_dovecot(item)
    assert (rec.kind, rec.user, rec.ip) == ("login", "a@example.org", "192.0.2.5")


@pytest.mark.parametrize(("message", "source", "priority"), [
    ("warning: unknown[192.0.2.1]: SASL LOGIN authentication failed: x", "postfix/smtpd", "warning"),
    ("error: open database /etc/postfix/x.db: No such file", "postfix/smtpd", "err"),
    ("fatal: no SASL authentication mechanisms", "postfix/smtpd", "crit"),
    ("panic: myfree: corrupt or unallocated memory block", "postfix/qmgr", "crit"),
    ("ABCDEF1234: warning: header Subject: x from local; from=<a@b> to=<c@d>", "postfix/cleanup", "info"),
    ("connect from x[192.0.2.1]", "postfix/smtpd", "info"),
    ("imap(a@example.org)<1><s>: Error: Mailbox INBOX: read failed", "dovecot", "err"),
    ("master: Warning: Killed with signal 15", "dovecot", "warning"),
    ("Fatal: Invalid configuration", "dovecot", "crit"),
])
def test_priority_from_message(message: str, source: str, priority: str) -> None:
    item = parse_syslog_line(f"Aug  1 09:30:12 mx {source}[1]: {message}", year=2026, tz=UTC)
    assert item["priority"] == priority


@pytest.mark.parametrize("line", [
    "",
    "garbage",
    "Aug  1 09:30:12 mx sshd[1]: Accepted publickey for root",
    "Aug  1 09:30:12 mx kernel: [123.456] eth0: link up",
    "Aug  1 09:30:12 mx CRON[55]: (root) CMD (x)",
    "Foo  1 09:30:12 mx postfix/smtpd[1]: connect from x[192.0.2.1]",
    "Feb 30 09:30:12 mx postfix/smtpd[1]: connect from x[192.0.2.1]",
    "2026-13-01T09:30:12Z mx postfix/smtpd[1]: connect from x[192.0.2.1]",
    "Aug  1 09:30:12 mx postfix/smtpd[1] no colon",
])
def test_non_mail_or_broken_lines(line: str) -> None:
    assert parse_syslog_line(line, year=2026, tz=UTC) is None


def test_source_of() -> None:
    assert source_of("postfix/smtpd") == "postfix"
    assert source_of("dovecot") == "dovecot"
    assert source_of("enforced-tls-smtp/smtp") == "postfix"
    assert source_of("sshd") is None
    assert source_of("some/thing") is None


def _write(path: Path, lines: list[str], *, gz: bool = False, raw: bytes = b"") -> Path:
    data = ("\n".join(lines) + "\n").encode() + raw
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


LINES = [
    "Aug  1 09:30:12 mx postfix/postscreen[10]: CONNECT from [192.0.2.1]:5000 to [172.22.1.253]:25",
    "Aug  1 09:30:12 mx sshd[11]: not mail",
    "Aug  1 09:30:13 mx postfix/smtpd[12]: connect from unknown[192.0.2.1]",
    "Aug  1 09:30:14 mx dovecot: lmtp(a@example.org)<1><s>: msgid=<m@x>: saved mail to INBOX",
]


def test_plain_file_in_order(tmp_path: Path) -> None:
    path = _write(tmp_path / "mail.log", LINES)
    items = list(iter_syslog_file(path, tz=UTC, now=datetime(2026, 8, 2, tzinfo=UTC)))
    assert [i["program"] for i in items] == ["postfix/postscreen", "postfix/smtpd", "dovecot"]
    assert [i["source"] for i in items] == ["postfix", "postfix", "dovecot"]
    assert items[0]["time"] == ts(2026, 8, 1, 9, 30, 12)


def test_gzip_detected_by_magic_not_name(tmp_path: Path) -> None:
    path = _write(tmp_path / "mail.log.1", LINES, gz=True)  # no .gz suffix
    items = list(iter_syslog_file(path, tz=UTC, now=datetime(2026, 8, 2, tzinfo=UTC)))
    assert len(items) == 3
    path = _write(tmp_path / "plain.gz", LINES)  # .gz name, plain content
    assert len(list(iter_syslog_file(path, tz=UTC, now=datetime(2026, 8, 2, tzinfo=UTC)))) == 3


def test_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    path = _write(tmp_path / "mail.log", LINES[:1],
                  raw=b"Aug  1 09:30:15 mx postfix/cleanup[3]: ABCDEF1234: message-id=<\xff\xfe@x>\r\n")
    items = list(iter_syslog_file(path, tz=UTC, now=datetime(2026, 8, 2, tzinfo=UTC)))
    assert items[1]["message"] == "ABCDEF1234: message-id=<\ufffd\ufffd@x>"
    assert parse_postfix(items[1]).message_id == "\ufffd\ufffd@x"


def test_year_is_now_or_previous(tmp_path: Path) -> None:
    path = _write(tmp_path / "mail.log", LINES)
    # read on Aug 1 at 09:00 - stamps a few minutes "ahead" (clock skew) stay in this year
    items = list(iter_syslog_file(path, tz=UTC, now=datetime(2026, 8, 1, 9, 0, tzinfo=UTC)))
    assert items[0]["time"] == ts(2026, 8, 1, 9, 30, 12)
    # read in March: August must be last year's
    items = list(iter_syslog_file(path, tz=UTC, now=datetime(2026, 3, 1, tzinfo=UTC)))
    assert items[0]["time"] == ts(2025, 8, 1, 9, 30, 12)


def test_year_rollover_while_reading(tmp_path: Path) -> None:
    lines = [
        "Dec 31 23:59:58 mx postfix/smtpd[1]: connect from a[192.0.2.1]",
        "Dec 31 23:59:59 mx postfix/smtpd[1]: connect from b[192.0.2.2]",
        "Jan  1 00:00:00 mx postfix/smtpd[1]: connect from c[192.0.2.3]",
        "Jan  1 00:00:01 mx postfix/smtpd[1]: connect from d[192.0.2.4]",
    ]
    path = _write(tmp_path / "mail.log", lines)
    items = list(iter_syslog_file(path, tz=UTC, now=datetime(2026, 1, 5, tzinfo=UTC)))
    assert [i["time"] for i in items] == [ts(2025, 12, 31, 23, 59, 58), ts(2025, 12, 31, 23, 59, 59),
                                          ts(2026, 1, 1, 0, 0, 0), ts(2026, 1, 1, 0, 0, 1)]
    times = [int(i["time"]) for i in items]
    assert times == sorted(times)


def test_rfc3339_and_classic_mixed(tmp_path: Path) -> None:
    lines = ["2026-08-01T09:30:12.000001+02:00 mx postfix/smtpd[1]: connect from a[192.0.2.1]",
             "Aug  1 09:30:13 mx postfix/smtpd[1]: connect from b[192.0.2.2]"]
    path = _write(tmp_path / "mail.log", lines)
    items = list(iter_syslog_file(path, tz="Europe/Berlin", now=datetime(2026, 8, 2, tzinfo=UTC)))
    assert [int(i["time"]) for i in items] == [1785569412, 1785569413]


def test_default_now_and_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    assert list(iter_syslog_file(path, tz=UTC)) == []
    path = _write(tmp_path / "mail.log", LINES)
    assert len(list(iter_syslog_file(path, tz=None))) == 3

"""parse_netfilter: every row of the mailcow-api.md §6 example, old wording, IPv6, odd input."""

from __future__ import annotations

import pytest

from mlv.ingest.netfilter import parse_netfilter
from mlv.ingest.records import NetfilterRecord, ParseError

# §6 example, newest first, as the API returns it.
EXAMPLE = [
    {"time": 1785576700, "priority": "crit", "message": "Banning 198.51.100.77/32 for 30 minutes"},
    {"time": 1785576700, "priority": "warn", "message": "198.51.100.77 matched rule id 3 (warning: unknown[198.51.100.77]: SASL LOGIN authentication failed: UGFzc3dvcmQ6)"},  # noqa: E501
    {"time": 1785576694, "priority": "warn", "message": "1 more attempts in the next 600 seconds until 198.51.100.77/32 is banned"},  # noqa: E501
    {"time": 1785576694, "priority": "warn", "message": "198.51.100.77 matched rule id 3 (warning: unknown[198.51.100.77]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=info@example.org)"},  # noqa: E501
    {"time": 1785575525, "priority": "info", "message": "Unbanning 192.0.2.44/32"},
    {"time": 1785573301, "priority": "warn", "message": "9 more attempts in the next 600 seconds until 2001:db8:4:5::9/128 is banned"},  # noqa: E501
    {"time": 1785573301, "priority": "warn", "message": "2001:db8:4:5::9 matched rule id 1 (mailcow UI: Invalid password for admin by 2001:db8:4:5::9)"},  # noqa: E501
    {"time": 1785571260, "priority": "crit", "message": "Added host/network 203.0.113.0/24 to denylist"},
    {"time": 1785571260, "priority": "info", "message": "Denylist was changed, it has 1 entries"},
    {"time": 1785571200, "priority": "info", "message": "Allowlist was changed, it has 2 entries"},
]

# (action, ip, network, rule_id, attempts_left, ban_minutes, username, auth_method) per row
EXPECTED = [
    ("banned", "198.51.100.77", "198.51.100.77/32", None, None, 30, None, None),
    ("warning", "198.51.100.77", None, 3, None, None, None, "SASL LOGIN"),
    ("warning", "198.51.100.77", "198.51.100.77/32", None, 1, None, None, None),
    ("warning", "198.51.100.77", None, 3, None, None, "info@example.org", "SASL PLAIN"),
    ("unbanned", "192.0.2.44", "192.0.2.44/32", None, None, None, None, None),
    ("warning", "2001:db8:4:5::9", "2001:db8:4:5::9/128", None, 9, None, None, None),
    ("warning", "2001:db8:4:5::9", None, 1, None, None, "admin", "mailcow UI"),
    ("denylist", None, "203.0.113.0/24", None, None, None, None, None),
    ("denylist", None, None, None, None, None, None, None),
    ("allowlist", None, None, None, None, None, None, None),
]


@pytest.mark.parametrize(("item", "want"), list(zip(EXAMPLE, EXPECTED, strict=True)),
                         ids=[f"row{i}" for i in range(len(EXAMPLE))])
def test_example_rows(item: dict, want: tuple) -> None:
    rec = parse_netfilter(item)
    assert isinstance(rec, NetfilterRecord)
    assert (rec.time, rec.priority, rec.message) == (item["time"], item["priority"], item["message"])
    got = (rec.action, rec.ip, rec.network, rec.rule_id, rec.attempts_left, rec.ban_minutes, rec.username,
           rec.auth_method)
    assert got == want


@pytest.mark.parametrize(("message", "action", "network"), [
    ("Added host/network 203.0.113.0/24 to blacklist", "denylist", "203.0.113.0/24"),
    ("Removed host/network 203.0.113.0/24 from blacklist", "denylist", "203.0.113.0/24"),
    ("Removed host/network 2001:db8::/48 from denylist", "denylist", "2001:db8::/48"),
    ("Added host/network 192.0.2.5/32 to whitelist", "allowlist", "192.0.2.5/32"),
    ("Blacklist was changed, it has 3 entries", "denylist", None),
    ("Whitelist was changed, it has 0 entries", "allowlist", None),
    ("Address 192.0.2.5/32 is whitelisted by rule 192.0.2.0/24", "allowlist", "192.0.2.0/24"),
    ("Address 192.0.2.5/32 is allowlisted by rule 192.0.2.0/24", "allowlist", "192.0.2.0/24"),
])
def test_list_wording_old_and_new(message: str, action: str, network: str | None) -> None:
    rec = parse_netfilter({"time": 1785571260, "priority": "info", "message": message})
    assert (rec.action, rec.network) == (action, network)


def test_allowlisted_address_and_single_host_entries() -> None:
    rec = parse_netfilter({"time": 1, "priority": "info", "message": "Address 192.0.2.5/32 is allowlisted by rule "
                                                                     "192.0.2.0/24"})
    assert rec.ip == "192.0.2.5"
    rec = parse_netfilter({"time": 1, "priority": "crit", "message": "Added host/network 192.0.2.5/32 to denylist"})
    assert rec.ip == "192.0.2.5"


@pytest.mark.parametrize(("message", "ip", "user", "method", "rule"), [
    ("198.51.100.8 matched rule id 6 (dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): "
     "user=<bob@example.org>, method=PLAIN, rip=198.51.100.8, lip=172.22.1.250, TLS, session=<Eb5_fGoX>)",
     "198.51.100.8", "bob@example.org", "dovecot imap", 6),
    ("2001:db8::66 matched rule id 7 (dovecot: pop3-login: Aborted login (auth failed, 3 attempts in 14 secs): "
     "user=<carol@example.org>, method=PLAIN, rip=2001:db8::66, lip=fd4d:6169:6c63:6f77::250, session=<x>)",
     "2001:db8::66", "carol@example.org", "dovecot pop3", 7),
    ("192.0.2.90 matched rule id 8 (SOGo[1234]: [2026-08-01 09:30:12] SOGoRootPage Login from '192.0.2.90' for user "
     "'dave@example.org' might not have worked - password policy: 65535  grace: -1  expire: -1  bound: 0)",
     "192.0.2.90", "dave@example.org", "SOGo", 8),
    ("192.0.2.91 matched rule id 9 (192.0.2.91 \"GET _SOGo_so_dave@example.org_Mail HTTP_1.1\" 403 15_0 0.010 - - 0)",
     "192.0.2.91", None, "SOGo", 9),
    ("192.0.2.92 matched rule id 4 (warning: non-SMTP command from unknown[192.0.2.92]: GET _ HTTP_1.1)",
     "192.0.2.92", None, None, 4),
    ("192.0.2.93 matched rule id 2 (Rspamd UI: Invalid password by 192.0.2.93)", "192.0.2.93", None, "Rspamd UI", 2),
    ("192.0.2.94 matched rule id 6 (auth-worker(123): sql(eve@example.org,192.0.2.94,<Eb5_fGoX>): Password mismatch)",
     "192.0.2.94", "eve@example.org", "dovecot", 6),
])
def test_matched_rule_lines(message: str, ip: str, user: str | None, method: str | None, rule: int) -> None:
    rec = parse_netfilter({"time": 1785576700, "priority": "warn", "message": message})
    assert (rec.action, rec.ip, rec.username, rec.auth_method, rec.rule_id) == ("warning", ip, user, method, rule)


def test_ipv6_ban_cycle() -> None:
    rec = parse_netfilter({"time": 1, "priority": "crit", "message": "Banning 2001:db8:4:5::9/128 for 166 minutes"})
    assert (rec.action, rec.ip, rec.network, rec.ban_minutes) == ("banned", "2001:db8:4:5::9", "2001:db8:4:5::9/128",
                                                                  166)
    rec = parse_netfilter({"time": 1, "priority": "info", "message": "Unbanning 2001:db8:4:5::9/128"})
    assert (rec.action, rec.ip) == ("unbanned", "2001:db8:4:5::9")
    # a wider netban: the network is known, a single client address is not
    rec = parse_netfilter({"time": 1, "priority": "crit", "message": "Banning 198.51.100.0/24 for 30 minutes"})
    assert (rec.ip, rec.network) == (None, "198.51.100.0/24")


@pytest.mark.parametrize("message", [
    "Watching Redis channel F2B_CHANNEL",
    "Clearing all bans",
    "MAILCOW target not found in filter INPUT table, restarting container to fix it...",
    "Error running SNAT on ip6, retrying...",
    "Clear completed: ip6",
    "",
])
def test_info_lines(message: str) -> None:
    rec = parse_netfilter({"time": "1785576700", "priority": "info", "message": message})
    assert rec.action == "info" and rec.time == 1785576700


def test_not_banned_line_keeps_network() -> None:
    rec = parse_netfilter({"time": 1, "priority": "info",
                           "message": "192.0.2.44/32 is not banned, skipping unban and deleting from queue (if any)"})
    assert (rec.action, rec.network, rec.ip) == ("info", "192.0.2.44/32", "192.0.2.44")


@pytest.mark.parametrize("item", [
    None, [], "x",
    {"priority": "info", "message": "m"},
    {"time": "later", "priority": "info", "message": "m"},
    {"time": 1, "priority": "info"},
    {"time": 1, "priority": "info", "message": 5},
    {"time": 1, "priority": ["warn"], "message": "m"},
    {"time": 1, "priority": "info", "message": "m" * 70000},
])
def test_bad_items(item) -> None:
    with pytest.raises(ParseError):
        parse_netfilter(item)


def test_garbage_messages_give_records() -> None:
    for message in ["x matched rule id 3 (", "not-an-ip matched rule id 3 (no ip here)",
                    "999.1.1.1 matched rule id 1 (mailcow UI: Invalid password for a by 999.1.1.1)",
                    "Banning  for  minutes", "Unbanning ", "\ud800 more attempts", "Address  is allowlisted by rule "]:
        rec = parse_netfilter({"time": 1, "priority": "warn", "message": message})
        assert isinstance(rec, NetfilterRecord)
        rec.message.encode("utf-8")
    rec = parse_netfilter({"time": 1, "priority": "warn",
                           "message": "999.1.1.1 matched rule id 1 (mailcow UI: Invalid password for a by 999.1.1.1)"})
    assert rec.ip is None and rec.rule_id == 1


def test_long_hostile_lines_stay_fast() -> None:
    import time

    for message in ["x matched rule id 3 (" + "user=<" * 10000 + ")", "x matched rule id 3 (" + "a" * 60000 + ")",
                    "x matched rule id 3 (" + "for user '" * 6000 + ")", "1.2.3.4 matched rule id 3 (" + "1." * 30000]:
        start = time.perf_counter()
        parse_netfilter({"time": 1, "priority": "warn", "message": message})
        assert time.perf_counter() - start < 0.5

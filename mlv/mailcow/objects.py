"""mailcow API objects (spec §3): domains, mailboxes, aliases, DKIM, status, fail2ban."""

from __future__ import annotations

import json
import zlib
from functools import cache
from importlib import resources

from .site import (
    ALIAS_DOMAINS,
    ALIASES,
    DOMAINS,
    MAILBOXES,
    SERVER_IPV4,
    SERVER_IPV6,
    Mailbox,
)

MIB = 1048576
VERSION = "2026-07a"
DOMAIN_META = {
    "example.org": {"description": "Main company domain", "max_mboxes": 10, "max_aliases": 400, "quota": 20480,
                    "def_quota": 3072, "max_quota_mbox": 10240, "tags": ["customer", "eu"],
                    "created": "2025-11-03 10:22:33", "modified": "2026-06-14 08:01:12"},
    "example.net": {"description": None, "max_mboxes": 5, "max_aliases": 100, "quota": 6144, "def_quota": 2048,
                    "max_quota_mbox": 4096, "tags": [], "created": "2026-01-12 14:05:51", "modified": None},
}
CONTAINERS = [
    ("unbound-mailcow", "ghcr.io/mailcow/unbound:1.24"), ("mysql-mailcow", "mariadb:10.11"),
    ("redis-mailcow", "redis:7.4.6-alpine"), ("clamd-mailcow", "ghcr.io/mailcow/clamd:1.71"),
    ("rspamd-mailcow", "ghcr.io/mailcow/rspamd:4.1.4-1"), ("php-fpm-mailcow", "ghcr.io/mailcow/phpfpm:8.2.29-1"),
    ("sogo-mailcow", "ghcr.io/mailcow/sogo:5.12.3-1"), ("dovecot-mailcow", "ghcr.io/mailcow/dovecot:2.3.21.1-2"),
    ("postfix-mailcow", "ghcr.io/mailcow/postfix:3.10.12-1"),
    ("postfix-tlspol-mailcow", "ghcr.io/mailcow/postfix-tlspol:1.8.14"),
    ("memcached-mailcow", "memcached:alpine"), ("nginx-mailcow", "ghcr.io/mailcow/nginx:1.03"),
    ("acme-mailcow", "ghcr.io/mailcow/acme:1.93"), ("netfilter-mailcow", "ghcr.io/mailcow/netfilter:1.63"),
    ("watchdog-mailcow", "ghcr.io/mailcow/watchdog:2.09"), ("dockerapi-mailcow", "ghcr.io/mailcow/dockerapi:2.11"),
    ("olefy-mailcow", "ghcr.io/mailcow/olefy:1.15"), ("ofelia-mailcow", "mcuadros/ofelia:latest"),
]


@cache
def dkim_keys() -> dict[str, str]:
    """Base64 RSA-2048 public keys per domain (generated once offline; private keys discarded)."""
    return json.loads(resources.files("mlv.mailcow").joinpath("data/dkim_pubkeys.json").read_text())


def _usage(box: Mailbox) -> tuple[int, int]:
    h = zlib.crc32(box.username.encode())
    quota = box.quota_mib * MIB
    used = (h % 900 + 50) * MIB * 3 if quota == 0 else int(quota * ((h % 88) + 4) / 100)
    return used, 300 + h % 20000


def mailbox_object(box: Mailbox, now: int, reduced: bool = False) -> dict:
    """``mailbox/{user}`` object (``reduced`` drops the full-only fields)."""
    used, msgs = _usage(box)
    quota = box.quota_mib * MIB
    h = zlib.crc32(box.username.encode())
    if quota == 0:
        percent, pclass = "- ", "info"
    else:
        percent = round(used * 100 / quota)
        pclass = "danger" if percent >= 90 else "warning" if percent >= 75 else "success"
    local, _, dom = box.username.partition("@")
    obj = {
        "username": box.username, "active": 1, "active_int": 1, "domain": dom, "name": box.name, "local_part": local,
        "quota": quota, "messages": msgs,
        "attributes": {"force_pw_update": "0", "force_tfa": "0", "tls_enforce_in": "0",
                       "tls_enforce_out": "1" if local == "erin" else "0", "sogo_access": "1", "imap_access": "1",
                       "pop3_access": "1" if local == "heidi" else "0", "smtp_access": "1", "sieve_access": "1",
                       "eas_access": "1", "dav_access": "1", "relayhost": "0",
                       "passwd_update": "2026-05-02 11:40:09.000000" if h % 2 else 1777800000 + h % 1000000,
                       "mailbox_format": "maildir:", "quarantine_notification": "hourly",
                       "quarantine_category": "reject", "attribute_hash": ""},
        "custom_attributes": [],
        "quota_used": used, "percent_in_use": percent, "created": "2025-11-03 10:25:40",
        "modified": "2026-05-02 11:40:09",
        "authsource": "mailcow", "percent_class": pclass,
        "last_imap_login": now - 60 - h % 7200, "last_smtp_login": now - 300 - h % 86400, "last_pop3_login": 0,
        "last_sso_login": 0,
    }
    if not reduced:
        obj.update({"max_new_quota": DOMAIN_META[dom]["max_quota_mbox"] * MIB, "spam_aliases": 0,
                    "pushover_active": 0, "rl": False, "rl_scope": "domain", "is_relayed": 0,
                    "sender_acl": list(box.sender_acl)})
    if box.tags:
        obj["tags"] = list(box.tags)
    return obj


def mailboxes(now: int, domains: list[str] | None = None, reduced: bool = False) -> list[dict]:
    """``mailbox/all[/domain,...]``: domain order, then username order."""
    out = []
    for dom in DOMAINS:
        if domains is not None and dom not in domains:
            continue
        for box in sorted(MAILBOXES, key=lambda b: b.username):
            if box.username.endswith("@" + dom):
                out.append(mailbox_object(box, now, reduced))
    return out


def domain_object(dom: str) -> dict:
    """``domain/{domain}`` object with every key of spec §3.1 (``tags`` omitted when none)."""
    meta = DOMAIN_META[dom]
    boxes = [b for b in MAILBOXES if b.username.endswith("@" + dom)]
    quota_sum = sum(b.quota_mib for b in boxes) * MIB
    used = sum(_usage(b)[0] for b in boxes)
    msgs = sum(_usage(b)[1] for b in boxes)
    aliases = sum(1 for a in ALIASES if a.address.endswith("@" + dom))
    obj = {
        "max_new_mailbox_quota": meta["quota"] * MIB - quota_sum,
        "def_new_mailbox_quota": meta["def_quota"] * MIB,
        "quota_used_in_domain": str(quota_sum),
        "bytes_total": str(used) if boxes else 0,
        "msgs_total": str(msgs) if boxes else 0,
        "mboxes_in_domain": len(boxes),
        "mboxes_left": meta["max_mboxes"] - len(boxes),
        "domain_name": dom, "domain_h_name": dom, "description": meta["description"],
        "max_num_aliases_for_domain": meta["max_aliases"], "max_num_mboxes_for_domain": meta["max_mboxes"],
        "def_quota_for_mbox": meta["def_quota"] * MIB, "max_quota_for_mbox": meta["max_quota_mbox"] * MIB,
        "max_quota_for_domain": meta["quota"] * MIB, "relayhost": "0", "backupmx": 0, "backupmx_int": 0,
        "gal": 1, "gal_int": 1, "rl": {"value": "500", "frame": "h"} if dom == "example.net" else False,
        "active": 1, "active_int": 1, "relay_all_recipients": 0, "relay_all_recipients_int": 0,
        "relay_unknown_only": 0, "relay_unknown_only_int": 0, "created": meta["created"], "modified": meta["modified"],
        "aliases_in_domain": aliases, "aliases_left": meta["max_aliases"] - aliases,
        "domain_admins": "-" if dom == "example.net" else "domainadmin",
    }
    if meta["tags"]:
        obj["tags"] = list(meta["tags"])
    return obj


def resolve_domain(name: str) -> str | None:
    """A mailcow domain, or the target of an alias domain, or None."""
    name = name.lower()
    if name in DOMAINS:
        return name
    return ALIAS_DOMAINS.get(name)


def alias_object(a) -> dict:
    """``alias/{id}`` object."""
    dom = a.address.split("@")[1]
    return {"in_primary_domain": "", "id": a.id, "domain": dom, "public_comment": None,
            "private_comment": a.private_comment, "goto": a.goto, "address": a.address,
            "is_catch_all": 1 if a.address.startswith("@") else 0, "internal": 0, "active": 1, "active_int": 1,
            "sogo_visible": 1, "sogo_visible_int": 1, "sender_allowed": 1, "created": "2025-11-03 10:31:02",
            "modified": None}


def aliases(domain: str | None = None) -> list[dict]:
    """``alias/all[/domain]``: per domain, by id."""
    out = []
    for dom in DOMAINS + sorted(ALIAS_DOMAINS):
        if domain is not None and dom != domain:
            continue
        out += [alias_object(a) for a in sorted(ALIASES, key=lambda a: a.id) if a.address.endswith("@" + dom)]
    return out


def alias_domains() -> list[dict]:
    """``alias-domain/all``."""
    return [{"alias_domain": ad, "parent_is_backupmx": 0, "target_domain": target, "active": 1, "active_int": 1,
             "rl": False, "created": "2025-11-04 09:12:45", "modified": None}
            for ad, target in sorted(ALIAS_DOMAINS.items())]


def dkim_object(domain: str) -> dict | None:
    """``dkim/{domain}``; None when the domain has no key."""
    key = dkim_keys().get(domain.lower())
    if key is None:
        return None
    return {"pubkey": key, "length": "2048", "dkim_txt": f"v=DKIM1;k=rsa;t=s;s=email;p={key}",
            "dkim_selector": "dkim", "privkey": ""}


def containers(boot_time: int, states: dict[str, str] | None = None) -> dict:
    """``status/containers`` keyed by service name (all 18 services)."""
    import time as _time

    out = {}
    for i, (name, image) in enumerate(CONTAINERS):
        t = boot_time + i * 2
        nanos = (zlib.crc32(name.encode()) * 7919) % 10**9
        stamp = _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(t)) + f".{nanos:09d}Z"
        out[name] = {"type": "info", "container": name, "state": (states or {}).get(name, "running"),
                     "started_at": stamp, "image": image}
    return out


def vmail() -> dict:
    """``status/vmail`` (``df -H`` strings)."""
    return {"type": "info", "disk": "/dev/sda1", "used": "43G", "total": "106G", "used_percent": "41%"}


def host_ip(ipv4: str | bool = SERVER_IPV4, ipv6: str | bool = SERVER_IPV6) -> dict:
    """``status/host/ip``; a failed lookup is ``False``."""
    return {"ipv4": ipv4, "ipv6": ipv6}


def fail2ban(active_bans: list[dict]) -> dict:
    """``fail2ban`` settings object; ``active_bans`` omitted when empty."""
    obj = {"ban_time": 1800, "max_ban_time": 10000, "ban_time_increment": True, "max_attempts": 10,
           "retry_window": 600, "netban_ipv4": 32, "netban_ipv6": 128,
           "banlist_id": "5f0c6d2e-9a41-4c1b-8e7d-0b6a3f9e2d11", "manage_external": 0,
           "regex": {"1": "mailcow UI: Invalid password for .+ by ([0-9a-f\\.:]+)",
                     "2": "Rspamd UI: Invalid password by ([0-9a-f\\.:]+)",
                     "3": "warning: .*\\[([0-9a-f\\.:]+)\\]: SASL .+ authentication failed: .+",
                     "4": "warning: non-SMTP command from .*\\[([0-9a-f\\.:]+)]:.+",
                     "5": "NOQUEUE: reject: RCPT from \\[([0-9a-f\\.:]+)].+Protocol error.+",
                     "6": "-login: Disconnected.+ \\(auth failed, .+\\): user=.*, method=.+, rip=([0-9a-f\\.:]+),"},
           "whitelist": "198.51.100.240/28\n2001:db8:ffff::/48", "blacklist": ""}
    if active_bans:
        obj["active_bans"] = active_bans
    return obj

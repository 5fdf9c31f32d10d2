"""The emulated mail site: local domains, mailboxes, aliases and the outside world.

Everything here is static configuration shared by the traffic generator (who may send to
whom, which addresses are local) and the object endpoints (domain/mailbox/alias JSON).
Only documentation IP ranges and example domains are used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HOSTNAME = "mail.example.org"
SERVER_IPV4 = "203.0.113.10"
SERVER_IPV6 = "2001:db8:42::10"

# mailcow-internal container addresses (IPV4_NETWORK=172.22.1)
POSTFIX_IP = "172.22.1.253"
DOVECOT_IP = "172.22.1.250"
SOGO_IP = "172.22.1.248"
INTERNAL_PREFIX = "172.22.1."

DOMAINS = ["example.net", "example.org"]  # primary-key order
ALIAS_DOMAINS = {"example.com": "example.org"}
LOCAL_DOMAINS = frozenset(DOMAINS) | frozenset(ALIAS_DOMAINS)


@dataclass(frozen=True)
class Mailbox:
    """A local mailbox and the habits of its owner."""

    username: str
    name: str
    quota_mib: int
    client_ips: tuple[str, ...]  # where the owner logs in from
    tags: tuple[str, ...] = ()
    sender_acl: tuple[str, ...] = ()


MAILBOXES = [
    Mailbox("grace@example.net", "Grace Hopper", 2048, ("203.0.113.61",), ("staff",)),
    Mailbox("heidi@example.net", "Heidi Klum", 2048, ("203.0.113.62", "2001:db8:77::62")),
    Mailbox("ivan@example.net", "Ivan Petrov", 1024, ("203.0.113.63",)),
    Mailbox("alice@example.org", "Alice Example", 3072, ("203.0.113.50", "2001:db8:77::50"), ("staff",),
            ("info@example.org", "@example.net")),
    Mailbox("bob@example.org", "Bob Builder", 3072, ("203.0.113.51",), ("staff",)),
    Mailbox("carol@example.org", "Carol Smith", 3072, ("203.0.113.52",)),
    Mailbox("dave@example.org", "Dave Miller", 0, ("203.0.113.53",)),
    Mailbox("erin@example.org", "Erin Walker", 5120, ("203.0.113.54", "2001:db8:77::54"), ("sales",)),
]
MAILBOX_BY_USER = {m.username: m for m in MAILBOXES}
USERS = [m.username for m in MAILBOXES]


@dataclass(frozen=True)
class Alias:
    """A mailcow alias (address -> comma separated goto)."""

    id: int
    address: str
    goto: str
    private_comment: str | None = None


ALIASES = [
    Alias(3, "support@example.net", "grace@example.net,heidi@example.net", "helpdesk"),
    Alias(11, "postmaster@example.org", "alice@example.org"),
    Alias(17, "info@example.org", "alice@example.org,bob@example.org", "shared inbox"),
    Alias(18, "sales@example.org", "carol@example.org,erin@example.org"),
    Alias(21, "team@example.org", "alice@example.org,bob@example.org,carol@example.org,erin@example.org"),
]
ALIAS_BY_ADDRESS = {a.address: a for a in ALIASES}

# sieve redirect (forward) and vacation rules of some users
FORWARDS = {"dave@example.org": "dave.private@gmail.com"}
VACATION = frozenset({"carol@example.org"})


def domain_of(address: str) -> str:
    """Domain part of an address, lower-cased ('' for the null sender)."""
    return address.rpartition("@")[2].lower()


def is_local(address: str) -> bool:
    """True if the address belongs to a mailcow domain or alias domain."""
    return domain_of(address) in LOCAL_DOMAINS


def resolve(address: str) -> list[str]:
    """Final mailbox addresses an accepted local address expands to (alias/alias domain)."""
    local, _, dom = address.rpartition("@")
    if dom in ALIAS_DOMAINS:
        address = f"{local}@{ALIAS_DOMAINS[dom]}"
    alias = ALIAS_BY_ADDRESS.get(address)
    if alias:
        return alias.goto.split(",")
    if address in MAILBOX_BY_USER:
        return [address]
    return []


@dataclass(frozen=True)
class Remote:
    """An external mail domain: its sending hosts, MX and Message-ID style."""

    domain: str
    senders: tuple[tuple[str, str], ...]  # (hostname, ip) of outgoing servers
    mx: tuple[str, str]  # (hostname, ip) we deliver to
    msgid_style: str
    users: tuple[str, ...]
    weight: int = 1
    tls: bool = True
    dkim_selector: str = "s1"
    extra: dict = field(default_factory=dict)


REMOTES = [
    Remote("gmail.com",
           (("mail-ej1-f47.google.com", "198.51.100.47"), ("mail-wm1-f54.google.com", "198.51.100.54"),
            ("mail-yw1-x112c.google.com", "2001:db8:4860:4864:20::12c")),
           ("gmail-smtp-in.l.google.com", "198.51.100.26"), "gmail",
           ("jane.doe", "john.smith", "m.mueller", "tom.baker", "dave.private"), 5, dkim_selector="20230601"),
    Remote("outlook.com",
           (("mail-am6eur05olkn2081.outbound.protection.outlook.com", "198.51.100.81"),
            ("mail-db8eur05olkn2045.outbound.protection.outlook.com", "198.51.100.45")),
           ("outlook-com.olc.protection.outlook.com", "198.51.100.61"), "outlook",
           ("anna.k", "peter_w", "lisa.marie"), 3, dkim_selector="selector1"),
    Remote("partner.example", (("mail.partner.example", "198.51.100.23"),),
           ("mx1.partner.example", "198.51.100.25"), "uuid", ("carol", "sales", "ceo", "accounting"), 4),
    Remote("shop.example", (("mta-07.mailout.shop.example", "198.51.100.107"),),
           ("mx.shop.example", "198.51.100.108"), "uuid", ("newsletter", "orders", "noreply"), 3),
    Remote("university.example", (("smtp.university.example", "2001:db8:1::25"),),
           ("mx.university.example", "2001:db8:1::26"), "thunderbird", ("prof.jones", "it-support"), 1),
    Remote("bigmail.example", (("out1.bigmail.example", "198.51.100.91"),),
           ("mx.bigmail.example", "198.51.100.90"), "uuid", ("someone", "friend"), 1),
    Remote("oldcorp.example", (("mailgw.oldcorp.example", "192.0.2.120"),),
           ("mailgw.oldcorp.example", "192.0.2.120"), "none", ("printer", "scanner", "cron"), 1, tls=False),
]
REMOTE_BY_DOMAIN = {r.domain: r for r in REMOTES}

# Destinations that fail in specific ways (outbound scenarios)
UNREACHABLE = Remote("unreachable.example", (), ("mx.unreachable.example", "198.51.100.80"), "uuid", ("bob",))
LEGACY = Remote("legacy.example", (), ("mx.legacy.example", "198.51.100.60"), "uuid", ("x", "info"))

SPAM_DOMAINS = ("shady-invoices.example", "bulk-sender.example", "cheap-meds.example", "crypto-win.example")
SPAM_IPS = ("192.0.2.31", "192.0.2.77", "192.0.2.10", "192.0.2.143", "192.0.2.201",
            "2001:db8:bad::17", "2001:db8:bad::99")
ATTACKER_IPS = ("198.51.100.77", "192.0.2.44", "203.0.113.199", "192.0.2.66",
                "2001:db8:4:5::9", "2001:db8:dead:beef::2")

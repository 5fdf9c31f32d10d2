"""The rules of correlation that do not touch the database: locality, direction, final status.

Vocabulary (per recipient): delivered, deferred, bounced, expired, rejected, spam.
A message's final_status is derived from its recipients, the worst first:
bounced > expired > deferred > rejected > spam > delivered (a partly bounced message shows
as bounced, with each recipient's own status beside it). No recipient known yet: None.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

STATUS_ORDER = ("bounced", "expired", "deferred", "rejected", "spam", "delivered")
FINAL = {"delivered", "bounced", "expired", "rejected", "spam"}

# Postfix's word on a delivery line -> our per-recipient status.
DELIVERY_STATUS = {
    "sent": "delivered",
    "deferred": "deferred",
    "bounced": "bounced",
    "expired": "expired",
}

# mailcow's internal Docker networks (default IPV4_NETWORK=172.22.1, IPv6 ULA) and loopback:
# mail from there was submitted by SOGo, Dovecot (sieve redirects, vacation) or Postfix itself.
INTERNAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "172.22.1.0/24", "127.0.0.0/8", "::1/128", "fd4d:6169:6c63:6f77::/64",
))

# smtpd instances that only take authenticated submissions in mailcow.
SUBMISSION_PROGRAMS = ("/submission/", "/smtps/", "/sogo/", "submission-haproxy", "smtps-haproxy")


def final_status(statuses: Iterable[str]) -> str | None:
    """The message status derived from its recipients' statuses."""
    present = set(statuses)
    for status in STATUS_ORDER:
        if status in present:
            return status
    return None


def is_internal_ip(ip: str | None) -> bool:
    if not ip:
        return False
    try:
        addr = ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        return False
    return any(addr in net for net in INTERNAL_NETWORKS)


def is_submission_program(program: str) -> bool:
    return any(part in program for part in SUBMISSION_PROGRAMS)


class LocalDomains:
    """Which domains are ours: mailcow domains, alias domains, LOCAL_DOMAINS, and their subdomains."""

    def __init__(self, domains: Iterable[str] = ()) -> None:
        self.domains = {d.strip().lower().rstrip(".") for d in domains if d and d.strip()}

    def __bool__(self) -> bool:
        return bool(self.domains)

    def is_local_domain(self, domain: str) -> bool:
        domain = domain.lower().rstrip(".")
        while domain:
            if domain in self.domains:
                return True
            _, _, domain = domain.partition(".")
        return False

    def is_local_address(self, address: str | None) -> bool:
        if not address or "@" not in address:
            # Bare local names (postmaster, root) and localhost pipes are local by nature.
            return bool(address) or address == ""
        domain = address.rsplit("@", 1)[1]
        return domain == "localhost" or self.is_local_domain(domain)


def direction(local_origin: bool, recipients: Iterable[str], domains: LocalDomains) -> str:
    """inbound, outbound or internal, from where the mail came in and where it goes."""
    if not local_origin:
        return "inbound"
    recips = list(recipients)
    if any(not domains.is_local_address(r) for r in recips):
        return "outbound"
    return "internal" if recips else "outbound"

"""Source IP enrichment after import: reverse DNS names (cached) and GeoIP refreshes, in ``dmarc_ip``.

A name is looked up once and again after ``RECHECK_SECONDS``; failures (NXDOMAIN, timeouts) are
cached too, as "no name", so a dead resolver costs one timeout per IP per week, not per page view.
GeoIP fields are filled at import; :func:`refresh_geo` fills the IPs imported while no database
was configured, and everything again after the databases are updated.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dns.exception
import dns.nameserver
import dns.resolver
import dns.reversename
from sqlalchemy import Engine, text

from mlv.dmarc.geoip import GeoIP

RECHECK_SECONDS = 7 * 86400


def make_resolver(nameservers: list[str] | None = None, timeout: float = 2.0) -> dns.resolver.Resolver:
    """The system resolver, or the given `ip` / `ip:port` servers (DNS_NAMESERVERS)."""
    if not nameservers:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        servers: list[dns.nameserver.Nameserver] = []
        for server in nameservers:
            host, port = server, 53
            if server.count(":") == 1:
                host, _, port_text = server.partition(":")
                port = int(port_text)
            elif server.startswith("[") and "]:" in server:
                host, _, port_text = server[1:].partition("]:")
                port = int(port_text)
            servers.append(dns.nameserver.Do53Nameserver(host, port))
        resolver.nameservers = servers
    resolver.lifetime = timeout
    resolver.timeout = timeout
    return resolver


def reverse_name(ip: str, resolver: dns.resolver.Resolver) -> str | None:
    """The PTR name of `ip` (without the final dot), or None."""
    try:
        answer = resolver.resolve(dns.reversename.from_address(ip), "PTR")
    except (dns.exception.DNSException, ValueError, OSError):
        return None
    for record in answer:
        return str(record.target).rstrip(".")[:253] or None
    return None


def resolve_pending(engine: Engine, *, nameservers: list[str] | None = None, timeout: float = 2.0,
                    limit: int = 500, workers: int = 8, now: float | None = None) -> int:
    """Look up the IPs never looked up (or not for a week); returns how many were looked up."""
    now_int = int(now if now is not None else time.time())
    with engine.connect() as conn:
        ips = list(conn.execute(text(
            "SELECT ip FROM dmarc_ip WHERE ptr_checked_at IS NULL OR ptr_checked_at < :stale "
            "ORDER BY ptr_checked_at IS NOT NULL, ptr_checked_at LIMIT :n"),
            {"stale": now_int - RECHECK_SECONDS, "n": limit}).scalars())
    if not ips:
        return 0
    resolver = make_resolver(nameservers, timeout)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(ips)))) as pool:
        names = list(pool.map(lambda ip: reverse_name(ip, resolver), ips))
    with engine.begin() as conn:
        conn.execute(text("UPDATE dmarc_ip SET hostname = :name, ptr_checked_at = :t WHERE ip = :ip"),
                     [{"name": name, "t": now_int, "ip": ip} for ip, name in zip(ips, names, strict=True)])
    return len(ips)


def resolve_for_settings(engine: Engine, settings: Any, *, limit: int = 500) -> int:
    if not settings.dmarc_rdns_enabled:
        return 0
    return resolve_pending(engine, nameservers=list(settings.dns_nameservers) or None,
                           timeout=settings.dmarc_rdns_timeout, limit=limit)


def refresh_geo(engine: Engine, geo: GeoIP, *, only_missing: bool = True, batch: int = 5000,
                now: float | None = None) -> int:
    """Fill (or, with only_missing=False, redo) the GeoIP fields of known IPs; returns how many."""
    if not geo.available:
        return 0
    now_int = int(now if now is not None else time.time())
    condition = "geo_checked_at IS NULL" if only_missing else "(geo_checked_at IS NULL OR geo_checked_at < :t)"
    select_ips = text(f"SELECT ip FROM dmarc_ip WHERE {condition} AND ip > :last ORDER BY ip LIMIT :n")
    done = 0
    last = ""
    while True:
        with engine.connect() as conn:
            ips = list(conn.execute(select_ips, {"t": now_int, "last": last, "n": batch}).scalars())
        if not ips:
            return done
        rows = []
        for ip in ips:
            info = geo.lookup(ip)
            rows.append({"ip": ip, "cc": info.country_code, "cn": info.country_name, "city": info.city,
                         "asn": info.asn, "org": info.asn_org, "t": now_int})
        with engine.begin() as conn:
            conn.execute(text("UPDATE dmarc_ip SET country_code = :cc, country_name = :cn, city = :city, asn = :asn, "
                              "asn_org = :org, geo_checked_at = :t WHERE ip = :ip"), rows)
        done += len(ips)
        last = ips[-1]

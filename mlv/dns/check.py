"""All checks of a domain card, for many domains at once, in one event loop and one resolver.

Checks of different domains and of different record types run concurrently; queries shared by
many domains (a provider's include, the server's PTR) go out once. One check failing, or one
domain's nameservers being dead, never stops the others: each check returns a status, and the
run lists the domains whose answers could not be fetched.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlv.dns.bimi import check_bimi
from mlv.dns.common import FAILED_KEY, result
from mlv.dns.dkim import check_dkim
from mlv.dns.dmarc import check_dmarc
from mlv.dns.mta_sts import check_mta_sts
from mlv.dns.mx import check_mx
from mlv.dns.rdns import check_reverse_dns
from mlv.dns.resolver import DEFAULT_TIMEOUT, Resolver
from mlv.dns.spf import check_spf
from mlv.dns.tlsrpt import check_tlsrpt

log = logging.getLogger(__name__)
CHECKS = ("spf", "dkim", "dmarc", "mx", "reverse_dns", "mta_sts", "tls_rpt", "bimi")


@dataclass(frozen=True)
class DomainTarget:
    """A domain to check; `mailcow_dkim` is mailcow's dkim/{domain} answer ({} = no key, None = not asked)."""

    name: str
    mailcow_dkim: dict | None = None
    selector: str | None = None


@dataclass
class RunResult:
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # domain -> dns_checks
    errors: list[str] = field(default_factory=list)  # "domain: what went wrong"
    failed: set[str] = field(default_factory=set)
    queries: int = 0
    elapsed: float = 0.0


def utc_stamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_domain(name: str) -> str:
    """Lower-case, no final dot, IDN as punycode (mailcow's domain_name form)."""
    name = name.strip().rstrip(".").lower()
    try:
        return name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        return name


def unknown_checks() -> dict[str, Any]:
    """The dns_checks of a domain never checked."""
    return {**{name: result("unknown", "Not checked yet") for name in CHECKS}, "checked_at": None}


async def _safe(name: str, domain: str, work: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    try:
        return await work
    except Exception as exc:  # a bug in one check must not blank the card
        log.exception("%s check of %s failed", name, domain)
        return result("error", f"{name} check failed: {type(exc).__name__}: {exc}")


async def check_domain(target: DomainTarget, *, resolver: Resolver, server_ips: Sequence[str] = (),
                       https_port: int = 443, verify: ssl.SSLContext | bool = True,
                       http_timeout: float = DEFAULT_TIMEOUT) -> tuple[dict[str, Any], list[str]]:
    """(dns_checks of one domain, DNS failures met on the way)."""
    domain = normalize_domain(target.name)
    ips = list(server_ips)
    dmarc = asyncio.ensure_future(_safe("DMARC", domain, check_dmarc(domain, resolver=resolver)))
    mx = asyncio.ensure_future(_safe("MX", domain, check_mx(domain, server_ips=ips, resolver=resolver)))

    async def bimi() -> dict[str, Any]:
        return await check_bimi(domain, dmarc=await dmarc, resolver=resolver)

    async def reverse_dns() -> dict[str, Any]:
        hosts = [rec["host"] for rec in (await mx).get("records", [])]
        return await check_reverse_dns(domain, server_ips=ips, mx_hosts=hosts, resolver=resolver)

    values = await asyncio.gather(
        _safe("SPF", domain, check_spf(domain, server_ips=ips, resolver=resolver)),
        _safe("DKIM", domain, check_dkim(domain, selector=target.selector, mailcow=target.mailcow_dkim,
                                         resolver=resolver)),
        dmarc, mx,
        _safe("Reverse DNS", domain, reverse_dns()),
        _safe("MTA-STS", domain, check_mta_sts(domain, resolver=resolver, https_port=https_port, verify=verify,
                                               timeout=http_timeout)),
        _safe("TLS-RPT", domain, check_tlsrpt(domain, resolver=resolver)),
        _safe("BIMI", domain, bimi()))
    failures = [failure for value in values if (failure := value.pop(FAILED_KEY, None))]
    return {**dict(zip(CHECKS, values, strict=True)), "checked_at": utc_stamp()}, failures


async def check_domains(targets: Sequence[DomainTarget | str], *, server_ips: Sequence[str] = (),
                        nameservers: Sequence[str] | None = None, timeout: float = DEFAULT_TIMEOUT,
                        retries: int = 1, https_port: int = 443, verify: ssl.SSLContext | bool = True,
                        resolver: Resolver | None = None) -> RunResult:
    """Check every domain concurrently; never raises for DNS or HTTP trouble."""
    started = time.perf_counter()
    items = [t if isinstance(t, DomainTarget) else DomainTarget(t) for t in targets]
    own = resolver is None
    resolver = resolver or Resolver(nameservers, timeout=timeout, retries=retries)
    run = RunResult()
    try:
        outcomes = await asyncio.gather(*(check_domain(t, resolver=resolver, server_ips=server_ips,
                                                       https_port=https_port, verify=verify, http_timeout=timeout)
                                          for t in items))
    finally:
        if own:
            await resolver.close()
    for target, (checks, failures) in zip(items, outcomes, strict=True):
        domain = normalize_domain(target.name)
        run.results[domain] = checks
        if failures:
            run.failed.add(domain)
            run.errors.append(f"{domain}: {failures[0]}")
    run.queries = resolver.queries
    run.elapsed = time.perf_counter() - started
    return run

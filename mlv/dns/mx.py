"""MX records and their addresses: where the world delivers mail for the domain."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from typing import Any

from mlv.dns.common import DEFAULT_TIMEOUT, mark_failure, result, use_resolver
from mlv.dns.resolver import Answer, Resolver

__all__ = ["check_mx", "query_mx"]


async def query_mx(domain: str, *, resolver: Resolver | None = None, nameservers: Sequence[str] | None = None,
                   timeout: float = DEFAULT_TIMEOUT, retries: int = 1) -> Answer:
    async with use_resolver(resolver, nameservers, timeout, retries) as r:
        return await r.query(domain, "MX")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


async def check_mx(domain: str, *, server_ips: Sequence[str] = (), resolver: Resolver | None = None,
                   nameservers: Sequence[str] | None = None, timeout: float = DEFAULT_TIMEOUT,
                   retries: int = 1) -> dict[str, Any]:
    """MX hosts with their A/AAAA records, and whether one of them is this mail server."""
    async with use_resolver(resolver, nameservers, timeout, retries) as r:
        answer = await r.query(domain, "MX")
        payload: dict[str, Any] = {"records": [], "warnings": [], "info": []}
        if answer.failed:
            return mark_failure(result("error", f"MX lookup failed: {answer.error}", **payload), answer)
        if answer.status == "nxdomain":
            return result("error", f"Domain {domain} does not exist (NXDOMAIN)", **payload)
        if not answer.ok:
            fallback = await r.query(domain, "A")
            payload["warnings"].append("Without MX, senders fall back to the domain's own A/AAAA address "
                                       + ("(there is one)" if fallback.ok else "(there is none)"))
            return result("error", "No MX record found", **payload)
        if [host for _, host in answer.records] == [""]:
            payload["records"] = [{"host": ".", "preference": answer.records[0][0], "ipv4": [], "ipv6": []}]
            return result("error", "Null MX (RFC 7505): the domain says it accepts no mail", **payload)
        hosts = [(pref, host) for pref, host in answer.records if host]
        lookups = await asyncio.gather(*(asyncio.gather(r.query(h, "A"), r.query(h, "AAAA")) for _, h in hosts))
    return _verdict(hosts, lookups, list(server_ips), payload)


def _verdict(hosts: list[tuple[int, str]], lookups: list[tuple[Answer, Answer]], server_ips: list[str],
             payload: dict[str, Any]) -> dict[str, Any]:
    warnings: list[str] = payload["warnings"]
    info: list[str] = payload["info"]
    errors: list[str] = []
    ours = {str(ipaddress.ip_address(ip)) for ip in server_ips}
    for (pref, host), (v4, v6) in zip(hosts, lookups, strict=True):
        ipv4, ipv6 = list(v4.records if v4.ok else ()), list(v6.records if v6.ok else ())
        payload["records"].append({"host": host, "preference": pref, "ipv4": ipv4, "ipv6": ipv6,
                                   "points_to_server": bool(ours & {*ipv4, *ipv6})})
        if _is_ip(host):
            errors.append(f"MX {host} is an IP address: an MX must name a host")
        elif v4.failed or v6.failed:
            errors.append(f"Address lookup for MX {host} failed: {(v4 if v4.failed else v6).error}")
        elif not ipv4 and not ipv6:
            errors.append(f"MX {host} has no A or AAAA record: mail to it cannot be delivered")
        elif not ipv6:
            info.append(f"MX {host} has no IPv6 address (AAAA)")
    if ours and not any(rec["points_to_server"] for rec in payload["records"]):
        warnings.append(f"No MX host points to the mail server ({', '.join(sorted(ours))}): fine only when "
                        "mail reaches it through another gateway")
    if len(hosts) == 1:
        info.append("A single MX host: senders queue mail while it is down")
    if errors:
        warnings[:0] = errors[1:]
        return result("error", errors[0], **payload)
    names = ", ".join(f"{host} ({pref})" for pref, host in hosts)
    if warnings:
        return result("warning", f"MX records found: {names}", **payload)
    return result("success", f"MX records found: {names}", **payload)

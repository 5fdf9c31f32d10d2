"""Reverse DNS of the mail server's addresses and forward-confirmation (FCrDNS).

Large receivers refuse or distrust mail from an address whose PTR name is missing or does not
resolve back to it; this check is the same for every domain of the server, and its queries are
asked once per run.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from typing import Any

import dns.reversename

from mlv.dns.common import DEFAULT_TIMEOUT, mark_failure, result, use_resolver
from mlv.dns.resolver import Answer, Resolver

__all__ = ["check_reverse_dns", "query_ptr"]


async def query_ptr(ip: str, *, resolver: Resolver | None = None, nameservers: Sequence[str] | None = None,
                    timeout: float = DEFAULT_TIMEOUT, retries: int = 1) -> Answer:
    async with use_resolver(resolver, nameservers, timeout, retries) as r:
        return await r.query(dns.reversename.from_address(ip).to_text(), "PTR")


async def _one(ip: str, resolver: Resolver) -> dict[str, Any]:
    address = ipaddress.ip_address(ip)
    answer = await resolver.query(dns.reversename.from_address(str(address)).to_text(), "PTR")
    entry: dict[str, Any] = {"ip": str(address), "ptr": list(answer.records) if answer.ok else [],
                             "forward_confirmed": False, "problem": None, "failure": answer}
    if answer.failed:
        entry["problem"] = f"PTR lookup for {address} failed: {answer.error}"
        return entry
    if not answer.ok:
        entry["problem"] = f"No reverse DNS (PTR) for {address}: many receivers reject or junk its mail"
        return entry
    rdtype = "A" if address.version == 4 else "AAAA"
    forward = await asyncio.gather(*(resolver.query(name, rdtype) for name in answer.records))
    confirmed = [name for name, a in zip(answer.records, forward, strict=True)
                 if a.ok and any(ipaddress.ip_address(x) == address for x in a.records)]
    entry["forward_confirmed"] = bool(confirmed)
    if not confirmed:
        entry["problem"] = (f"PTR {', '.join(answer.records)} does not resolve back to {address} "
                            "(FCrDNS fails): receivers treat the server as unidentified")
    return entry


async def check_reverse_dns(domain: str, *, server_ips: Sequence[str] = (), mx_hosts: Sequence[str] = (),
                            resolver: Resolver | None = None, nameservers: Sequence[str] | None = None,
                            timeout: float = DEFAULT_TIMEOUT, retries: int = 1) -> dict[str, Any]:
    """PTR and FCrDNS of each server address; notes whether the PTR name is one of the domain's MX hosts."""
    payload: dict[str, Any] = {"addresses": [], "warnings": [], "info": []}
    if not server_ips:
        return result("unknown", "Mail server IP unknown: reverse DNS not checked", **payload)
    async with use_resolver(resolver, nameservers, timeout, retries) as r:
        entries = await asyncio.gather(*(_one(ip, r) for ip in server_ips))
    problems = [e["problem"] for e in entries if e["problem"]]
    mx = {h.lower().rstrip(".") for h in mx_hosts}
    ptr_names: set[str] = set()
    for entry in entries:
        failure: Answer = entry.pop("failure")
        if failure.failed:
            mark_failure(payload, failure)
        payload["addresses"].append(entry)
        names = {n.lower() for n in entry["ptr"]}
        ptr_names |= names
        if len(names) > 1:
            payload["warnings"].append(f"{entry['ip']} has {len(names)} PTR records: receivers may pick any")
    if ptr_names and mx and not ptr_names & mx:
        payload["info"].append(f"PTR {', '.join(sorted(ptr_names))} is not an MX host of {domain} "
                               "(fine for a server shared by several domains)")
    if problems:
        payload["warnings"][:0] = problems[1:]
        return result("error", problems[0], **payload)
    names = "; ".join(f"{e['ip']} -> {', '.join(e['ptr'])}" for e in entries)
    status = "warning" if payload["warnings"] else "success"
    return result(status, f"Reverse DNS confirmed: {names}", **payload)

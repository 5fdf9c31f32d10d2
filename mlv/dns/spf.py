"""SPF: query the record, parse it, check it (the `spf` object of the API's dns_checks).

The check reads the record as receivers do (one record, RFC 7208 grammar, the `all` policy), counts
the DNS-querying terms through every include and redirect (at most 10), and evaluates check_host()
for the mail server's addresses to say which term authorises them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlv.dns.common import DEFAULT_TIMEOUT, FAILED_KEY, mark_failure, result, split_info, use_resolver
from mlv.dns.resolver import Answer, Resolver
from mlv.dns.spf_eval import SpfResult, check_host
from mlv.dns.spf_macro import SpfSyntaxError, has_macros
from mlv.dns.spf_record import SpfRecord, is_spf_record, looks_like_spf, parse_spf

MAX_LOOKUPS = 10
POLICY = {"-": "strict -all", "~": "soft fail ~all", "?": "neutral ?all", "+": "pass-all +all"}

__all__ = ["check_spf", "parse_spf", "query_spf"]


async def query_spf(domain: str, *, resolver: Resolver | None = None, nameservers: Sequence[str] | None = None,
                    timeout: float = DEFAULT_TIMEOUT, retries: int = 1) -> Answer:
    """The TXT records at `domain` (SPF records are among them)."""
    async with use_resolver(resolver, nameservers, timeout, retries) as r:
        return await r.query(domain, "TXT")


@dataclass
class _Walk:
    lookups: int = 0
    warnings: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)  # receivers return permerror when they get there
    notes: list[str] = field(default_factory=list)
    all_qualifier: str | None = None


async def _walk(record: SpfRecord, resolver: Resolver, stack: tuple[str, ...]) -> _Walk:
    """Count the lookups of `record` and everything it includes or redirects to (worst case)."""
    walk = _Walk(record.dns_terms, all_qualifier=record.all.qualifier if record.all else None)
    targets = [("include:", spec) for spec in record.includes]
    if record.redirect is not None and record.all is None:
        targets.append(("redirect=", record.redirect))
    results = await asyncio.gather(*(_follow(kind, spec, resolver, stack) for kind, spec in targets))
    for (kind, _), sub in zip(targets, results, strict=True):
        walk.lookups += sub.lookups
        walk.warnings += sub.warnings
        walk.broken += sub.broken
        walk.notes += sub.notes
        if kind == "redirect=":
            walk.all_qualifier = sub.all_qualifier
    return walk


async def _follow(kind: str, spec: str, resolver: Resolver, stack: tuple[str, ...]) -> _Walk:
    if has_macros(spec):
        return _Walk(notes=[f"{kind}{spec} uses macros: its lookups depend on each message"])
    target = spec.rstrip(".").lower()
    if target in stack:
        return _Walk(broken=[f"SPF loop: {' -> '.join([*stack, target])}"])
    if len(stack) > MAX_LOOKUPS:
        return _Walk(warnings=[f"{kind}{target}: includes nested more than {MAX_LOOKUPS} deep"])
    answer = await resolver.query(target, "TXT")
    if answer.failed:
        return _Walk(warnings=[f"{kind}{target}: {answer.error}"])
    found = [text for text in answer.texts() if is_spf_record(text)]
    if not found:
        return _Walk(broken=[f"{kind}{target} has no SPF record"])
    if len(found) > 1:
        return _Walk(broken=[f"{kind}{target} has {len(found)} SPF records"])
    try:
        record = parse_spf(found[0])
    except SpfSyntaxError as exc:
        return _Walk(broken=[f"{kind}{target} has an invalid SPF record: {exc}"])
    return await _walk(record, resolver, (*stack, target))


async def check_spf(domain: str, *, server_ips: Sequence[str] = (), resolver: Resolver | None = None,
                    nameservers: Sequence[str] | None = None, timeout: float = DEFAULT_TIMEOUT,
                    retries: int = 1) -> dict[str, Any]:
    """The API's `spf` object for `domain`; never raises."""
    async with use_resolver(resolver, nameservers, timeout, retries) as r:
        answer = await r.query(domain, "TXT")
        return await _judge(domain, answer, list(server_ips), r)


def _base(record: str | None, **extra: Any) -> dict[str, Any]:
    return {"record": record, "has_strict_all": False, "includes_mx": False, "includes": [], "warnings": [],
            "info": [], **extra}


async def _judge(domain: str, answer: Answer, server_ips: list[str], resolver: Resolver) -> dict[str, Any]:
    if answer.failed:
        return mark_failure(result("error", f"SPF lookup failed: {answer.error}", **_base(None)), answer)
    texts = answer.texts()
    found = [text for text in texts if is_spf_record(text)]
    if not found:
        glued = [text for text in texts if looks_like_spf(text)]
        if glued:
            return result("error", "Invalid SPF syntax: the record must start with 'v=spf1 ' (with a space)",
                          **_base(glued[0], warnings=[f"Not an SPF record for receivers: {glued[0]!r}"]))
        why = "domain does not exist" if answer.status == "nxdomain" else "no TXT record starts with 'v=spf1 '"
        return result("error", "No SPF record found", **_base(None, warnings=[f"No SPF record ({why})"]))
    if len(found) > 1:
        return result("error", f"Multiple SPF records found ({len(found)}). Only one is allowed",
                      **_base("; ".join(found), warnings=["Multiple SPF records invalidate ALL records"]))
    text = found[0]
    info = split_info(answer, text, "SPF")
    try:
        record = parse_spf(text)
    except SpfSyntaxError as exc:
        return result("error", f"Invalid SPF syntax: {exc}",
                      **_base(text, has_strict_all=" -all" in text.lower(), warnings=[f"Receivers return "
                                                                                     f"permerror: {exc}"]))
    walk, evaluations = await asyncio.gather(
        _walk(record, resolver, (domain.rstrip(".").lower(),)),
        asyncio.gather(*(check_host(ip, domain, f"postmaster@{domain}", resolver=resolver) for ip in server_ips)))
    payload = _base(text, has_strict_all=walk.all_qualifier == "-",
                    includes_mx=any(m.name == "mx" for m in record.mechanisms), includes=record.includes,
                    dns_lookups=walk.lookups, info=info)
    return _verdict(record, walk, list(zip(server_ips, evaluations, strict=True)), payload)


def _verdict(record: SpfRecord, walk: _Walk, evaluations: list[tuple[str, SpfResult]],
             payload: dict[str, Any]) -> dict[str, Any]:
    warnings: list[str] = payload["warnings"]
    info: list[str] = payload["info"]
    if any(m.name == "ptr" for m in record.mechanisms):
        warnings.append("The ptr mechanism is deprecated (RFC 7208 5.5): slow, unreliable, ignored by some")
    if walk.lookups > MAX_LOOKUPS:
        warnings[:0] = [f"SPF record exceeds the {MAX_LOOKUPS} DNS lookup limit with {walk.lookups} lookups",
                        "This will cause SPF validation to fail"]
        warnings += walk.warnings
        return result("error", f"SPF has too many DNS lookups ({walk.lookups}). Maximum is {MAX_LOOKUPS}",
                      **payload)
    warnings += walk.warnings
    info += walk.notes
    qualifier = walk.all_qualifier
    primary, others = (evaluations[0], evaluations[1:]) if evaluations else (None, [])
    broken = walk.broken + [str(ev.error) for _, ev in evaluations if ev.result == "permerror"]
    if broken:
        warnings[:0] = [f"Receivers get permerror: {problem}" for problem in dict.fromkeys(broken)]
        return result("error", f"SPF record is broken: {broken[0]}", **payload)
    if qualifier == "+":
        warnings.insert(0, "+all lets every server on the internet send mail as this domain")
        return result("error", "SPF uses +all: it provides no protection", **payload)
    if qualifier is None:
        warnings.insert(0, "Without an 'all' mechanism, mail from unlisted servers gets 'neutral'")
        return result("error", "SPF record has no 'all' mechanism: no policy defined", **payload)
    policy = f"{POLICY[qualifier]} policy"
    status = "warning" if qualifier == "?" or walk.warnings else "success"
    if qualifier == "?":
        warnings.insert(0, "?all (neutral) provides minimal protection: use -all (or ~all)")
    elif qualifier == "~":
        info.append("~all marks mail from other servers as suspicious instead of rejecting it")
    if primary is None:
        info.append("The mail server IP is unknown: its authorisation was not checked")
        good = "SPF configured correctly" if status == "success" else "SPF configured"
        return result(status, f"{good} with {policy} (server IP not checked)", **payload)
    ip, evaluation = primary
    if evaluation.result == "temperror":
        payload[FAILED_KEY] = evaluation.error
        return result("error", f"Could not check whether server IP {ip} is authorized: {evaluation.error}",
                      **payload)
    if evaluation.result != "pass":
        warnings.insert(0, "Mail server IP not found in SPF record")
        return result("error", f"Server IP {ip} is NOT authorized in SPF record", **payload)
    for other_ip, other in others:
        if other.result != "pass":
            status = "warning"
            warnings.append(f"Server IP {other_ip} is NOT authorized in SPF record ({other.result}): mail sent "
                            f"over that address fails SPF")
    lead = "SPF configured correctly" if status == "success" else "SPF configured"
    return result(status, f"{lead} with {policy}. Server IP authorized via {evaluation.via()}", **payload)

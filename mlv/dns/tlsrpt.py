"""SMTP TLS reporting (RFC 8460): the record at _smtp._tls.{domain}."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlv.dns.common import DEFAULT_TIMEOUT, mailto_problem, mark_failure, parse_tags, result, use_resolver
from mlv.dns.resolver import Answer, Resolver

__all__ = ["check_tlsrpt", "parse_tlsrpt", "query_tlsrpt"]


async def query_tlsrpt(domain: str, *, resolver: Resolver | None = None, nameservers: Sequence[str] | None = None,
                       timeout: float = DEFAULT_TIMEOUT, retries: int = 1) -> Answer:
    async with use_resolver(resolver, nameservers, timeout, retries) as r:
        return await r.query(f"_smtp._tls.{domain}", "TXT")


def parse_tlsrpt(text: str) -> tuple[list[str], list[str]]:
    """(report URIs, errors) of one TLS-RPT record — pure."""
    tags, duplicates, malformed = parse_tags(text)
    errors = [f"duplicate tag {name}=" for name in duplicates] + [f"malformed tag {m!r}" for m in malformed]
    if tags.get("v") != "TLSRPTv1":
        errors.append("v= must be TLSRPTv1 and come first")
    uris = [u.strip() for u in tags.get("rua", "").split(",") if u.strip()]
    if not uris:
        errors.append("rua= (where reports go) is missing")
    for uri in uris:
        if uri.lower().startswith("https://"):
            continue
        problem = mailto_problem(uri)
        if problem is not None:
            errors.append(f"rua: {problem} (mailto: or https: only)")
    return uris, errors


async def check_tlsrpt(domain: str, *, resolver: Resolver | None = None, nameservers: Sequence[str] | None = None,
                       timeout: float = DEFAULT_TIMEOUT, retries: int = 1) -> dict[str, Any]:
    """The `tls_rpt` object."""
    payload: dict[str, Any] = {"record": None, "rua": [], "warnings": [], "info": []}
    async with use_resolver(resolver, nameservers, timeout, retries) as r:
        answer = await r.query(f"_smtp._tls.{domain}", "TXT")
    if answer.failed:
        return mark_failure(result("error", f"TLS-RPT lookup failed: {answer.error}", **payload), answer)
    found = [t for t in answer.texts() if t.strip().startswith("v=TLSRPTv1")]
    if not found:
        payload["info"].append(f"Publish e.g. \"v=TLSRPTv1; rua=mailto:tls-reports@{domain}\" at _smtp._tls.{domain}")
        return result("warning", "No TLS-RPT record: nobody tells you when TLS delivery to you fails", **payload)
    if len(found) > 1:
        payload["record"] = "; ".join(found)
        return result("error", f"Multiple TLS-RPT records found ({len(found)}): senders ignore them", **payload)
    payload["record"] = found[0]
    payload["rua"], errors = parse_tlsrpt(found[0])
    if errors:
        payload["warnings"] += errors[1:]
        return result("error", f"Invalid TLS-RPT record: {errors[0]}", **payload)
    return result("success", f"TLS-RPT reports go to {', '.join(payload['rua'])}", **payload)

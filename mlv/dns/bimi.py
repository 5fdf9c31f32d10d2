"""BIMI: the brand-logo record at default._bimi.{domain} (optional; needs an enforcing DMARC policy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlv.dns.common import DEFAULT_TIMEOUT, mark_failure, parse_tags, result, use_resolver
from mlv.dns.resolver import Answer, Resolver

__all__ = ["check_bimi", "parse_bimi", "query_bimi"]


async def query_bimi(domain: str, *, resolver: Resolver | None = None, nameservers: Sequence[str] | None = None,
                     timeout: float = DEFAULT_TIMEOUT, retries: int = 1) -> Answer:
    async with use_resolver(resolver, nameservers, timeout, retries) as r:
        return await r.query(f"default._bimi.{domain}", "TXT")


def parse_bimi(text: str) -> tuple[dict[str, str], list[str]]:
    """(tags, errors) of one BIMI record — pure."""
    tags, duplicates, malformed = parse_tags(text)
    errors = [f"duplicate tag {name}=" for name in duplicates] + [f"malformed tag {m!r}" for m in malformed]
    if tags.get("v") != "BIMI1":
        errors.append("v= must be BIMI1 and come first")
    logo, authority = tags.get("l", ""), tags.get("a", "")
    if "l" not in tags:
        errors.append("l= (the logo URL) is missing")
    elif logo and (not logo.lower().startswith("https://") or not logo.lower().endswith(".svg")):
        errors.append(f"l={logo} must be an https:// URL of an SVG file")
    if authority and not authority.lower().startswith("https://"):
        errors.append(f"a={authority} must be an https:// URL")
    return tags, errors


async def check_bimi(domain: str, *, dmarc: dict[str, Any] | None = None, resolver: Resolver | None = None,
                     nameservers: Sequence[str] | None = None, timeout: float = DEFAULT_TIMEOUT,
                     retries: int = 1) -> dict[str, Any]:
    """The `bimi` object; `dmarc` (this domain's dmarc result) tells whether the logo can show at all.

    No record is status "unknown": BIMI is optional, its absence is neither good nor bad.
    """
    payload: dict[str, Any] = {"record": None, "logo": None, "authority": None, "warnings": [], "info": []}
    async with use_resolver(resolver, nameservers, timeout, retries) as r:
        answer = await r.query(f"default._bimi.{domain}", "TXT")
    if answer.failed:
        return mark_failure(result("error", f"BIMI lookup failed: {answer.error}", **payload), answer)
    found = [t for t in answer.texts() if t.strip().startswith("v=BIMI1")]
    if not found:
        return result("unknown", "No BIMI record (optional: a brand logo next to your mail)", **payload)
    if len(found) > 1:
        payload["record"] = "; ".join(found)
        return result("error", f"Multiple BIMI records found ({len(found)})", **payload)
    payload["record"] = found[0]
    tags, errors = parse_bimi(found[0])
    payload["logo"], payload["authority"] = tags.get("l") or None, tags.get("a") or None
    if errors:
        payload["warnings"] += errors[1:]
        return result("error", f"Invalid BIMI record: {errors[0]}", **payload)
    if not payload["logo"]:
        return result("success", "BIMI record declines to show a logo (empty l=)", **payload)
    if dmarc is not None and not dmarc.get("is_strong"):
        payload["warnings"].append("BIMI logos show only with DMARC p=quarantine or p=reject at pct=100")
    if not payload["authority"]:
        payload["info"].append("Without a mark certificate (a=), Gmail and Apple Mail do not show the logo")
    status = "warning" if payload["warnings"] else "success"
    return result(status, f"BIMI logo published: {payload['logo']}", **payload)

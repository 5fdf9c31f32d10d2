"""DMARC: the policy record at _dmarc.{domain} (RFC 7489 section 6), read and judged.

Every tag is validated (p, sp, pct, rua, ruf, adkim, aspf, fo, rf, ri, and np/psd/t of DMARCbis),
duplicates and unknown tags are reported, and report addresses at other domains are checked for
the authorisation record those domains must publish (RFC 7489 7.1), or their reports are dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from mlv.dns.common import (
    DEFAULT_TIMEOUT,
    mailto_domain,
    mailto_problem,
    mark_failure,
    parse_tags,
    result,
    use_resolver,
)
from mlv.dns.resolver import Answer, Resolver
from mlv.dns.spf_record import is_spf_record

POLICIES = ("none", "quarantine", "reject")
KNOWN = {"v", "p", "sp", "np", "pct", "rua", "ruf", "adkim", "aspf", "fo", "rf", "ri", "psd", "t"}

__all__ = ["check_dmarc", "parse_dmarc", "query_dmarc"]


async def query_dmarc(domain: str, *, resolver: Resolver | None = None, nameservers: Sequence[str] | None = None,
                      timeout: float = DEFAULT_TIMEOUT, retries: int = 1) -> Answer:
    """The TXT records at _dmarc.{domain}."""
    async with use_resolver(resolver, nameservers, timeout, retries) as r:
        return await r.query(f"_dmarc.{domain}", "TXT")


def is_dmarc_record(text: str) -> bool:
    return text.lstrip().lower().replace(" ", "").startswith("v=dmarc1")


def parse_dmarc(text: str) -> tuple[dict[str, str], list[str], list[str]]:
    """(tags with lower-case names, errors that break the record, warnings) — pure."""
    tags, duplicates, malformed = parse_tags(text, lower_names=True)
    errors = [f"Duplicate tag {name}= (the record is invalid)" for name in duplicates]
    errors += [f"Malformed tag {piece!r}" for piece in malformed]
    warnings: list[str] = []
    if tags.get("v") != "DMARC1":
        errors.append(f"v={tags.get('v', '')} must be exactly DMARC1 and come first (the record is ignored)")
    for name in ("p", "sp", "np"):
        if name in tags:
            tags[name] = tags[name].lower()
            if tags[name] not in POLICIES:
                errors.append(f"Invalid {name}={tags[name]} (none, quarantine or reject)")
    if "p" not in tags:
        errors.append("No p= policy tag (receivers treat the record as p=none at best)")
    pct = tags.get("pct")
    if pct is not None and (not pct.isdigit() or int(pct) > 100):
        errors.append(f"Invalid pct={pct} (a whole number from 0 to 100)")
    for name in ("adkim", "aspf"):
        if name in tags and tags[name].lower() not in ("r", "s"):
            errors.append(f"Invalid {name}={tags[name]} (r or s)")
    if "fo" in tags and not all(part.strip() in ("0", "1", "d", "s") for part in tags["fo"].split(":")):
        errors.append(f"Invalid fo={tags['fo']} (colon-separated 0, 1, d, s)")
    if "rf" in tags and not all(part.strip().lower() in ("afrf", "iodef") for part in tags["rf"].split(":")):
        errors.append(f"Invalid rf={tags['rf']} (afrf)")
    if "ri" in tags and not tags["ri"].isdigit():
        errors.append(f"Invalid ri={tags['ri']} (seconds)")
    for name in ("rua", "ruf"):
        for uri in _uris(tags.get(name, "")):
            if uri.lower().startswith(("http://", "https://")):
                warnings.append(f"{name}={uri}: few report senders support anything but mailto:")
            elif (problem := mailto_problem(uri)) is not None:
                errors.append(f"{name}: {problem}")
    warnings += [f"Unknown tag {name}= (ignored by receivers)" for name in tags if name not in KNOWN]
    return tags, errors, warnings


def _uris(value: str) -> list[str]:
    return [uri.strip() for uri in value.split(",") if uri.strip()]


async def check_dmarc(domain: str, *, resolver: Resolver | None = None, nameservers: Sequence[str] | None = None,
                      timeout: float = DEFAULT_TIMEOUT, retries: int = 1) -> dict[str, Any]:
    """The API's `dmarc` object for `domain`; never raises."""
    async with use_resolver(resolver, nameservers, timeout, retries) as r:
        answer = await r.query(f"_dmarc.{domain}", "TXT")
        payload: dict[str, Any] = {"record": None, "policy": None, "subdomain_policy": None, "pct": None,
                                   "is_strong": False, "warnings": [], "info": [], "parameters": {}}
        if answer.failed:
            return mark_failure(result("error", f"DMARC lookup failed: {answer.error}", **payload), answer)
        texts = answer.texts()
        found = [t for t in texts if is_dmarc_record(t)]
        if any(is_spf_record(t) for t in texts):
            payload["warnings"].append(f"An SPF record is published at _dmarc.{domain}: it belongs at {domain}")
            if not found:
                payload["record"] = next(t for t in texts if is_spf_record(t))
                return result("error", f"An SPF record was found at _dmarc.{domain} instead of a DMARC record",
                              **payload)
        if not found:
            payload["warnings"].append("Without DMARC, receivers decide alone what to do with spoofed mail")
            return result("error", "No DMARC record found", **payload)
        if len(found) > 1:
            payload["record"] = "; ".join(found)
            payload["warnings"].append("Receivers ignore DMARC when there is more than one record")
            return result("error", f"Multiple DMARC records found ({len(found)}). Only one is allowed", **payload)
        payload["record"] = found[0]
        tags, errors, warnings = parse_dmarc(found[0])
        payload["warnings"] += warnings
        payload["parameters"] = tags
        await _external_reports(domain, tags, r, payload["warnings"])
    return _verdict(tags, errors, payload)


async def _external_reports(domain: str, tags: dict[str, str], resolver: Resolver, warnings: list[str]) -> None:
    """Reports to another domain need {domain}._report._dmarc.{that domain} (RFC 7489 7.1)."""
    domain = domain.lower().rstrip(".")
    targets = sorted({d for name in ("rua", "ruf") for uri in _uris(tags.get(name, ""))
                      if (d := mailto_domain(uri)) and d != domain and not d.endswith("." + domain)
                      and not domain.endswith("." + d)})
    answers = await asyncio.gather(*(resolver.query(f"{domain}._report._dmarc.{t}", "TXT") for t in targets))
    for target, answer in zip(targets, answers, strict=True):
        if answer.failed:
            warnings.append(f"Could not check that {target} accepts reports for {domain}: {answer.error}")
        elif not any(is_dmarc_record(t) for t in answer.texts()):
            warnings.append(f"Reports to {target} will be dropped: it does not publish "
                            f"{domain}._report._dmarc.{target} (RFC 7489 7.1)")


def _verdict(tags: dict[str, str], errors: list[str], payload: dict[str, Any]) -> dict[str, Any]:
    warnings: list[str] = payload["warnings"]
    info: list[str] = payload["info"]
    policy = tags.get("p") if tags.get("p") in POLICIES else None
    sp = tags.get("sp") if tags.get("sp") in POLICIES else None
    pct = tags.get("pct", "100")
    payload.update(policy=policy, subdomain_policy=sp, pct=pct)
    full = pct.isdigit() and int(pct) == 100
    payload["is_strong"] = policy in ("quarantine", "reject") and full and not errors
    if errors:
        warnings[:0] = errors[1:]
        return result("error", f"Invalid DMARC record: {errors[0]}", **payload)
    if not tags.get("rua"):
        warnings.append("No rua= address: you get no aggregate reports about who sends mail as this domain")
    if pct.isdigit() and int(pct) < 100:
        warnings.append(f"pct={pct}: the policy applies to only {pct}% of failing mail")
    if sp is not None and POLICIES.index(sp) < POLICIES.index(policy or "none"):
        warnings.append(f"Subdomain policy sp={sp} is weaker than p={policy}: subdomains can be spoofed")
    for name, label in (("adkim", "DKIM"), ("aspf", "SPF")):
        if tags.get(name, "r").lower() == "s":
            info.append(f"Strict {label} alignment ({name}=s)")
    if policy == "reject":
        if warnings:
            return result("warning", "DMARC configured with strict policy, with warnings", **payload)
        return result("success", "DMARC configured with strict policy", **payload)
    if policy == "quarantine":
        warnings.insert(0, "Consider upgrading to p=reject once reports show all legitimate mail passes")
        return result("warning", "DMARC configured with quarantine policy", **payload)
    warnings[:0] = ["p=none only monitors: spoofed mail is still delivered",
                    "Move to p=quarantine, then p=reject, once reports show all legitimate mail passes"]
    return result("warning", "DMARC policy is none (monitoring only): no protection", **payload)

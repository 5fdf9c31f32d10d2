"""MTA-STS (RFC 8461): the _mta-sts TXT record and the policy at https://mta-sts.{domain}/.well-known/mta-sts.txt.

The policy host is resolved through the same nameservers as every other query, the HTTPS
certificate is verified for the policy host's name, redirects are not followed (RFC 8461 3.3),
and the fetch has a timeout. The policy's mx patterns must cover every MX host of the domain.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Sequence
from typing import Any

import httpx

from mlv.dns.common import DEFAULT_TIMEOUT, mark_failure, parse_tags, result, use_resolver
from mlv.dns.resolver import Answer, Resolver

POLICY_PATH = "/.well-known/mta-sts.txt"
MAX_POLICY_BYTES = 64 * 1024
MAX_AGE_LIMIT = 31557600

__all__ = ["check_mta_sts", "fetch_policy", "parse_policy", "query_mta_sts"]


async def query_mta_sts(domain: str, *, resolver: Resolver | None = None, nameservers: Sequence[str] | None = None,
                        timeout: float = DEFAULT_TIMEOUT, retries: int = 1) -> Answer:
    async with use_resolver(resolver, nameservers, timeout, retries) as r:
        return await r.query(f"_mta-sts.{domain}", "TXT")


def parse_policy(text: str) -> tuple[dict[str, Any], list[str]]:
    """The policy file's fields (mx as a list) and what is wrong with them — pure."""
    policy: dict[str, Any] = {"version": None, "mode": None, "mx": [], "max_age": None}
    errors: list[str] = []
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if not colon:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "mx":
            policy["mx"].append(value.lower().rstrip("."))
        elif key in ("version", "mode"):
            policy[key] = value
        elif key == "max_age":
            policy["max_age"] = int(value) if value.isdigit() and len(value) <= 10 else value
    if policy["version"] != "STSv1":
        errors.append(f"policy version is {policy['version']!r}, must be STSv1")
    if policy["mode"] not in ("enforce", "testing", "none"):
        errors.append(f"policy mode is {policy['mode']!r}, must be enforce, testing or none")
    if not isinstance(policy["max_age"], int) or policy["max_age"] > MAX_AGE_LIMIT:
        errors.append(f"max_age is {policy['max_age']!r}, must be seconds up to {MAX_AGE_LIMIT}")
    if not policy["mx"] and policy["mode"] != "none":
        errors.append("policy lists no mx: pattern")
    return policy, errors


def mx_matches(host: str, pattern: str) -> bool:
    """RFC 8461 4.1: exact, or "*.example.com" standing for exactly one more label."""
    host = host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return host == pattern


async def fetch_policy(host: str, addresses: Sequence[str], *, port: int = 443, verify: ssl.SSLContext | bool = True,
                       timeout: float = DEFAULT_TIMEOUT) -> tuple[str | None, str | None, list[str]]:
    """(policy text, problem, warnings): HTTPS to the resolved address, certificate checked for `host`."""
    address = addresses[0]
    netloc = f"[{address}]" if ":" in address else address
    host_header = host if port == 443 else f"{host}:{port}"
    try:
        async with httpx.AsyncClient(verify=verify, timeout=timeout, follow_redirects=False) as client:
            response = await client.get(f"https://{netloc}:{port}{POLICY_PATH}", headers={"Host": host_header},
                                        extensions={"sni_hostname": host})
    except httpx.TimeoutException:
        return None, f"no answer from https://{host}{POLICY_PATH} within {timeout:g} s", []
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        if "CERTIFICATE_VERIFY_FAILED" in reason:
            reason = f"its TLS certificate is not valid for {host} ({reason.split('certificate verify failed:')[-1]})"
        return None, f"cannot fetch https://{host}{POLICY_PATH}: {reason[:200]}", []
    if response.status_code != 200:
        return None, f"https://{host}{POLICY_PATH} answered HTTP {response.status_code} (must be 200)", []
    warnings = []
    if not response.headers.get("content-type", "").lower().startswith("text/plain"):
        warnings.append(f"Policy is served as {response.headers.get('content-type', 'no type')!r}, "
                        "RFC 8461 wants text/plain")
    if len(response.content) > MAX_POLICY_BYTES:
        return None, f"policy is larger than {MAX_POLICY_BYTES} bytes", warnings
    return response.text, None, warnings


async def check_mta_sts(domain: str, *, resolver: Resolver | None = None, nameservers: Sequence[str] | None = None,
                        timeout: float = DEFAULT_TIMEOUT, retries: int = 1, https_port: int = 443,
                        verify: ssl.SSLContext | bool = True) -> dict[str, Any]:
    """The `mta_sts` object: record, fetched policy, and whether the policy covers every MX host."""
    payload: dict[str, Any] = {"record": None, "policy": None, "warnings": [], "info": []}
    async with use_resolver(resolver, nameservers, timeout, retries) as r:
        answer, mx = await asyncio.gather(r.query(f"_mta-sts.{domain}", "TXT"), r.query(domain, "MX"))
        if answer.failed:
            return mark_failure(result("error", f"MTA-STS lookup failed: {answer.error}", **payload), answer)
        found = [t for t in answer.texts() if t.strip().startswith("v=STSv1")]
        if not found:
            payload["info"].append("With MTA-STS, sending servers refuse to deliver without valid TLS")
            return result("warning", "No MTA-STS record: senders may deliver without TLS", **payload)
        if len(found) > 1:
            payload["record"] = "; ".join(found)
            return result("error", f"Multiple MTA-STS records found ({len(found)}): senders ignore them", **payload)
        payload["record"] = found[0]
        tags, _, _ = parse_tags(found[0])
        if not re.fullmatch(r"[A-Za-z0-9]{1,32}", tags.get("id", "")):
            return result("error", f"MTA-STS record has an invalid id={tags.get('id', '')!r} (1-32 letters/digits)",
                          **payload)
        host = f"mta-sts.{domain}"
        v4, v6 = await asyncio.gather(r.query(host, "A"), r.query(host, "AAAA"))
    addresses = [*(v4.records if v4.ok else ()), *(v6.records if v6.ok else ())]
    if not addresses:
        return result("error", f"MTA-STS policy host {host} has no address", **payload)
    text, problem, warnings = await fetch_policy(host, addresses, port=https_port, verify=verify, timeout=timeout)
    payload["warnings"] += warnings
    if problem is not None:
        return result("error", f"MTA-STS policy cannot be fetched: {problem}", **payload)
    assert text is not None
    policy, errors = parse_policy(text)
    payload["policy"] = policy
    if errors:
        payload["warnings"][:0] = errors[1:]
        return result("error", f"Invalid MTA-STS policy: {errors[0]}", **payload)
    return _verdict(policy, [h for _, h in mx.records if h] if mx.ok else [], payload)


def _verdict(policy: dict[str, Any], mx_hosts: list[str], payload: dict[str, Any]) -> dict[str, Any]:
    warnings: list[str] = payload["warnings"]
    mode = policy["mode"]
    uncovered = [h for h in mx_hosts if not any(mx_matches(h, p) for p in policy["mx"])]
    if uncovered and mode == "enforce":
        warnings.insert(0, "Senders that honour MTA-STS refuse to deliver to MX hosts the policy does not list")
        return result("error", f"MTA-STS policy does not cover MX {', '.join(uncovered)}", **payload)
    if uncovered:
        warnings.append(f"MTA-STS policy does not cover MX {', '.join(uncovered)}")
    if isinstance(policy["max_age"], int) and policy["max_age"] < 86400:
        warnings.append(f"max_age={policy['max_age']} is short: a week or more (604800) is usual")
    if mode == "enforce":
        status = "warning" if warnings else "success"
        return result(status, "MTA-STS policy in enforce mode", **payload)
    if mode == "testing":
        warnings.insert(0, "Testing mode only reports TLS failures (via TLS-RPT); switch to enforce when clean")
        return result("warning", "MTA-STS policy in testing mode", **payload)
    return result("warning", "MTA-STS policy mode is none: MTA-STS is switched off", **payload)

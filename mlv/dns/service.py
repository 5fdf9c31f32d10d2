"""Checking the mailcow domains: who to check, with which keys, from which server IP, and caching it.

Used by the REST routes, the domains page and the scheduled dns_check job, so they never disagree.
Blocking work (database, mailcow's HTTP API) runs in threads; the DNS work runs on the event loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine

from mlv.config import Settings
from mlv.dns.check import DomainTarget, check_domains, normalize_domain, unknown_checks
from mlv.dns.resolver import DEFAULT_TIMEOUT
from mlv.dns.store import load_domains, load_results, save_results

log = logging.getLogger(__name__)
SERVER_IP_TTL = 6 * 3600
_server_ips: dict[str, tuple[float, list[str]]] = {}


class UnknownDomain(LookupError):
    """The domain is not one of mailcow's domains."""


def is_active(domain: dict[str, Any]) -> bool:
    return str(domain.get("active_int", domain.get("active", 1))) in ("1", "True", "true")


def _valid_ips(values: Sequence[object]) -> list[str]:
    out = []
    for value in values:
        if not isinstance(value, str):
            continue  # mailcow says false when its echo service could not tell
        try:
            out.append(str(ipaddress.ip_address(value.strip())))
        except ValueError:
            continue
    return out


def server_ips(settings: Settings, mailcow_factory: Callable[[], Any] | None) -> tuple[list[str], str | None]:
    """(server addresses, problem): MAIL_SERVER_IP, else mailcow's status/host/ip (cached for 6 hours)."""
    if settings.mail_server_ip:
        return _valid_ips(settings.mail_server_ip.replace(";", ",").split(",")), None
    if mailcow_factory is None:
        return [], "no MAIL_SERVER_IP and no mailcow to ask"
    cached = _server_ips.get("mailcow")
    if cached and time.monotonic() - cached[0] < SERVER_IP_TTL:
        return cached[1], None
    try:
        with mailcow_factory() as client:
            data = client.get("status/host/ip")
    except Exception as exc:
        return [], f"mailcow could not tell the server IP: {exc}"
    ips = _valid_ips([data.get("ipv4"), data.get("ipv6")]) if isinstance(data, dict) else []
    if ips:
        _server_ips["mailcow"] = (time.monotonic(), ips)
    return ips, None if ips else "mailcow did not report a server IP"


def mailcow_domains(engine: Engine, mailcow_factory: Callable[[], Any] | None, *,
                    server_id: int = 1) -> tuple[list[dict[str, Any]], str | None]:
    """(mailcow's domain objects, problem): the importer's copy, else asked from mailcow now."""
    domains = load_domains(engine, server_id=server_id)
    if domains or mailcow_factory is None:
        return domains, None
    try:
        with mailcow_factory() as client:
            return sorted(client.objects("domain/all"), key=lambda d: str(d.get("domain_name", ""))), None
    except Exception as exc:
        return [], f"mailcow: {exc}"


def mailcow_dkim(mailcow_factory: Callable[[], Any] | None, names: Sequence[str]) -> dict[str, dict | str]:
    """mailcow's dkim/{domain} answer per domain ({} = no key), or the reason it could not be asked."""
    if mailcow_factory is None or not names:
        return {}
    with mailcow_factory() as client, ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
        def one(name: str) -> dict | str:
            try:
                data = client.get(f"dkim/{name}")
            except Exception as exc:
                return str(exc)
            return data if isinstance(data, dict) else {}
        return dict(zip(names, pool.map(one, names), strict=True))


async def run_checks(engine: Engine, settings: Settings, mailcow_factory: Callable[[], Any] | None, *,
                     domain: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Check all active domains (full run) or one domain, cache the results, return the API's summary.

    The summary carries the checked domains' dns_checks under "results". UnknownDomain when `domain`
    is not one of mailcow's domains.
    """
    server_id = settings.server_id
    domains, problem = await asyncio.to_thread(mailcow_domains, engine, mailcow_factory, server_id=server_id)
    if domain is not None:
        wanted = normalize_domain(domain)
        names = [d["domain_name"].lower() for d in domains if str(d.get("domain_name", "")).lower() == wanted]
        if not names:
            raise UnknownDomain(problem or f"{domain} is not a mailcow domain")
    else:
        names = [str(d["domain_name"]).lower() for d in domains if is_active(d)]
    (ips, ip_problem), keys = await asyncio.gather(asyncio.to_thread(server_ips, settings, mailcow_factory),
                                                   asyncio.to_thread(mailcow_dkim, mailcow_factory, names))
    targets = [DomainTarget(n, keys[n] if isinstance(keys.get(n), dict) else None) for n in names]
    run = await check_domains(targets, server_ips=ips, nameservers=settings.dns_nameservers or None,
                              timeout=timeout)
    for name, checks in run.results.items():
        if isinstance(keys.get(name), str):
            checks["dkim"].setdefault("info", []).append(f"mailcow's DKIM key could not be fetched: {keys[name]}")
        if ip_problem:
            checks["spf"].setdefault("info", []).append(f"Server IP not checked: {ip_problem}")
    errors = ([problem] if problem and not names else []) + run.errors
    checked = len(run.results) - len(run.failed)
    await asyncio.to_thread(save_results, engine, run.results, full=domain is None, server_id=server_id,
                            domains_checked=checked, errors=errors)
    log.info("DNS checks: %d domains, %d queries, %.2f s", len(run.results), run.queries, run.elapsed)
    return {"status": "partial" if errors else "success", "message": f"Checked {checked} domains",
            "domains_checked": checked, "errors": errors, "results": run.results}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _bool(value: Any) -> bool:
    return str(value) in ("1", "True", "true")


def _created(value: Any) -> str | None:
    """mailcow's "2025-11-03 10:22:33" (UTC) as "2025-11-03T10:22:33Z"."""
    if not value:
        return None
    text = str(value).strip().replace(" ", "T")
    return text if text.endswith("Z") else text + "Z"


def domain_public(raw: dict[str, Any], checks: dict[str, Any] | None) -> dict[str, Any]:
    """One entry of GET /api/domains/all from mailcow's domain object and the cached checks."""
    dns_checks = dict(checks) if checks else unknown_checks()
    dns_checks.pop("is_full_check", None)
    return {
        "domain_name": raw.get("domain_name"),
        "active": is_active(raw),
        "mboxes_in_domain": _int(raw.get("mboxes_in_domain")),
        "mboxes_left": _int(raw.get("mboxes_left")),
        "max_num_mboxes_for_domain": _int(raw.get("max_num_mboxes_for_domain")),
        "aliases_in_domain": _int(raw.get("aliases_in_domain")),
        "aliases_left": _int(raw.get("aliases_left")),
        "max_num_aliases_for_domain": _int(raw.get("max_num_aliases_for_domain")),
        "created": _created(raw.get("created")),
        "bytes_total": _int(raw.get("bytes_total")),
        "msgs_total": _int(raw.get("msgs_total")),
        "quota_used_in_domain": str(raw.get("quota_used_in_domain") or "0"),
        "max_quota_for_domain": _int(raw.get("max_quota_for_domain")),
        "backupmx": _bool(raw.get("backupmx_int", raw.get("backupmx"))),
        "relay_all_recipients": _bool(raw.get("relay_all_recipients_int", raw.get("relay_all_recipients"))),
        "relay_unknown_only": _bool(raw.get("relay_unknown_only_int", raw.get("relay_unknown_only"))),
        "dns_checks": dns_checks,
    }


def list_domains(engine: Engine, settings: Settings, mailcow_factory: Callable[[], Any] | None) -> dict[str, Any]:
    """GET /api/domains/all (blocking: database and, before the first import, mailcow)."""
    domains, _ = mailcow_domains(engine, mailcow_factory, server_id=settings.server_id)
    results, last = load_results(engine, server_id=settings.server_id)
    items = [domain_public(d, results.get(str(d.get("domain_name", "")).lower())) for d in domains]
    return {"total": len(items), "active": sum(1 for d in items if d["active"]), "last_dns_check": last,
            "domains": items}


def run_dns_check_job(engine: Engine, settings: Settings, mailcow_factory: Callable[[], Any] | None) -> dict:
    """The scheduled dns_check job (blocking; runs in the scheduler's worker thread).

    Raises (the job shows "failed" and why) when there were domains to check and none could be:
    the nameservers do not answer. The cards keep the per-check reasons either way.
    """
    summary = asyncio.run(run_checks(engine, settings, mailcow_factory))
    results = summary.pop("results")
    if results and not summary["domains_checked"] and summary["errors"]:
        more = f" (and {len(summary['errors']) - 1} more)" if len(summary["errors"]) > 1 else ""
        raise RuntimeError(f"no domain could be checked: {summary['errors'][0]}{more}")
    return summary

"""Domains (spec/API.md "Domains"): mailcow's domains with their cached DNS checks, and checking them now."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException
from sqlalchemy import Engine

from mlv.config import Settings
from mlv.dns.service import UnknownDomain, list_domains, run_checks

router = APIRouter(prefix="/domains", tags=["domains"])


def _context() -> tuple[Engine, Settings, Callable[[], Any] | None]:
    """The running app's engine, settings and mailcow client factory (None without a mailcow)."""
    from mlv import app as app_module
    from mlv.api import deps

    rt = app_module.runtime
    factory = app_module.mailcow_client if rt is not None and rt.mailcow_url else None
    return deps.engine(), deps.settings(), factory


@router.get("/all")
async def all_domains() -> dict[str, Any]:
    return await asyncio.to_thread(list_domains, *_context())


@router.post("/check-all-dns")
async def check_all_dns() -> dict[str, Any]:
    engine, settings, factory = _context()
    summary = await run_checks(engine, settings, factory)
    summary.pop("results")
    return summary


@router.post("/{domain}/check-dns")
async def check_domain_dns(domain: str) -> dict[str, Any]:
    engine, settings, factory = _context()
    try:
        summary = await run_checks(engine, settings, factory, domain=domain)
    except UnknownDomain as exc:
        raise HTTPException(status_code=404, detail=f"Domain not found: {exc}") from None
    name, checks = next(iter(summary["results"].items()))
    return {"status": "success", "message": f"DNS checked for {name}", "data": {"domain": name, **checks}}

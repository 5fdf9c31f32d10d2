"""DMARC and TLS-RPT routes (spec/API.md "DMARC", "TLS-RPT"), plus the failure report list.

"DMARC pass" in every ``dmarc_pass_pct``: aligned SPF pass or aligned DKIM pass, as RFC 7489
§6.6.2 defines it (the receiver's ``policy_evaluated`` result). ``days`` must be 1..365 (400).
The IMAP routes and the settings test routes are included in this router.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from mlv.api import dmarc_imap, settings_test
from mlv.api.dmarc_deps import EngineDep, SettingsDep
from mlv.dmarc.enrich import resolve_for_settings
from mlv.dmarc.service import import_for_settings
from mlv.dmarc.types import InputTooLarge, ReportError
from mlv.queries import dmarc as queries
from mlv.queries import tlsrpt

log = logging.getLogger(__name__)
router = APIRouter(tags=["dmarc"])
router.include_router(dmarc_imap.router)
router.include_router(settings_test.router)
# Bounds keep OFFSET within a 64-bit integer (SQLite and PostgreSQL refuse bigger ones).
MAX_OFFSET = 1_000_000_000
MAX_PAGE = 1_000_000
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
PASS_NOTE = "dmarc_pass_pct counts messages with aligned SPF pass or aligned DKIM pass (RFC 7489 §6.6.2)."


def days_param(days: int = Query(30, description="Days to look back (1-365)")) -> int:
    if not 1 <= days <= 365:
        raise HTTPException(status_code=400, detail="days must be between 1 and 365")
    return days


Days = Annotated[int, Depends(days_param)]


def _domain(domain: str) -> str:
    domain = domain.strip().lower().rstrip(".")
    # NUL and control characters are no part of a name (and PostgreSQL refuses NUL in text).
    if not domain or len(domain) > 253 or not domain.isprintable():
        raise HTTPException(status_code=400, detail="invalid domain")
    return domain


@router.get("/dmarc/domains", description=PASS_NOTE)
def dmarc_domains(days: Days, engine: EngineDep) -> dict[str, Any]:
    return queries.domains(engine=engine, days=days)


@router.get("/dmarc/domains/{domain}/overview", description=PASS_NOTE)
def dmarc_overview(domain: str, days: Days,
                   engine: EngineDep) -> dict[str, Any]:
    return queries.overview(engine=engine, domain=_domain(domain), days=days)


@router.get("/dmarc/domains/{domain}/reports", description=PASS_NOTE)
def dmarc_reports(domain: str, days: Days, engine: EngineDep) -> dict[str, Any]:
    return queries.reports(engine=engine, domain=_domain(domain), days=days)


@router.get("/dmarc/domains/{domain}/sources", description=PASS_NOTE)
def dmarc_sources(domain: str, days: Days, engine: EngineDep,
                  limit: int = Query(1000, ge=1, le=10000), offset: Offset = 0) -> dict[str, Any]:
    return queries.sources(engine=engine, domain=_domain(domain), days=days, limit=limit, offset=offset)


@router.get("/dmarc/domains/{domain}/failures")
def dmarc_failures(domain: str, days: Days, engine: EngineDep,
                   limit: int = Query(100, ge=1, le=1000), offset: Offset = 0) -> dict[str, Any]:
    """DMARC failure (ruf) reports for the domain, newest first (beyond the contract)."""
    return queries.failures(engine=engine, domain=_domain(domain), days=days, limit=limit, offset=offset)


@router.get("/dmarc/domains/{domain}/tls-reports")
def tls_reports(domain: str, days: Days, engine: EngineDep,
                limit: int = Query(1000, ge=1, le=10000), offset: Offset = 0) -> dict[str, Any]:
    return tlsrpt.reports(engine=engine, domain=_domain(domain), days=days, limit=limit, offset=offset)


@router.get("/dmarc/domains/{domain}/tls-reports/daily")
def tls_daily(domain: str, days: Days, engine: EngineDep,
              page: int = Query(1, ge=1, le=MAX_PAGE), page_size: int = Query(20, ge=1, le=500)) -> dict[str, Any]:
    return tlsrpt.daily(engine=engine, domain=_domain(domain), days=days, page=page, page_size=page_size)


@router.get("/dmarc/domains/{domain}/tls-reports/{report_date}/details")
def tls_details(domain: str, report_date: str, engine: EngineDep) -> dict[str, Any]:
    try:
        day = datetime.strptime(report_date, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise HTTPException(status_code=400, detail="report_date must be YYYY-MM-DD") from None
    return tlsrpt.details(engine=engine, domain=_domain(domain), day=int(day.timestamp()))


@router.post("/dmarc/upload", status_code=201, openapi_extra={"requestBody": {"content": {"multipart/form-data": {
    "schema": {"type": "object", "required": ["file"],
               "properties": {"file": {"type": "string", "format": "binary"}}}}}, "required": True}})
async def dmarc_upload(request: Request, background: BackgroundTasks, engine: EngineDep,
                       settings: SettingsDep) -> JSONResponse:
    """Upload a DMARC aggregate or failure report or a TLS report: xml, json, gz, zip, eml (multipart field `file`).

    201 when stored, 200 with status "duplicate" when already stored, 400 with the reason when
    the file holds no usable report (nothing is stored then), 413 when it is over the size limit.
    """
    if not settings.dmarc_manual_upload_enabled:
        raise HTTPException(status_code=403, detail="Manual upload is disabled (DMARC_MANUAL_UPLOAD_ENABLED=false)")
    limit = max(settings.dmarc_max_file_bytes, settings.dmarc_max_email_bytes)
    length = request.headers.get("content-length")
    if length is None:
        raise HTTPException(status_code=411, detail="Content-Length is required")
    if not length.isdigit() or int(length) > limit + 65536:
        raise HTTPException(status_code=413, detail=f"Upload is larger than the limit of {limit:,} bytes")
    try:
        form = await request.form(max_files=1, max_fields=5)
    except Exception as exc:
        raise HTTPException(status_code=400, detail=f"Not a multipart upload: {exc}") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise HTTPException(status_code=400, detail="No file: send the report as the multipart field 'file'")
    data = await upload.read(limit + 1)
    await form.close()
    filename = (upload.filename or "")[:255]
    try:
        outcome = await run_in_threadpool(import_for_settings, engine, settings, data, filename=filename)
    except InputTooLarge as exc:
        raise HTTPException(status_code=413, detail=str(exc)) from None
    except ReportError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    if outcome.created:
        background.add_task(resolve_for_settings, engine, settings)
    status, body = outcome.response()
    return JSONResponse(status_code=status, content=body, background=background)

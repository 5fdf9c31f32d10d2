"""POST /api/settings/test/smtp and /api/settings/test/imap: step-by-step connection tests."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from mlv.api.dmarc_deps import SettingsDep
from mlv.dmarc.imap import run_imap_test
from mlv.dmarc.smtp import run_smtp_test

router = APIRouter(tags=["settings"])


@router.post("/settings/test/smtp")
async def settings_test_smtp(settings: SettingsDep) -> dict[str, Any]:
    """Connect → TLS → log in → send a test mail to ADMIN_EMAIL; every step is in `logs`."""
    return await run_in_threadpool(run_smtp_test, settings)


@router.post("/settings/test/imap")
async def settings_test_imap(settings: SettingsDep) -> dict[str, Any]:
    """Connect → log in → list folders → select the folder (read-only); every step is in `logs`."""
    return await run_in_threadpool(run_imap_test, settings)

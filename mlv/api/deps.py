"""What routes share: the engine and settings of the running app, parameter types, mailcow access."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import HTTPException, Query
from sqlalchemy import Engine

from mlv.config import Settings
from mlv.mailcow.client import MailcowClient, MailcowError


def engine() -> Engine:
    from mlv import app as mlv_app
    from mlv.db import get_engine

    rt = mlv_app.runtime
    return rt.engine if rt is not None and rt.engine is not None else get_engine()


def settings() -> Settings:
    from mlv import app as mlv_app
    from mlv.config import get_settings

    rt = mlv_app.runtime
    return rt.settings if rt is not None else get_settings()


def cap() -> int:
    """How far totals of filtered lists are counted (MAX_SEARCH_RESULTS)."""
    return settings().max_search_results


@contextmanager
def mailcow() -> Iterator[MailcowClient]:
    """A client for the configured mailcow; its failures become 502/503 with mailcow's sentence."""
    from mlv import app as mlv_app

    if mlv_app.runtime is None or not mlv_app.runtime.mailcow_url:
        raise HTTPException(503, "mailcow is not configured (MAILCOW_URL) or the app has not started yet")
    try:
        with mlv_app.mailcow_client() as client:
            yield client
    except MailcowError as exc:
        raise mailcow_http_error(exc) from None


def mailcow_http_error(exc: MailcowError) -> HTTPException:
    text = str(exc)
    unreachable = text.startswith(("cannot connect", "mailcow at"))  # no answer at all, vs a bad answer
    return HTTPException(503 if unreachable else 502, f"mailcow: {text}")


Page = Annotated[int, Query(ge=1, le=1_000_000, description="Page number (1 = newest)")]
Limit = Annotated[int, Query(ge=1, le=500, description="Items per page (1-500)")]
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL: refuse it as a bad parameter, not a 500
Search = Annotated[str | None, Query(max_length=200, pattern=NO_NUL,
                                     description="Free text: substring, case-insensitive")]
StartDate = Annotated[datetime | None, Query(description="From this time (ISO 8601; no zone = UTC)")]
EndDate = Annotated[datetime | None, Query(description="Up to this time, inclusive (ISO 8601; no zone = UTC)")]
Text = Annotated[str | None, Query(max_length=320, pattern=NO_NUL)]


def check_range(start: datetime | None, end: datetime | None) -> None:
    from mlv.queries.common import to_ts

    if start is not None and end is not None and to_ts(start) > to_ts(end):  # type: ignore[operator]
        raise HTTPException(400, "start_date is after end_date")

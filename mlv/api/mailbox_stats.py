"""Mailbox statistics: mailcow's mailboxes and aliases with their sent/received counts."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from mlv.api import deps
from mlv.api.deps import NO_NUL
from mlv.queries import mailbox_stats as q

router = APIRouter(prefix="/mailbox-stats", tags=["mailbox statistics"])

DateRange = Literal["today", "7days", "30days", "90days"]
SortBy = Literal["sent_total", "received_total", "failure_rate", "quota_used", "username"]


@router.get("/summary", summary="Totals over all mailboxes")
def summary(date_range: DateRange = "30days") -> dict:
    return q.summary(engine=deps.engine(), date_range=date_range, server_id=deps.settings().server_id)


@router.get("/all", summary="Every mailbox with its counts and its aliases' counts (paginated)")
def all_mailboxes(domain: Annotated[str | None, Query(max_length=255, pattern=NO_NUL)] = None,
                  active_only: bool = True, hide_zero: bool = False,
                  search: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
                  date_range: DateRange = "30days", sort_by: SortBy = "sent_total",
                  sort_order: Literal["asc", "desc"] = "desc",
                  page: Annotated[int, Query(ge=1, le=100000)] = 1,
                  page_size: Annotated[int, Query(ge=10, le=100)] = 50) -> dict:
    """Sent counts are by message status (sent_failed = bounced + deferred + rejected, expired counted as
    bounced, spam as rejected); received counts every delivery addressed to the mailbox (or to its
    address in an alias domain). Cached 5 minutes per parameter set; an import refreshes it."""
    return q.all_mailboxes(engine=deps.engine(), domain=domain, active_only=active_only, hide_zero=hide_zero,
                           search=search, date_range=date_range, sort_by=sort_by, sort_order=sort_order, page=page,
                           page_size=page_size, server_id=deps.settings().server_id)


@router.get("/domains", summary="Domains with their mailbox counts (for a filter)")
def domains() -> dict:
    return q.domains(engine=deps.engine(), server_id=deps.settings().server_id)

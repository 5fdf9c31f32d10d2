"""CSV exports (streamed; at most CSV_EXPORT_LIMIT rows, newest first; formula-like cells neutralised)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from mlv.api import deps
from mlv.api.deps import EndDate, Search, StartDate, Text
from mlv.api.logs import PostfixStatus, RspamdDirection, Score
from mlv.api.messages import Direction, Status
from mlv.queries.exports import HEADERS, stream_csv
from mlv.queries.logs import NetfilterFilter, PostfixFilter, RspamdFilter
from mlv.queries.messages import MessageFilter

router = APIRouter(prefix="/export", tags=["export"])


def _csv(kind: str, filters: Any, name: str) -> StreamingResponse:
    s = deps.settings()
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    body = stream_csv(engine=deps.engine(), kind=kind, filters=filters, limit=s.csv_export_limit,
                      cap=s.max_search_results)
    return StreamingResponse(body, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}_{stamp}.csv"',
                                      "X-Content-Type-Options": "nosniff"})


def _doc(kind: str) -> str:
    return "Columns: " + ", ".join(HEADERS[kind]) + ". Text cells starting with = + - @ (or tab/CR) get a leading '."


@router.get("/postfix/csv", summary="Postfix lines as CSV", description=_doc("postfix"))
def postfix_csv(search: Search = None, sender: Text = None, recipient: Text = None,
                status: PostfixStatus | None = None, start_date: StartDate = None,
                end_date: EndDate = None) -> StreamingResponse:
    deps.check_range(start_date, end_date)
    return _csv("postfix", PostfixFilter(search=search, sender=sender, recipient=recipient, status=status,
                                         start=start_date, end=end_date), "postfix_logs")


@router.get("/rspamd/csv", summary="Rspamd results as CSV", description=_doc("rspamd"))
def rspamd_csv(search: Search = None, sender: Text = None, direction: RspamdDirection | None = None,
               min_score: Score = None, max_score: Score = None, is_spam: bool | None = None,
               start_date: StartDate = None, end_date: EndDate = None) -> StreamingResponse:
    deps.check_range(start_date, end_date)
    return _csv("rspamd", RspamdFilter(search=search, sender=sender, direction=direction, min_score=min_score,
                                       max_score=max_score, is_spam=is_spam, start=start_date, end=end_date),
                "rspamd_logs")


@router.get("/netfilter/csv", summary="Netfilter events as CSV", description=_doc("netfilter"))
def netfilter_csv(search: Search = None, ip: Text = None, username: Text = None, start_date: StartDate = None,
                  end_date: EndDate = None) -> StreamingResponse:
    deps.check_range(start_date, end_date)
    return _csv("netfilter", NetfilterFilter(search=search, ip=ip, username=username, start=start_date,
                                             end=end_date), "netfilter_logs")


@router.get("/messages/csv", summary="Messages as CSV", description=_doc("messages"))
def messages_csv(search: Search = None, sender: Text = None, recipient: Text = None,
                 direction: Direction | None = None, status: Status | None = None, user: Text = None,
                 ip: Text = None, start_date: StartDate = None, end_date: EndDate = None) -> StreamingResponse:
    deps.check_range(start_date, end_date)
    return _csv("messages", MessageFilter(search=search, sender=sender, recipient=recipient, direction=direction,
                                          status=status, user=user, ip=ip, start=start_date, end=end_date),
                "messages")

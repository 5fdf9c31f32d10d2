"""Logs: Postfix (and by queue id), Rspamd and Netfilter lists."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from mlv.api import deps
from mlv.api.deps import EndDate, Limit, Page, Search, StartDate, Text
from mlv.queries.logs import (
    NetfilterFilter,
    PostfixFilter,
    RspamdFilter,
    list_netfilter,
    list_postfix,
    list_rspamd,
    postfix_by_queue,
)

router = APIRouter(prefix="/logs", tags=["logs"])

PostfixStatus = Literal["sent", "bounced", "deferred", "rejected", "expired"]
RspamdDirection = Literal["inbound", "outbound", "internal", "unknown"]
RspamdAction = Literal["no action", "greylist", "add header", "rewrite subject", "soft reject", "reject"]
NetfilterAction = Literal["warning", "banned", "unbanned", "denylist", "allowlist", "info"]
Score = Annotated[float | None, Query(ge=-10000, le=10000)]
QueueId = Annotated[str | None, Query(max_length=24, pattern=r"^[0-9A-Za-z]+$")]


@router.get("/postfix", summary="Postfix log lines, newest first, linked to their messages")
def postfix(page: Page = 1, limit: Limit = 50, search: Search = None, sender: Text = None, recipient: Text = None,
            status: PostfixStatus | None = None, queue_id: QueueId = None, start_date: StartDate = None,
            end_date: EndDate = None) -> dict:
    """`search` looks in the whole line (which holds the queue id, sender and recipient). `sender` and
    `recipient` match the from=/to= address of a line exactly (case-insensitive)."""
    deps.check_range(start_date, end_date)
    filters = PostfixFilter(search=search, sender=sender, recipient=recipient, status=status, queue_id=queue_id,
                            start=start_date, end=end_date)
    return list_postfix(engine=deps.engine(), filters=filters, page=page, limit=limit, cap=deps.cap())


@router.get("/postfix/by-queue/{queue_id}", summary="All Postfix lines of one queue id, with rspamd's result")
def by_queue(queue_id: str = Path(max_length=24, pattern=r"^[0-9A-Za-z]+$")) -> dict:
    found = postfix_by_queue(engine=deps.engine(), queue_id=queue_id)
    if found is None:
        raise HTTPException(404, f"No Postfix lines for queue id {queue_id}")
    return found


@router.get("/rspamd", summary="Rspamd scan results, newest first")
def rspamd(page: Page = 1, limit: Limit = 50, search: Search = None, sender: Text = None,
           direction: RspamdDirection | None = None, min_score: Score = None, max_score: Score = None,
           action: RspamdAction | None = None, is_spam: bool | None = None, start_date: StartDate = None,
           end_date: EndDate = None) -> dict:
    """`search` looks in subject, senders and Message-ID."""
    deps.check_range(start_date, end_date)
    if min_score is not None and max_score is not None and min_score > max_score:
        raise HTTPException(400, "min_score is greater than max_score")
    filters = RspamdFilter(search=search, sender=sender, direction=direction, min_score=min_score,
                           max_score=max_score, action=action, is_spam=is_spam, start=start_date, end=end_date)
    return list_rspamd(engine=deps.engine(), filters=filters, page=page, limit=limit, cap=deps.cap())


@router.get("/netfilter", summary="Netfilter (fail2ban-like) events, newest first")
def netfilter(page: Page = 1, limit: Limit = 50, search: Search = None, ip: Text = None, username: Text = None,
              action: NetfilterAction | None = None, start_date: StartDate = None, end_date: EndDate = None) -> dict:
    """`search` looks in the line, the IP and the username."""
    deps.check_range(start_date, end_date)
    filters = NetfilterFilter(search=search, ip=ip, username=username, action=action, start=start_date,
                              end=end_date)
    return list_netfilter(engine=deps.engine(), filters=filters, page=page, limit=limit, cap=deps.cap())

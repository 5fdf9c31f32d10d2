"""Messages (the unified view): GET /api/messages and GET /api/message/{correlation_key}/details."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Path

from mlv.api import deps
from mlv.api.deps import EndDate, Limit, Page, Search, StartDate, Text
from mlv.queries.messages import MessageFilter, list_messages, message_details

router = APIRouter(tags=["messages"])

Status = Literal["delivered", "bounced", "deferred", "rejected", "spam", "expired"]
Direction = Literal["inbound", "outbound", "internal"]


@router.get("/messages", summary="Messages, newest first, with their final status")
def messages(page: Page = 1, limit: Limit = 50, search: Search = None, sender: Text = None, recipient: Text = None,
             direction: Direction | None = None, status: Status | None = None, user: Text = None, ip: Text = None,
             start_date: StartDate = None, end_date: EndDate = None) -> dict:
    """`search` looks in sender, recipients, subject, Message-ID and queue id. `sender`, `recipient`
    (any recipient), `user` (SASL login) and `ip` (client) match whole values, case-insensitively.
    `status=spam` matches mail rspamd flagged as spam as well as mail rejected as spam.
    `total` counts up to MAX_SEARCH_RESULTS when a filter other than direction, status and dates is
    used; `total_capped` then says the real number is larger."""
    deps.check_range(start_date, end_date)
    filters = MessageFilter(search=search, sender=sender, recipient=recipient, direction=direction, status=status,
                            user=user, ip=ip, start=start_date, end=end_date)
    return list_messages(engine=deps.engine(), filters=filters, page=page, limit=limit, cap=deps.cap())


@router.get("/message/{correlation_key}/details", summary="One message with every recipient and every log line")
def details(correlation_key: str = Path(max_length=128, pattern=r"^[0-9A-Fa-f]+$",
                                       description="The message's correlation key (hex)")) -> dict:
    """Every recipient with its own status (`deliveries`), the Postfix lines (also grouped per recipient,
    lines naming no recipient under `_system`), the rspamd result and the netfilter events of the
    client IP."""
    found = message_details(engine=deps.engine(), correlation_key=correlation_key.strip().lower())
    if found is None:
        raise HTTPException(404, "Message not found")
    return found

"""Statistics: dashboard figures, the hourly timeline, top spam symbols, top blocked IPs, recent mail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mlv.api import deps
from mlv.queries import stats as q

router = APIRouter(prefix="/stats", tags=["statistics"])

TopLimit = Annotated[int, Query(ge=1, le=100)]


@router.get("/dashboard", summary="Counts for the last 24 hours, 7 and 30 days")
def dashboard() -> dict:
    """`failed_deliveries`: messages bounced, expired or rejected. `auth_failures`: netfilter warnings
    (one per failed login that matched a rule)."""
    return q.dashboard(engine=deps.engine())


@router.get("/timeline", summary="Messages per hour, spam and clean")
def timeline(hours: Annotated[int, Query(ge=1, le=2160, description="Hours to show, the current one last")] = 24
             ) -> dict:
    return q.timeline(engine=deps.engine(), hours=hours)


@router.get("/top-spam-triggers", summary="Rspamd symbols seen most on spam (last 7 days)")
def top_spam_triggers(limit: TopLimit = 10) -> dict:
    return q.top_spam_triggers(engine=deps.engine(), limit=limit)


@router.get("/top-blocked-ips", summary="IPs with the most netfilter warnings and bans (last 7 days)")
def top_blocked_ips(limit: TopLimit = 10) -> dict:
    return q.top_blocked_ips(engine=deps.engine(), limit=limit)


@router.get("/recent-activity", summary="The newest messages")
def recent_activity(limit: TopLimit = 20) -> dict:
    return q.recent_activity(engine=deps.engine(), limit=limit)

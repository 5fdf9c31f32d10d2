"""What the record checks share: tag lists, result shapes, resolver hand-over, TXT selection."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from mlv.dns.resolver import DEFAULT_TIMEOUT, Answer, Resolver

FAILED_KEY = "_dns_failure"  # set on a result whose main query could not be answered; popped by the runner
_MAILTO = re.compile(r"mailto:([^@\s!,;]+)@([A-Za-z0-9.-]+\.[A-Za-z0-9-]+)(?:!(\d+)([kmgtKMGT]?))?")


@asynccontextmanager
async def use_resolver(resolver: Resolver | None, nameservers: Sequence[str] | None, timeout: float,
                       retries: int) -> AsyncIterator[Resolver]:
    """The run's resolver, or a temporary one aimed at `nameservers`."""
    if resolver is not None:
        yield resolver
        return
    own = Resolver(nameservers, timeout=timeout, retries=retries)
    try:
        yield own
    finally:
        await own.close()


def parse_tags(text: str, *, lower_names: bool = False) -> tuple[dict[str, str], list[str], list[str]]:
    """A DKIM/DMARC-style tag list ("a=1; b=2") -> (tags, duplicate names, malformed pieces)."""
    tags: dict[str, str] = {}
    duplicates: list[str] = []
    malformed: list[str] = []
    for piece in text.split(";"):
        piece = piece.strip()
        if not piece:
            continue
        name, eq, value = piece.partition("=")
        name = name.strip()
        if not eq or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            malformed.append(piece)
            continue
        if lower_names:
            name = name.lower()
        if name in tags:
            duplicates.append(name)
            continue
        tags[name] = value.strip()
    return tags, duplicates, malformed


def mailto_problem(uri: str) -> str | None:
    """Why a mailto: report URI is unusable, or None when it is fine."""
    if not uri.lower().startswith("mailto:"):
        return f"{uri!r} is not a mailto: address"
    if _MAILTO.fullmatch(uri[:7].lower() + uri[7:]) is None:
        return f"{uri!r} is not a valid mailto: address"
    return None


def mailto_domain(uri: str) -> str | None:
    match = _MAILTO.fullmatch("mailto:" + uri[7:]) if uri.lower().startswith("mailto:") else None
    return match.group(2).lower().rstrip(".") if match else None


def result(status: str, message: str, **fields: Any) -> dict[str, Any]:
    return {"status": status, "message": message, **fields}


def worst(*statuses: str) -> str:
    order = {"error": 3, "warning": 2, "unknown": 1, "success": 0}
    return max(statuses, key=lambda s: order.get(s, 0)) if statuses else "success"


def mark_failure(payload: dict[str, Any], answer: Answer) -> dict[str, Any]:
    """Remember that the check could not ask DNS (timeouts, SERVFAIL): the domain run is partial."""
    if answer.failed:
        payload[FAILED_KEY] = answer.error
    return payload


def split_info(answer: Answer, record: str, what: str) -> list[str]:
    """A note when the record was published as several strings (fine: they are joined)."""
    for parts in answer.records:
        if b"".join(parts).decode("latin-1") == record and len(parts) > 1:
            return [f"{what} record is published as {len(parts)} strings (joined without spaces, as verifiers do)"]
    return []


__all__ = ["DEFAULT_TIMEOUT", "FAILED_KEY", "mailto_domain", "mailto_problem", "mark_failure", "parse_tags",
           "result", "split_info", "use_resolver", "worst"]

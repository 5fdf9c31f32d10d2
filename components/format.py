"""Showing values: times in the configured time zone, sizes, counts, percentages."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from components.context import settings


def zone() -> ZoneInfo:
    return settings().zone


def parse_time(value: str | int | float | datetime | None) -> datetime | None:
    """An API time ('2026-01-08T01:34:08Z'), unix seconds or a datetime -> aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def when(value: str | int | float | datetime | None, *, seconds: bool = True) -> str:
    """A time as people of this server read it: in TZ, 'YYYY-MM-DD HH:MM:SS' ('' when unknown)."""
    parsed = parse_time(value)
    if parsed is None:
        return ""
    return parsed.astimezone(zone()).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def ago(value: str | int | float | datetime | None, *, now: datetime | None = None) -> str:
    parsed = parse_time(value)
    if parsed is None:
        return "never"
    seconds = int(((now or datetime.now(UTC)) - parsed).total_seconds())
    if seconds < 0:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def local_input_to_utc(value: str | None) -> datetime | None:
    """A 'YYYY-MM-DDTHH:MM' from a datetime-local input, read in TZ -> aware UTC datetime."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone())
    return parsed.astimezone(UTC)


def size(n: int | float | str | None) -> str:
    try:
        value = float(n)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    for unit, step in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if value >= step:
            return f"{value / step:.1f} {unit}"
    return f"{int(value)} B"


def count(n: int | float | None) -> str:
    return "–" if n is None else f"{n:,}"


def percent(n: float | None) -> str:
    return "–" if n is None else f"{n:.1f} %"

"""Mail header text as people read it: RFC 2047 words in any charset, raw 8-bit, broken encodings."""

from __future__ import annotations

import email.header
import email.utils
from datetime import UTC
from typing import Any


def header_text(value: Any, limit: int = 998) -> str:
    """A header's text: encoded words decoded (unknown charsets and bad bytes tolerated), one line."""
    if value is None:
        return ""
    try:
        parts = email.header.decode_header(value if isinstance(value, email.header.Header) else str(value))
    except (ValueError, LookupError, AssertionError, TypeError):
        parts = [(str(value), None)]
    text = "".join(_decode(chunk, charset) if isinstance(chunk, bytes) else chunk for chunk, charset in parts)
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join(text.split())[:limit]


def _decode(chunk: bytes, charset: str | None) -> str:
    for candidate in (charset, "utf-8", "cp1252"):
        if not candidate or candidate == "unknown-8bit":
            continue
        try:
            return chunk.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return chunk.decode("utf-8", "replace")


def address_domain(value: str | None) -> str | None:
    """The domain of the first address in a header such as From."""
    if not value:
        return None
    _name, address = email.utils.parseaddr(value)
    domain = address.rpartition("@")[2].strip().strip(">").lower().rstrip(".")
    return domain or None


def header_time(value: str | None) -> int | None:
    """Unix time of an RFC 5322 date, or None."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())

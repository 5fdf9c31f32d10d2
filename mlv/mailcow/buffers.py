"""Log storage the way mailcow keeps it: Redis lists (LPUSH, newest first) and SQL tables.

Items are pre-encoded once when they arrive (pretty-printed JSON fragments with ``\\/``
escaping), so serving 10 000 lines is a slice and a join; nothing is cached beyond the
items themselves, so every response reflects the buffer as it is.
"""

from __future__ import annotations

import re

from .phpjson import pretty_fragment

_NOT_COUNT = re.compile(r"[^0-9-]")
DEFAULT_LINES = 1000  # $LOG_LINES in vars.inc.php


def parse_count(extra: str | None) -> tuple[int, int, bool] | None:
    """The ``{count}`` path segment as (first, last, is_range), 1-based inclusive; None if invalid.

    Absent -> newest 1000; ``N`` -> #1..#N; ``A-B`` -> #A..#B (``is_range`` True: rspamd-history
    and the SQL logs interpret ranges differently). Characters other than digits and ``-`` are
    stripped first, as PHP does (``2.5`` -> ``25``).
    """
    if extra is None:
        return 1, DEFAULT_LINES, False
    s = _NOT_COUNT.sub("", extra)
    if "-" in s:
        a, _, b = s.partition("-")
        if not (a.isdigit() and b.isdigit()):
            return None
        first, last = int(a), int(b)
        if first < 1 or last < first:
            return None
        return first, last, True
    if not s.isdigit() or int(s) < 1:
        return None
    return 1, int(s), False


class LogBuffer:
    """A Redis-backed log list.

    ``trim="minute"``: ``LTRIM 0 cap-1`` once per simulated minute (ofelia job), so the list may
    exceed ``cap`` between trims; ``trim="insert"``: trimmed on every insert (rspamd history,
    autodiscover); ``trim=None``: unbounded (SQL tables, capped at ``cap`` only as a memory guard).
    """

    def __init__(self, cap: int, trim: str | None = "minute") -> None:
        self.cap = cap
        self.trim = trim
        self._items: list = []  # oldest first
        self._frags: list[str] = []
        self._minute: int | None = None

    def __len__(self) -> int:
        return len(self._items)

    def push(self, item, now: float) -> None:
        """Append a new (newest) item at simulated time ``now``."""
        self.tick(now)
        self._items.append(item)
        self._frags.append("null" if item is None else pretty_fragment(item, 1))
        if self.trim == "insert" and len(self._items) > self.cap:
            self._drop(len(self._items) - self.cap)

    def tick(self, now: float) -> None:
        """Run the once-a-minute LTRIM if a new simulated minute started."""
        if self.trim == "insert":
            return
        minute = int(now // 60)
        if minute != self._minute:
            self._minute = minute
            if len(self._items) > self.cap:
                self._drop(len(self._items) - self.cap)

    def _drop(self, n: int) -> None:
        del self._items[:n]
        del self._frags[:n]

    def clear(self) -> None:
        """Empty the list (a mailcow restart flushes Redis logs)."""
        self._items.clear()
        self._frags.clear()

    def fragments(self, first: int, last: int) -> list[str]:
        """Encoded entries #first..#last (1-based, newest first), clipped to what exists."""
        n = len(self._frags)
        if first > n:
            return []
        lo = max(0, n - last)
        hi = n - first + 1
        return self._frags[lo:hi][::-1]

    def items(self, first: int = 1, last: int | None = None) -> list:
        """Decoded entries #first..#last (newest first)."""
        n = len(self._items)
        last = n if last is None else last
        if first > n:
            return []
        return self._items[max(0, n - last): n - first + 1][::-1]

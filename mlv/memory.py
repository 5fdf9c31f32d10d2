"""Keeping the long-running process's memory where its work puts it (glibc's allocator).

glibc gives threads that allocate at the same time arenas of their own, up to eight per core, and
keeps freed memory in each for reuse. The app's work runs in threads (jobs, database calls from
the event loop's executor), so its resident size climbed for days in the soak test while Python's
own objects stayed flat. Two arenas bound that; trimming after the daily cleanup hands back what
the deleted day's work left free. Neither does anything on another C library or another system.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_ARENA_MAX = -8  # mallopt's parameter number (glibc malloc.h)


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018  (only glibc has it)
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas(count: int = 2) -> bool:
    """Call before the app starts threads; MALLOC_ARENA_MAX in the environment wins."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    libc = _glibc()
    return bool(libc and libc.mallopt(M_ARENA_MAX, count) == 1)


def trim() -> bool:
    """Give the free memory at the end of each arena back to the system."""
    libc = _glibc()
    return bool(libc and libc.malloc_trim(0))

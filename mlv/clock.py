"""The present, as the time-based rules see it (retention cutoffs, "no news for 10 minutes").

`now()` is the wall clock. It is a seam on purpose: stored log times are compared with it, and a
process that runs mlv on another clock (the soak test plays a simulated week of mailcow traffic in
minutes) swaps the source once with `set_source`, so every such rule follows the same clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable

_source: Callable[[], float] = time.time


def now() -> float:
    """Unix seconds."""
    return _source()


def set_source(source: Callable[[], float] | None) -> None:
    """Read the time from `source` from now on (None: the wall clock again)."""
    global _source
    _source = source or time.time

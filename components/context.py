"""What pages read from the running app: settings, engine, mailcow access; a small shared cache."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from nicegui import run
from sqlalchemy import Engine

from mlv.config import Settings

T = TypeVar("T")


def settings() -> Settings:
    from mlv.api import deps

    return deps.settings()


def engine() -> Engine:
    from mlv.api import deps

    return deps.engine()


def mailcow_factory() -> Callable[[], Any] | None:
    """A function making a mailcow client, or None when no mailcow (nor emulator) is configured."""
    from mlv import app as mlv_app

    if mlv_app.runtime is None or not mlv_app.runtime.mailcow_url:
        return None
    return mlv_app.mailcow_client


def scheduler() -> Any:
    from mlv import app as mlv_app

    return mlv_app.runtime.scheduler if mlv_app.runtime is not None else None


class MailcowUnavailable(Exception):
    """mailcow could not be asked; the message is a sentence for the page."""


def ask_mailcow(fn: Callable[[Any], T]) -> T:
    """fn(client) with a fresh mailcow client (blocking); MailcowUnavailable with a readable reason."""
    from mlv.mailcow.client import MailcowError

    factory = mailcow_factory()
    if factory is None:
        raise MailcowUnavailable("mailcow is not configured (MAILCOW_URL) or the app has not started yet")
    try:
        with factory() as client:
            return fn(client)
    except MailcowError as exc:
        raise MailcowUnavailable(f"mailcow: {exc}") from None


async def io_bound(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """fn(*args, **kwargs) in a worker thread (run.io_bound); CancelledError when the app is stopping
    (where run.io_bound answers None, which a page would take for a result)."""
    boxed = await run.io_bound(lambda: (fn(*args, **kwargs),))
    if boxed is None:
        raise asyncio.CancelledError
    return boxed[0]


_shared: dict[tuple, tuple[float, Any]] = {}
_shared_lock = threading.Lock()


async def shared(key: tuple, compute: Callable[[], T], *, ttl: float = 5.0) -> T:
    """compute() off the event loop, shared by every client asking for `key` within `ttl` seconds.

    Ten open dashboards refreshing on the same import cost one set of queries, not ten.
    """
    key = (id(engine()), *key)
    now = time.monotonic()
    with _shared_lock:
        hit = _shared.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
    value = await io_bound(compute)
    with _shared_lock:
        if len(_shared) > 256:
            _shared.clear()
        _shared[key] = (time.monotonic() + ttl, value)
    return value


def forget_shared(key: tuple) -> None:
    """Drop one shared value (a "refresh" button asks again)."""
    with _shared_lock:
        _shared.pop((id(engine()), *key), None)


def clear_shared() -> None:
    with _shared_lock:
        _shared.clear()


def on_job_change(callback: Callable[[str], Any], *, names: set[str] | None = None) -> None:
    """Call callback(job_name) when a job's status changes, while this page's client lives.

    The subscription drops itself once the client is gone, even when the client was discarded
    without its delete hooks running.
    """
    from nicegui import context

    from mlv.jobs import job_changed

    client = context.client

    def handler(name: str) -> Any:
        if client.is_deleted:
            job_changed.unsubscribe(handler)
            return None
        if names is None or name in names:
            with client:
                return callback(name)
        return None

    job_changed.subscribe(handler)

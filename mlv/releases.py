"""Update checks against a GitHub-style releases API (APP_RELEASES_URL, MAILCOW_RELEASES_URL).

`<url>/latest` and `<url>/tags/<tag>` answer {"tag_name", "body", ...}. Each check has a timeout,
and results (failures included) are cached for VERSION_CHECK_CACHE seconds, so pages and the
scheduler's check_app_version job share one request. A failure is a readable sentence, never a
stack trace.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx


class ReleaseError(Exception):
    """The releases URL could not be asked, or did not know the version."""


@dataclass
class Release:
    version: str | None
    changelog: str | None
    checked_at: datetime
    error: str | None = None


def version_key(version: str) -> list[tuple[int, Any]]:
    """A sortable key: '1.4.10' > '1.4.9', '2025-01a' > '2025-01'."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.findall(r"\d+|[a-z]+", version.lower().lstrip("v"))]


def newer(latest: str | None, current: str | None) -> bool:
    if not latest or not current:
        return False
    return version_key(latest) > version_key(current)


def _get(url: str, timeout: float) -> dict[str, Any]:
    try:
        response = httpx.get(url, timeout=timeout, headers={"Accept": "application/vnd.github+json"},
                             follow_redirects=True)
    except httpx.TimeoutException:
        raise ReleaseError(f"the release server did not answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise ReleaseError(f"the release server could not be reached ({type(exc).__name__})") from None
    if response.status_code == 404:
        raise ReleaseError("no such release")
    if response.status_code >= 400:
        raise ReleaseError(f"the release server answered HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        raise ReleaseError("the release server answered something that is not JSON") from None
    if not isinstance(data, dict):
        raise ReleaseError("the release server answered an unexpected document")
    return data


class ReleaseChecker:
    """Latest release and changelogs from one releases URL, cached."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, tuple[float, Release]] = {}

    def latest(self, url: str, *, timeout: float, ttl: float, force: bool = False) -> Release:
        now = time.monotonic()
        if not url:
            return Release(None, None, datetime.now(UTC), "no releases URL is configured")
        with self._lock:
            hit = self._latest.get(url)
        if hit is not None and not force and now - hit[0] < ttl:
            return hit[1]
        try:
            data = _get(url.rstrip("/") + "/latest", timeout)
            tag = str(data.get("tag_name") or data.get("name") or "").strip()
            release = Release(tag.lstrip("v") or None, data.get("body"), datetime.now(UTC),
                              None if tag else "the latest release has no tag")
        except ReleaseError as exc:
            release = Release(None, None, datetime.now(UTC), str(exc))
        with self._lock:
            self._latest[url] = (now, release)
        return release

    def changelog(self, url: str, version: str, *, timeout: float) -> str:
        """The release notes of `version` (with or without a leading v)."""
        if not url:
            raise ReleaseError("no releases URL is configured")
        bare = version.strip().lstrip("vV")
        if not re.fullmatch(r"[0-9A-Za-z._-]{1,64}", bare):
            raise ReleaseError("not a version number")
        last: ReleaseError | None = None
        for tag in (f"v{bare}", bare):
            try:
                return str(_get(f"{url.rstrip('/')}/tags/{tag}", timeout).get("body") or "")
            except ReleaseError as exc:
                last = exc
                if str(exc) != "no such release":
                    break
        raise last or ReleaseError("no such release")

    def clear(self) -> None:
        with self._lock:
            self._latest.clear()


checker = ReleaseChecker()


def check_app_version(settings) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The scheduler's check_app_version job: a fresh check whose result the status routes then serve.

    Raises ReleaseError (the job's status shows why) when the releases URL cannot be asked."""
    from mlv import __version__

    if not settings.app_releases_url:
        return {"skipped": "APP_RELEASES_URL is not set"}
    rel = checker.latest(settings.app_releases_url, timeout=settings.version_check_timeout,
                         ttl=settings.version_check_cache, force=True)
    if rel.error:
        raise ReleaseError(rel.error)
    return {"latest_version": rel.version, "update_available": newer(rel.version, __version__)}

"""Status: mailcow's containers, storage and version (live), mlv's own version and changelogs."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Path

from mlv import __version__
from mlv.api import deps
from mlv.queries import live
from mlv.queries.common import iso_dt
from mlv.releases import ReleaseError, checker, newer

router = APIRouter(prefix="/status", tags=["status"])


@router.get("/containers", summary="mailcow's containers and their state")
def containers() -> dict:
    with deps.mailcow() as client:
        return live.containers(client)


@router.get("/storage", summary="Disk usage of the mail volume")
def storage() -> dict:
    with deps.mailcow() as client:
        return live.storage(client)


def _release_fields(current: str | None, url: str, force: bool) -> dict:
    s = deps.settings()
    rel = checker.latest(url, timeout=s.version_check_timeout, ttl=s.version_check_cache, force=force)
    return {"current_version": current, "latest_version": rel.version,
            "update_available": newer(rel.version, current), "changelog": rel.changelog,
            "last_checked": iso_dt(rel.checked_at), "check_error": rel.error}


@router.get("/version", summary="mailcow's version and whether a newer release exists")
def version(force: bool = False) -> dict:
    """`latest_version` comes from MAILCOW_RELEASES_URL; when it cannot be asked it is null and
    `check_error` says why."""
    with deps.mailcow() as client:
        current = live.mailcow_version(client)
    return _release_fields(current, deps.settings().mailcow_releases_url, force)


@router.get("/app-version", summary="mlv's version and whether a newer release exists")
def app_version(force: bool = False) -> dict:
    """Checked against APP_RELEASES_URL (cached VERSION_CHECK_CACHE seconds; `force=true` asks now).
    When the check fails, `latest_version` is null and `check_error` says why."""
    return _release_fields(__version__, deps.settings().app_releases_url, force)


@router.get("/app-version/changelog/{version}", summary="Release notes of one mlv version")
def changelog(version: str = Path(max_length=64, description="e.g. 1.4.6 or v1.4.6")) -> dict:
    s = deps.settings()
    try:
        text = checker.changelog(s.app_releases_url, version, timeout=s.version_check_timeout)
    except ReleaseError as exc:
        if str(exc) in ("no such release", "not a version number"):
            raise HTTPException(404, f"No release {version}: {exc}") from None
        raise HTTPException(503, f"The changelog cannot be fetched: {exc}") from None
    return {"version": version.strip().lstrip("vV"), "changelog": text}


@router.get("/mailcow-connection", summary="Whether mailcow's API answers")
def mailcow_connection() -> dict:
    now = datetime.now(UTC)
    try:
        with deps.mailcow() as client:
            live.mailcow_version(client)
    except HTTPException as exc:
        return {"connected": False, "timestamp": iso_dt(now), "error": exc.detail}
    return {"connected": True, "timestamp": iso_dt(now)}


@router.get("/mailcow-info", summary="Domains, mailboxes and aliases (as last fetched)")
def mailcow_info() -> dict:
    return live.mailcow_info(engine=deps.engine(), server_id=deps.settings().server_id)


@router.get("/summary", summary="Containers, storage and mail system counts together")
def summary() -> dict:
    with deps.mailcow() as client:
        c = live.containers(client)["summary"]
        st = live.storage(client)
    info = live.mailcow_info(engine=deps.engine(), server_id=deps.settings().server_id)
    return {"containers": c, "storage": {"used_percent": st["used_percent"], "used": st["used"], "total": st["total"]},
            "system": {"domains": info["domains"]["total"], "mailboxes": info["mailboxes"]["total"],
                       "aliases": info["aliases"]["total"]}}

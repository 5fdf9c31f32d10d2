"""Downloading the MaxMind GeoLite2 City and ASN databases (the weekly update_geoip job).

Each edition is streamed to a temporary file beside its target (with progress), its .mmdb taken
from the tar.gz within size limits, opened to prove it is a readable database of the right kind,
and only then moved over the old file with an atomic rename. Any failure leaves the old file as
it was. The licence key is sent as HTTP Basic credentials, never logged.
"""

from __future__ import annotations

import contextlib
import os
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import maxminddb

from mlv.dmarc.geoip import database_paths
from mlv.dmarc.imap import scrub

EDITIONS = ("GeoLite2-City", "GeoLite2-ASN")
MAX_DOWNLOAD = 512 * 1024 * 1024
MAX_MMDB = 1024 * 1024 * 1024
Progress = Callable[[str, int, int | None], None]


class GeoIPUpdateError(RuntimeError):
    pass


def _download(client: httpx.Client, url: str, auth: tuple[str, str], target: Path, edition: str,
              progress: Progress | None) -> None:
    with client.stream("GET", url, auth=auth, follow_redirects=True) as response:
        if response.status_code != 200:
            raise GeoIPUpdateError(f"{edition}: download failed with HTTP {response.status_code}")
        total = int(response.headers.get("content-length") or 0) or None
        done = 0
        with target.open("wb") as handle:
            for chunk in response.iter_bytes(1024 * 1024):
                done += len(chunk)
                if done > MAX_DOWNLOAD:
                    raise GeoIPUpdateError(f"{edition}: download larger than {MAX_DOWNLOAD:,} bytes")
                handle.write(chunk)
                if progress:
                    progress(edition, done, total)


def _extract_mmdb(archive: Path, target: Path, edition: str) -> None:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = next((m for m in tar if m.isfile() and m.name.endswith(".mmdb")), None)
            if member is None:
                raise GeoIPUpdateError(f"{edition}: the archive holds no .mmdb file")
            if member.size > MAX_MMDB:
                raise GeoIPUpdateError(f"{edition}: the database in the archive is too large")
            source = tar.extractfile(member)
            if source is None:
                raise GeoIPUpdateError(f"{edition}: the .mmdb file cannot be read")
            with source, target.open("wb") as out:
                while chunk := source.read(1024 * 1024):
                    out.write(chunk)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise GeoIPUpdateError(f"{edition}: the archive is corrupt ({exc})") from None


def _check(path: Path, edition: str) -> str:
    try:
        with maxminddb.open_database(str(path)) as reader:
            kind = reader.metadata().database_type
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise GeoIPUpdateError(f"{edition}: the downloaded file is not a valid database ({exc})") from None
    if edition.split("-")[-1] not in kind:
        raise GeoIPUpdateError(f"{edition}: the downloaded database is {kind!r}")
    return kind


def update_edition(settings: Any, edition: str, target: Path, *, client: httpx.Client,
                   progress: Progress | None = None) -> str:
    """Download one edition over `target`; the old file stays when anything fails."""
    target.parent.mkdir(parents=True, exist_ok=True)
    archive = target.with_name(f".{target.name}.{os.getpid()}.tar.gz")
    fresh = target.with_name(f".{target.name}.{os.getpid()}.new")
    url = settings.maxmind_download_url.format(edition=edition)
    auth = (settings.maxmind_account_id, settings.maxmind_license_key.get_secret_value())
    try:
        _download(client, url, auth, archive, edition, progress)
        _extract_mmdb(archive, fresh, edition)
        kind = _check(fresh, edition)
        os.replace(fresh, target)
        return kind
    except httpx.HTTPError as exc:
        raise GeoIPUpdateError(f"{edition}: download failed ({scrub(str(exc), auth[1])})") from None
    finally:
        for leftover in (archive, fresh):
            with contextlib.suppress(OSError):
                leftover.unlink()


def update_databases(settings: Any, *, progress: Progress | None = None, force: bool = False,
                     max_age: float = 6 * 86400) -> dict[str, Any]:
    """Both editions; skips files younger than `max_age` unless forced. Raises if any edition failed."""
    if not (settings.maxmind_account_id and settings.maxmind_license_key.get_secret_value()):
        return {"skipped": "MAXMIND_ACCOUNT_ID / MAXMIND_LICENSE_KEY are not set"}
    targets = dict(zip(EDITIONS, database_paths(settings), strict=True))
    results: dict[str, Any] = {}
    errors: list[str] = []
    with httpx.Client(timeout=httpx.Timeout(60.0, connect=15.0)) as client:
        for edition, target in targets.items():
            if not force and target.is_file() and time.time() - target.stat().st_mtime < max_age:
                results[edition] = "up to date"
                continue
            try:
                update_edition(settings, edition, target, client=client, progress=progress)
                results[edition] = "updated"
            except GeoIPUpdateError as exc:
                results[edition] = f"failed: {exc}"
                errors.append(str(exc))
    if errors:
        raise GeoIPUpdateError("; ".join(errors))
    return results

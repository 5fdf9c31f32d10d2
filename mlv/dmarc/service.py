"""Importing reports: the one function behind the upload route, the CLI and the IMAP sync."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from mlv.dmarc.extract import extract_reports
from mlv.dmarc.geoip import GeoIP, get_geoip
from mlv.dmarc.limits import Limits, gc_paused
from mlv.dmarc.store import StoreResult, store_report, store_reports
from mlv.dmarc.types import Extraction, ReportError


@dataclass
class ImportOutcome:
    """What one input gave: a result per report stored or found duplicate, and the unusable parts."""

    results: list[StoreResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def created(self) -> int:
        return sum(r.status == "success" for r in self.results)

    @property
    def duplicates(self) -> int:
        return sum(r.status == "duplicate" for r in self.results)

    @property
    def records(self) -> int:
        return sum(r.records_count for r in self.results if r.status == "success")

    def response(self) -> tuple[int, dict[str, Any]]:
        """HTTP status and body of POST /api/dmarc/upload: 201 when something new was stored, else 200."""
        created = [r for r in self.results if r.status == "success"]
        first = created[0] if created else self.results[0]
        body = first.public()
        if len(self.results) > 1:
            body["message"] = (f"{len(created)} of {len(self.results)} reports uploaded"
                               + (f" ({self.duplicates} duplicate)" if self.duplicates else ""))
            body["records_count"] = self.records
            body["reports"] = [r.public() for r in self.results]
        if self.problems:
            body["problems"] = self.problems
        return (201 if created else 200), body


def import_bytes(engine: Engine, data: bytes | Message, *, filename: str = "", source: str = "upload",
                 limits: Limits | None = None, geo: GeoIP | None = None) -> ImportOutcome:
    """Parse and store every report in `data`. Raises ReportError (nothing stored) when it holds none."""
    extraction = extract_reports(data, filename=filename, limits=limits)
    outcome = ImportOutcome(problems=extraction.problems)
    for report in extraction.reports:
        outcome.results.append(store_report(engine, report, source=source, file_name=filename or None, geo=geo))
    return outcome


def import_for_settings(engine: Engine, settings: Any, data: bytes | Message, *, filename: str = "",
                        source: str = "upload") -> ImportOutcome:
    return import_bytes(engine, data, filename=filename, source=source, limits=Limits.from_settings(settings),
                        geo=get_geoip(settings))


def import_files(engine: Engine, paths: list[Path], *, source: str = "cli", limits: Limits | None = None,
                 geo: GeoIP | None = None, batch_records: int = 100_000, batch_reports: int = 1000,
                 ) -> Iterator[tuple[Path, ImportOutcome | Exception]]:
    """Many files (`mlv import-report FOLDER`): parsed one by one, stored in transactions of up to
    `batch_reports` reports / `batch_records` records. Yields (path, outcome or the error) in order."""
    remaining = iter(paths)
    while True:
        with gc_paused():  # one collection per batch, not one per file
            batch = _next_batch(engine, remaining, source, limits, geo, batch_records, batch_reports)
        if not batch:
            return
        yield from batch


def _next_batch(engine: Engine, paths: Iterator[Path], source: str, limits: Limits | None, geo: GeoIP | None,
                batch_records: int, batch_reports: int) -> list[tuple[Path, ImportOutcome | Exception]]:
    found: list[tuple[Path, Extraction | Exception]] = []
    records = reports = 0
    for path in paths:
        try:
            extraction = extract_reports(path.read_bytes(), filename=path.name, limits=limits)
        except (ReportError, OSError) as exc:
            found.append((path, exc))
            continue
        found.append((path, extraction))
        reports += len(extraction.reports)
        records += sum(len(getattr(r, "records", ())) for r in extraction.reports)
        if reports >= batch_reports or records >= batch_records:
            break
    items = [(report, path.name) for path, item in found if isinstance(item, Extraction) for report in item.reports]
    results = iter(store_reports(engine, items, source=source, geo=geo)) if items else iter(())
    return [(path, item if isinstance(item, Exception) else
             ImportOutcome(results=[next(results) for _ in item.reports], problems=item.problems))
            for path, item in found]


def expand_paths(paths: list[str]) -> list[Path]:
    """Files as given, and the files under folders given (sorted)."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        else:
            files.append(path)
    return files

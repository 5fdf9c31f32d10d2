"""`mlv import-log`: plain Postfix/Dovecot syslog files through the same pipeline as mailcow's logs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path

from sqlalchemy import Engine

from mlv.ingest.pipeline import IngestResult, ingest_stream, local_domains
from mlv.ingest.syslog import iter_syslog_file

BATCH = 20000


@dataclass
class FileImport:
    result: IngestResult = field(default_factory=IngestResult)
    files: int = 0
    ignored: int = 0


def import_items(engine: Engine, items: Iterable[dict], *, server_id: int = 1, extra_domains: Sequence[str] = (),
                 blacklist: Sequence[str] = (), batch_size: int = BATCH,
                 progress: Callable[[str], None] | None = None) -> IngestResult:
    """Ingest mailcow-shaped items (oldest first, each with a "source" key) in batches; the next
    batch is parsed while the current one is written (ingest_stream)."""
    with engine.connect() as conn:
        domains = local_domains(conn, server_id, extra_domains)
    processed = 0

    def batches() -> Iterator[dict[str, list[dict]]]:
        batch: dict[str, list[dict]] = {}
        size = 0
        last_time = None
        for item in items:
            # Cut batches only between seconds: identical lines of one second are told apart by
            # their position in it, so a second must never be split.
            if size >= batch_size and item.get("time") != last_time:
                yield batch
                batch, size = {}, 0
            last_time = item.get("time")
            batch.setdefault(item.pop("source", "postfix"), []).append(item)
            size += 1
        if size:
            yield batch

    def done(result: IngestResult) -> None:
        nonlocal processed
        processed += sum(result.received.values())
        if progress:
            progress(f"  {processed} lines processed")

    return ingest_stream(engine, batches(), server_id=server_id, domains=domains, blacklist=blacklist, done=done)


def import_files(engine: Engine, paths: Sequence[str | Path], *, tz: tzinfo, server_id: int = 1,
                 extra_domains: Sequence[str] = (), blacklist: Sequence[str] = (),
                 progress: Callable[[str], None] | None = None) -> FileImport:
    """Import syslog files in the order given (plain or gzip, classic or RFC 3339 stamps)."""
    out = FileImport()
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(2, "no such file", str(path))
        stats: dict[str, int] = {}
        if progress:
            progress(f"{path}:")
        result = import_items(engine, iter_syslog_file(path, tz=tz, stats=stats), server_id=server_id,
                              extra_domains=extra_domains, blacklist=blacklist, progress=progress)
        out.result.add(result)
        out.files += 1
        out.ignored += stats.get("ignored", 0)
    return out

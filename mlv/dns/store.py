"""The DNS check cache in the database: upsert per domain, read back for the domain list (blocking)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from mlv.models.dns import DnsCheckRun, DomainDnsCheck

EXTRA = ("mx", "reverse_dns", "mta_sts", "tls_rpt", "bimi")


def _epoch(stamp: str | None) -> int:
    if not stamp:
        return int(time.time())
    return int(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())


def iso(epoch: int | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if epoch is not None else None


def _upsert(engine: Engine, model: type, rows: list[dict[str, Any]], keys: list[str]) -> None:
    table = model.__table__  # type: ignore[attr-defined]
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=keys, set_={c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys})
    with engine.begin() as conn:
        conn.execute(statement, rows)


def save_results(engine: Engine, results: Mapping[str, Mapping[str, Any]], *, full: bool, server_id: int = 1,
                 domains_checked: int | None = None, errors: Sequence[str] = ()) -> None:
    """Upsert each domain's dns_checks; a full run also records last_dns_check."""
    rows = [{"server_id": server_id, "domain_name": domain, "spf_check": checks.get("spf") or {},
             "dkim_check": checks.get("dkim") or {}, "dmarc_check": checks.get("dmarc") or {},
             "extra_checks": {name: checks[name] for name in EXTRA if name in checks},
             "checked_at": _epoch(checks.get("checked_at")), "is_full_check": full}
            for domain, checks in results.items()]
    if rows:
        _upsert(engine, DomainDnsCheck, rows, ["server_id", "domain_name"])
    if full:
        _upsert(engine, DnsCheckRun, [{"server_id": server_id, "last_dns_check": int(time.time()),
                                       "domains_checked": len(rows) if domains_checked is None else domains_checked,
                                       "errors": list(errors)}], ["server_id"])


def load_results(engine: Engine, *, server_id: int = 1) -> tuple[dict[str, dict[str, Any]], str | None]:
    """(domain -> cached dns_checks with is_full_check, last_dns_check as ISO time or None)."""
    table = DomainDnsCheck.__table__  # type: ignore[attr-defined]
    run_table = DnsCheckRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(select(table).where(table.c.server_id == server_id)).mappings().all()
        last = conn.execute(select(run_table.c.last_dns_check).where(run_table.c.server_id == server_id)).scalar()
    results = {row["domain_name"]: {"spf": row["spf_check"], "dkim": row["dkim_check"], "dmarc": row["dmarc_check"],
                                    **row["extra_checks"], "checked_at": iso(row["checked_at"]),
                                    "is_full_check": row["is_full_check"]}
               for row in rows}
    return results, iso(last)


def load_domains(engine: Engine, *, server_id: int = 1) -> list[dict[str, Any]]:
    """mailcow's domain objects as last fetched by the importer (empty before the first fetch)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT data FROM mailcow_object WHERE server_id = :s AND kind = 'domain' "
                                 "ORDER BY key"), {"s": server_id}).scalars().all()
    out = []
    for data in rows:
        try:
            obj = json.loads(data)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("domain_name"):
            out.append(obj)
    return out

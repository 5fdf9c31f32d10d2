"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import mlv.models  # noqa: F401  (registers the tables)
from mlv.db import include_object

# SQLite's reflection cannot read expression indexes; they are checked by name below instead.
pytestmark = pytest.mark.filterwarnings("ignore:Skipped unsupported reflection")


def test_migrated_database_matches_the_models(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == [], "\n".join(map(str, diff))


def test_search_objects_exist_but_are_not_compared(engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import inspect

    insp = inspect(engine)
    names = set(insp.get_table_names())
    indexes = {ix["name"] for ix in insp.get_indexes("postfix_log")}
    if engine.dialect.name == "sqlite":
        assert "postfix_log_fts" in names  # the FTS5 table and its shadow tables are there ...
    else:
        assert "ix_postfix_log_search" in indexes  # ... the pg_trgm index too
    assert not any(include_object(None, n, "table", True, None) for n in names if "_fts" in n)


def test_raw_sql_indexes_are_all_there(engine) -> None:  # type: ignore[no-untyped-def]
    """The indexes the comparison leaves out must exist: dropping one is caught here."""
    from sqlalchemy import text

    from mlv.db import RAW_SQL_INDEXES

    if engine.dialect.name == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'index'"
    else:
        sql = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    with engine.connect() as conn:
        present = set(conn.execute(text(sql)).scalars())
    expected = RAW_SQL_INDEXES - ({"ix_message_seen_id"} if engine.dialect.name == "sqlite" else set())
    assert expected <= present, sorted(expected - present)
    assert "ix_delivery_recipient" not in present  # dropped by 0005: ix_delivery_recipient_ref covers it


def test_connection_settings(engine) -> None:  # type: ignore[no-untyped-def]
    """Every pooled connection gets the session settings mlv.db.make_engine promises."""
    from sqlalchemy import text

    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        else:
            assert conn.execute(text("SHOW jit")).scalar_one() == "off"

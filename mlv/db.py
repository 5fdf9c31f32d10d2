"""Engine, sessions and migrations.

SQLite (a file in DATA_DIR, WAL) by default; PostgreSQL through psycopg 3 when DATABASE_URL
says so. Alembic migrations are applied at start-up, so an upgrade keeps the data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str, **kwargs: object) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and the folder it needs."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.execute("PRAGMA cache_size=-65536")
            cur.close()

        return engine
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, **kwargs)

    @event.listens_for(engine, "connect")
    def _postgres_session(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # Every query here answers a page within milliseconds. JIT compilation starts above a cost
        # estimate, and LIKE's guessed row counts push walks with a LIMIT over it: tens of ms spent
        # compiling a query that runs in less (measured: 54 ms for a 30 ms search).
        with dbapi_conn.cursor() as cur:
            cur.execute("SET jit = off")
        dbapi_conn.commit()

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (creates it on an empty database)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


_engine: Engine | None = None


def init_db(url: str, *, run_migrations: bool = True) -> Engine:
    """Create the process-wide engine and migrate it."""
    global _engine
    if _engine is not None:
        _engine.dispose()
    _engine = make_engine(url)
    if run_migrations:
        migrate(_engine)
    return _engine


def get_engine() -> Engine:
    if _engine is None:
        from mlv.config import get_settings

        return init_db(get_settings().db_url)
    return _engine


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session committed on success and rolled back on error."""
    with Session(engine or get_engine()) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# Made with raw SQL by the migrations, not by models: the search indexes (SQLite FTS5 tables with
# their shadow tables and views, PostgreSQL's pg_trgm expression indexes). Autogenerate and schema
# comparisons leave them alone.
RAW_SQL_MARKERS = ("_fts", "_search")
# The list indexes of migration 0002, made with raw SQL too (expressions, partial WHERE clauses, and
# one PostgreSQL-only index), so the models do not declare them.
RAW_SQL_INDEXES = frozenset({
    "ix_message_sender_seen", "ix_message_user_seen", "ix_message_ip_seen", "ix_message_direction_seen",
    "ix_message_status_seen", "ix_message_direction_status_seen", "ix_message_spam_seen", "ix_message_incomplete",
    "ix_message_rspamd_ref", "ix_message_seen_id", "ix_delivery_recipient_ref", "ix_postfix_log_sender",
    "ix_postfix_log_recipient", "ix_postfix_log_status", "ix_rspamd_log_sender", "ix_rspamd_log_direction",
    "ix_rspamd_log_action", "ix_rspamd_log_spam", "ix_rspamd_log_time_score", "ix_netfilter_log_username",
    "ix_netfilter_log_action", "ix_netfilter_log_ip_time",
})


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic's filter: False for the raw-SQL objects of the migrations found in the database."""
    if not (reflected and compare_to is None and name):
        return True
    if type_ == "index" and name in RAW_SQL_INDEXES:
        return False
    return not any(m in name for m in RAW_SQL_MARKERS)


_HINTS = (("database is locked", "another process holds SQLite's write lock; the next run tries again"),
          ("disk is full", "free space where the database lives (DATA_DIR); the next run tries again"),
          ("disk i/o error", "check the disk of DATA_DIR"),
          ("connection refused", "is the PostgreSQL server running?"),
          ("server closed the connection", "the PostgreSQL server went away; the next run tries again"),
          ("terminating connection", "the PostgreSQL server went away; the next run tries again"))


def database_reason(exc: BaseException) -> str:
    """One readable line for a database failure: the driver's words (no SQL, no links) and a hint."""
    from mlv.mailcow.client import one_line

    orig = getattr(exc, "orig", None) or exc
    words = str(orig).split("\n[SQL:", 1)[0].split("(Background on this error", 1)[0]
    words = one_line(words, 300) or type(orig).__name__
    hint = next((h for key, h in _HINTS if key in words.lower()), None)
    return f"database error: {words}" + (f" ({hint})" if hint else "")

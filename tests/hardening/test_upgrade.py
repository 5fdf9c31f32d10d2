"""Upgrades: a database made by an earlier release is brought to the newest schema at start-up with
its data intact and the app's answers right; the Dockerfile builds the image the README promises."""

from __future__ import annotations

import hashlib
import re
import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from mlv.correlate.rules import LocalDomains
from mlv.db import MIGRATIONS_DIR, make_engine, migrate
from mlv.ingest import store
from mlv.ingest.pipeline import ingest
from mlv.mailcow.generator import TrafficGenerator
from mlv.mailcow.site import ALIAS_DOMAINS, DOMAINS
from mlv.queries.messages import MessageFilter, list_messages
from mlv.queries.stats import dashboard, top_spam_triggers
from tests.api.test_rollups import check as check_rollups
from tests.correlate.test_truth import as_sources
from tests.hardening.figures import module_figures

ROOT = Path(__file__).resolve().parents[2]
BASE_TABLES = ["postfix_log", "rspamd_log", "netfilter_log", "dovecot_log", "message", "message_queue", "delivery",
               "ingest_state", "mailcow_object", "import_gap"]
HOURS = 2  # of emulator traffic in the old database
FIGURES, figures = module_figures("Upgrades")


def alembic_config(conn) -> Config:  # type: ignore[no-untyped-def]
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    return cfg


def upgrade_to(engine: Engine, revision: str) -> None:
    """What an earlier release's start-up did: the schema up to `revision` only."""
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def revisions(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {r for (r,) in conn.execute(text("SELECT version_num FROM alembic_version"))}


def fill(engine: Engine, *, seed: int, hours: int, start: float) -> None:
    """Emulator traffic through the importer and correlator, in 10-minute batches."""
    gen = TrafficGenerator(seed=seed, rate=20.0, start=start)
    domains = LocalDomains([*DOMAINS, *ALIAS_DOMAINS])
    for _ in range(hours * 6):
        gen.advance(600)
        ingest(engine, as_sources(gen.drain()), domains=domains)


# Columns later migrations added to the base tables: an earlier release's importer wrote rows without them.
LATER_COLUMNS = {"postfix": ("message_ascii", "0006")}


@contextmanager
def old_importer(engine: Engine, revision: str) -> Iterator[None]:
    """The importer as a release at `revision` ran it: the rows it wrote lack the columns added since."""
    saved_columns, saved_rows = dict(store.COLUMNS), store._postfix_row
    for source, (column, added) in LATER_COLUMNS.items():
        if revision < added:
            at = store.COLUMNS[source].index(column)
            store.COLUMNS[source] = tuple(c for c in store.COLUMNS[source] if c != column)
            store._postfix_row = lambda *a, _at=at, _row=saved_rows: _row(*a)[:_at] + _row(*a)[_at + 1:]
    try:
        yield
    finally:
        store.COLUMNS.update(saved_columns)
        store._postfix_row = saved_rows


def fingerprint(engine: Engine, columns: dict[str, list[str]] | None = None) -> dict[str, tuple[int, str]]:
    """Per base table: row count and a digest of every row (ordered by all columns, or by `columns`)."""
    out = {}
    with engine.connect() as conn:
        for table in BASE_TABLES:
            cols = (columns or {}).get(table) or [c["name"] for c in inspect(conn).get_columns(table)]
            order = ", ".join(f'"{c}"' for c in cols)
            rows = conn.execute(text(f"SELECT {order} FROM {table} ORDER BY {order}")).all()
            digest = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
            out[table] = (len(rows), digest)
    return out


def schema(engine: Engine) -> dict[str, set[str]]:
    """Tables, indexes and triggers by name."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(text("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")).all()
            found: dict[str, set[str]] = {"table": set(), "index": set(), "trigger": set(), "view": set()}
            for kind, name in rows:
                found[kind].add(name)
            found["table"] = {t for t in found["table"] if not re.search(r"_fts_(data|idx|docsize|config)$", t)}
            return found
        insp = inspect(conn)
        tables = set(insp.get_table_names())
        indexes = {r[0] for r in conn.execute(text("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"))}
        triggers = {r[0] for r in conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))}
        return {"table": tables, "index": indexes, "trigger": triggers, "view": set(insp.get_view_names())}


def recount_symbols(engine: Engine) -> tuple[list, list]:
    pg = engine.dialect.name == "postgresql"
    keys = "json_object_keys(r.symbols::json) AS k" if pg else "json_each(r.symbols) j"
    key = "k" if pg else "j.key"
    with engine.connect() as conn:
        got = sorted(tuple(r) for r in conn.execute(text(
            "SELECT server_id, day, symbol, hits FROM spam_symbol_daily WHERE hits <> 0")))
        want = sorted(tuple(r) for r in conn.execute(text(
            f"SELECT r.server_id, r.time - r.time % 86400, substr({key}, 1, 128), COUNT(*) FROM rspamd_log r, {keys} "
            "WHERE r.is_spam = true GROUP BY 1, 2, 3")))
    return got, want


def check_answers(engine: Engine, now: int) -> dict[str, int]:
    """The app's queries on the upgraded data agree with counts over the base tables."""
    check_rollups(engine)  # every rollup equals a recount of its table
    got, want = recount_symbols(engine)
    assert got == want and got
    with engine.connect() as conn:
        messages = conn.execute(text("SELECT COUNT(*) FROM message")).scalar()
        day = conn.execute(text("SELECT COUNT(*) FROM message WHERE first_seen >= :a AND first_seen < :b"),
                           {"a": now - now % 3600 - 23 * 3600, "b": now - now % 3600 + 3600}).scalar()
        sender, subject = conn.execute(text(
            "SELECT sender, subject FROM message WHERE sender IS NOT NULL AND subject IS NOT NULL "
            "ORDER BY id LIMIT 1")).one()
        word = max(subject.split(), key=len)
        by_word = conn.execute(text("SELECT COUNT(*) FROM message WHERE lower(sender) LIKE :w OR "
                                    "lower(recipients) LIKE :w OR lower(subject) LIKE :w OR lower(message_id) LIKE :w "
                                    "OR lower(queue_id) LIKE :w"), {"w": f"%{word.lower()}%"}).scalar()
    listed = list_messages(engine=engine, filters=MessageFilter(), limit=10, cap=10**9)
    assert listed["total"] == messages and len(listed["data"]) == 10
    assert list_messages(engine=engine, filters=MessageFilter(sender=sender), cap=10**9)["total"] >= 1
    found = list_messages(engine=engine, filters=MessageFilter(search=word), cap=10**9)  # the search index
    assert found["total"] == by_word, word
    stats = dashboard(engine=engine, now=now)
    assert stats["messages"]["24h"] == day and stats["messages"]["30d"] == messages
    assert top_spam_triggers(engine=engine, now=now, days=30)["triggers"]
    return {"messages": messages, "search": found["total"]}


@pytest.mark.parametrize("old", ["0001", "0002"])
def test_an_old_database_is_upgraded_at_start_up_with_its_data(db_url: str, old: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade_to(engine, old)
        assert revisions(engine) == {old}
        start = time.time() - 6 * 3600
        with old_importer(engine, old):
            fill(engine, seed=21, hours=HOURS, start=start)  # what that release imported
        with engine.connect() as conn:
            old_columns = {t: [c["name"] for c in inspect(conn).get_columns(t)] for t in BASE_TABLES}
        before = fingerprint(engine)
        assert before["message"][0] > 100 and before["delivery"][0] > 100
        migrate(engine)  # what mlv.app.start() runs at start-up
        heads = set(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())
        assert revisions(engine) == heads and old not in heads
        with engine.connect() as conn:  # lines stored before 0006: flag not known, searched as before
            flags = conn.execute(text("SELECT DISTINCT message_ascii FROM postfix_log")).scalars().all()
        assert flags == [None]
        assert fingerprint(engine, old_columns) == before  # every row of every table, unchanged
        now = int(start + HOURS * 3600)
        answers = check_answers(engine, now)
        fresh = make_engine(db_url.rsplit("/", 1)[0] + "/" + _fresh_name(db_url))
        try:
            migrate(fresh)
            assert schema(engine) == schema(fresh)  # same tables, indexes, triggers as a new install
        finally:
            fresh.dispose()
        # and the upgraded database keeps working: another hour arrives, rollups and search follow
        gen_start = start + HOURS * 3600
        gen = TrafficGenerator(seed=22, rate=20.0, start=gen_start)
        domains = LocalDomains([*DOMAINS, *ALIAS_DOMAINS])
        for _ in range(6):
            gen.advance(600)
            ingest(engine, as_sources(gen.drain()), domains=domains)
        after = check_answers(engine, int(gen_start + 3600))
        assert after["messages"] > answers["messages"]
        migrate(engine)  # a second start-up changes nothing
        assert revisions(engine) == heads
    finally:
        engine.dispose()
    backend = engine.dialect.name
    FIGURES[f"{old}-{backend}"] = [
        f"- {backend}, database at revision {old} with {HOURS} hours of emulator traffic "
        f"({before['message'][0]} messages, {before['delivery'][0]} deliveries, {before['postfix_log'][0]} Postfix "
        f"lines): start-up migrate() brought it to {', '.join(sorted(heads))}; all {len(BASE_TABLES)} tables "
        "identical row for row (SHA-256 over ordered rows); rollups equal to recounts; message list, search "
        f"({answers['search']} hits) and dashboard equal to SQL counts; schema equal to a fresh install; "
        f"1 more hour imported after the upgrade ({after['messages']} messages) stayed consistent."]


def _fresh_name(db_url: str) -> str:
    if db_url.startswith("sqlite"):
        return "fresh.db"
    return db_url.rsplit("/", 1)[1] + "_fresh"


@pytest.fixture(autouse=True)
def _fresh_pg_database(request: pytest.FixtureRequest) -> None:
    """The PostgreSQL database a fresh install is compared with."""
    if "db_url" in request.fixturenames and request.getfixturevalue("db_url").startswith("postgresql"):
        url = request.getfixturevalue("db_url")
        request.getfixturevalue("pg_server").create_database(_fresh_name(url))


# ---------------------------------------------------------------- Dockerfile


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage, continuation lines joined."""
    text_ = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [ln.strip() for ln in text_.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    stages: list[list[tuple[str, str]]] = []
    for ln in lines:
        word, _, rest = ln.partition(" ")
        if word.upper() == "FROM":
            stages.append([])
        stages[-1].append((word.upper(), rest.strip()))
    return stages[-1]


def test_dockerfile_builds_a_slim_non_root_image_with_a_healthcheck() -> None:
    final = dockerfile()
    get = lambda name: [arg for word, arg in final if word == name]  # noqa: E731
    assert re.match(r"python:3\.\d+-slim", get("FROM")[0])
    user = get("USER")
    assert user and user[-1] not in ("root", "0") and [w for w, _ in final].index("USER") > max(
        i for i, (w, _) in enumerate(final) if w == "RUN")  # nothing runs as root after the switch
    env = " ".join(get("ENV"))
    data_dir = re.search(r"DATA_DIR=(\S+)", env).group(1)  # type: ignore[union-attr]
    assert f"NICEGUI_STORAGE_PATH={data_dir}/" in env  # UI storage inside the one volume
    assert get("VOLUME") and data_dir in get("VOLUME")[0] and len(get("VOLUME")) == 1
    assert get("EXPOSE") == ["8080"]
    health = get("HEALTHCHECK")[0]
    assert "CMD" in health and "http://127.0.0.1:8080/api/health" in health and "curl" not in health
    probe = health.split("CMD", 1)[1].strip()
    assert shlex.split(probe)[0] == "python"  # in the slim image: no curl or wget there
    cmd = get("CMD")[0]
    assert cmd.startswith("[") and cmd.replace(" ", "").startswith('["mlv","serve"') and '"0.0.0.0"' in cmd
    assert '"8080"' in cmd
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in ("data", ".git", "tests", ".env", "*.db"):
        assert entry in ignored or f"{entry}/" in ignored or f"**/{entry}" in ignored, entry
    FIGURES["docker"] = [
        f"- Dockerfile (parsed; docker cannot run here): final stage {get('FROM')[0]}, USER {user[-1]} after the "
        f"last RUN, VOLUME {get('VOLUME')[0]} holding DATA_DIR and NiceGUI storage, EXPOSE 8080, HEALTHCHECK with "
        f"python's urllib on /api/health (public: no credentials), CMD {cmd}; .dockerignore keeps data, .git, "
        "tests and .env out of the build context."]


def test_the_healthcheck_endpoint_is_public_and_the_probe_runs(tmp_path: Path) -> None:
    """The HEALTHCHECK command, run as the container would, against the app (no credentials)."""
    import subprocess
    import sys
    import threading

    import httpx
    import uvicorn
    from fastapi import FastAPI

    from mlv import app as mlv_app
    from mlv.api import install_guard, register_routes
    from mlv.config import load_settings
    from tests.servers import free_port

    health = next(arg for word, arg in dockerfile() if word == "HEALTHCHECK")
    probe = shlex.split(health.split("CMD", 1)[1].strip())
    assert probe[:2] == ["python", "-c"]
    app = FastAPI()
    register_routes(app)
    install_guard(app, enabled=True, username="admin", password="x" * 20, trusted_proxies=[], max_failures=5,
                  failure_window=60)
    engine = make_engine(f"sqlite:///{tmp_path / 'mlv.db'}")
    migrate(engine)
    saved = mlv_app.runtime
    mlv_app.runtime = mlv_app.Runtime(settings=load_settings(_env_file=None, data_dir=tmp_path), engine=engine)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert httpx.get(f"http://127.0.0.1:{port}/api/info").status_code == 401  # the guard is on
        code = probe[2].replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        assert subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 0
        server.should_exit = True
        thread.join(10)
        assert subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30).returncode != 0
    finally:
        server.should_exit = True
        mlv_app.runtime = saved
        engine.dispose()

"""The mailcow import end to end: the emulator over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from mlv.ingest.fetcher import run_fetch
from mlv.jobs import JobRegistry
from mlv.mailcow.client import MailcowClient, MailcowError
from mlv.mailcow.emulator import Emulator, start_emulator_thread
from tests.correlate.test_truth import LOCAL, compare_with_truth

COUNTS = {"postfix": 2000, "rspamd": 500, "netfilter": 500, "dovecot": 2000}


@pytest.fixture
def emulator():  # type: ignore[no-untyped-def]
    emu = Emulator(seed=3, rate=8.0)
    handle = start_emulator_thread(emu)
    yield emu, handle
    handle.stop()


def _client(handle, emu, **kw) -> MailcowClient:  # type: ignore[no-untyped-def]
    return MailcowClient(handle.url, emu.api_key, timeout=kw.pop("timeout", 10), **kw)


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


def _buffer_len(emu: Emulator, log: str) -> int:
    """Items mailcow holds right now for a log (null items are unreadable: not counted)."""
    return sum(1 for item in emu.buffer_items(log) if item is not None)


def fetch(engine: Engine, emu: Emulator, handle, counts=COUNTS):  # type: ignore[no-untyped-def]
    with _client(handle, emu) as client:
        return run_fetch(engine, client, counts=counts, extra_domains=LOCAL)


def test_same_fetch_twice_stores_nothing_twice(engine: Engine, emulator) -> None:  # type: ignore[no-untyped-def]
    emu, handle = emulator
    emu.advance(900)
    first = fetch(engine, emu, handle)
    assert first.result.stored["postfix"] > 500
    stored = {t: _count(engine, t) for t in ("postfix_log", "rspamd_log", "netfilter_log", "message")}
    second = fetch(engine, emu, handle)
    assert sum(second.result.stored.values()) == 0
    assert {t: _count(engine, t) for t in stored} == stored
    # Everything mailcow holds is stored, identical lines in the same second included.
    assert stored["postfix_log"] == _buffer_len(emu, "postfix")
    assert stored["rspamd_log"] == _buffer_len(emu, "rspamd-history")


def test_burst_bigger_than_one_fetch_loses_nothing(engine: Engine, emulator) -> None:  # type: ignore[no-untyped-def]
    emu, handle = emulator
    emu.advance(120)
    fetch(engine, emu, handle)
    before = _buffer_len(emu, "postfix")
    emu.burst(400)
    emu.advance(60)
    grown = _buffer_len(emu, "postfix") - before
    assert 2000 < grown < 9000, grown  # bigger than one fetch, still inside mailcow's buffer
    report = fetch(engine, emu, handle, counts={**COUNTS, "postfix": 500})
    assert report.sources["postfix"]["asked"] > 500  # it asked further back
    assert not report.gaps
    assert _count(engine, "postfix_log") == _buffer_len(emu, "postfix")


def test_mailcow_restart_loses_nothing_it_still_has(engine: Engine, emulator) -> None:  # type: ignore[no-untyped-def]
    emu, handle = emulator
    emu.advance(300)
    fetch(engine, emu, handle)
    before = _count(engine, "postfix_log")
    emu.reset_buffers()
    emu.advance(300)
    after_restart = _buffer_len(emu, "postfix")
    report = fetch(engine, emu, handle)
    assert _count(engine, "postfix_log") == before + after_restart
    assert any(g["source"] == "postfix" and "emptied" in g["note"] for g in report.gaps)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM import_gap WHERE source = 'postfix'")).scalar_one() == 1


def test_wrapped_buffer_records_a_gap(engine: Engine, emulator) -> None:  # type: ignore[no-untyped-def]
    emu, handle = emulator
    emu.advance(60)
    fetch(engine, emu, handle)
    emu.burst(2500)  # far more than the 10,000 lines mailcow keeps
    emu.advance(120)
    report = fetch(engine, emu, handle)
    assert any(g["source"] == "postfix" and "wrapped" in g["note"] for g in report.gaps)


def test_correlation_over_http_matches_truth(engine: Engine, emulator) -> None:  # type: ignore[no-untyped-def]
    emu, handle = emulator
    for _ in range(90):
        emu.advance(60)
        fetch(engine, emu, handle)
    rate, problems = compare_with_truth(engine, emu.truth())
    print(f"\nover HTTP: {rate:.2%} of {len(emu.truth())} messages match the ground truth")
    assert rate >= 0.995, problems[:10]


def test_bad_key_and_dead_mailcow_fail_readably_then_recover(engine: Engine, emulator) -> None:  # type: ignore[no-untyped-def]
    emu, handle = emulator
    emu.advance(120)
    registry = JobRegistry()
    with MailcowClient(handle.url, "WRONG-KEY", timeout=5) as bad:
        registry.run("fetch_logs", lambda: run_fetch(engine, bad, counts=COUNTS) and None)
    job = registry.jobs["fetch_logs"]
    assert job.status == "failed" and "API key" in (job.error or "")
    with MailcowClient("http://127.0.0.1:9", "x", timeout=2) as dead:
        with pytest.raises(MailcowError, match="cannot connect"):
            run_fetch(engine, dead, counts=COUNTS)
    registry.run("fetch_logs", lambda: fetch(engine, emu, handle) and None)
    assert registry.jobs["fetch_logs"].status == "success"
    assert _count(engine, "postfix_log") == _buffer_len(emu, "postfix")


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_database_restart_mid_import_loses_nothing(engine: Engine, emulator, pg_server) -> None:  # type: ignore[no-untyped-def]
    emu, handle = emulator
    emu.advance(300)
    fetch(engine, emu, handle)
    emu.advance(300)
    pg_server.stop_server()
    try:
        with pytest.raises(Exception):  # noqa: B017  (whatever the driver raises: the run fails)
            fetch(engine, emu, handle)
    finally:
        pg_server.start_again()
    emu.advance(60)
    fetch(engine, emu, handle)
    assert _count(engine, "postfix_log") == _buffer_len(emu, "postfix")
    rate, problems = compare_with_truth(engine, emu.truth())
    assert rate >= 0.99, problems[:5]

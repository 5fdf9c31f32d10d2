"""Bad input is skipped and counted, a misbehaving mailcow is a readable status, blacklisted mail stays out."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from mlv.correlate.rules import LocalDomains
from mlv.ingest.fetcher import run_fetch
from mlv.ingest.pipeline import ingest
from mlv.jobs import JobRegistry
from mlv.mailcow.client import MailcowClient, MailcowError
from mlv.mailcow.emulator import Emulator, start_emulator_thread
from mlv.mailcow.generator import TrafficGenerator
from tests.correlate.test_truth import LOCAL, as_sources

COUNTS = {"postfix": 2000, "rspamd": 500, "netfilter": 500, "dovecot": 2000}


def test_malformed_items_are_skipped_and_counted(engine: Engine) -> None:
    good = {"time": "1785571200", "priority": "info", "program": "postfix/qmgr", "message": "3C1E21A0B42: removed"}
    bad = [None, [], "text", {"time": "soon", "priority": "info", "program": "postfix/smtpd", "message": "x"},
           {"priority": "info", "program": "postfix/smtpd"}, {"time": "1785571200", "message": 5}]
    result = ingest(engine, {"postfix": [good, *bad, dict(good)], "rspamd": [{"unix_time": 1, "score": "high"}],
                             "netfilter": [{"time": "x"}]})
    assert result.stored["postfix"] == 2  # the two identical good lines are both kept
    assert result.skipped == {"postfix": len(bad), "rspamd": 1, "netfilter": 1}
    assert sum(result.skip_reasons["postfix"].values()) == len(bad)


def test_blacklisted_addresses_are_not_imported(engine: Engine) -> None:
    gen = TrafficGenerator(seed=9, rate=10.0)
    gen.advance(1800)
    items = as_sources(gen.drain())
    target = next(i["message"].split("to=<", 1)[1].split(">", 1)[0] for i in items["postfix"]
                  if i and "postfix/lmtp" == i["program"] and "to=<" in i["message"])
    ingest(engine, items, domains=LocalDomains(LOCAL), blacklist=[target.upper()])
    with engine.connect() as conn:
        lines = conn.execute(text("SELECT COUNT(*) FROM postfix_log WHERE recipient = :a OR sender = :a"),
                             {"a": target}).scalar_one()
        rspamd = conn.execute(text("SELECT COUNT(*) FROM rspamd_log WHERE rcpt_smtp LIKE :a"),
                              {"a": f"%{target}%"}).scalar_one()
        delivered = conn.execute(text("SELECT COUNT(*) FROM delivery WHERE recipient = :a"),
                                 {"a": target}).scalar_one()
        others = conn.execute(text("SELECT COUNT(*) FROM delivery")).scalar_one()
    assert lines == rspamd == delivered == 0 and others > 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("mode", "reason"), [("slow", "did not answer within"), ("error500", "HTTP 500"),
                                              ("garbage", "not JSON"), ("badkey", "refused the API key")])
def test_misbehaving_mailcow_is_a_readable_failure_and_the_next_run_recovers(
        engine: Engine, mode: str, reason: str) -> None:
    emu = Emulator(seed=4, rate=6.0, slow_seconds=5.0)
    handle = start_emulator_thread(emu)
    try:
        emu.advance(300)
        registry = JobRegistry()
        emu.set_fault(mode)
        with MailcowClient(handle.url, emu.api_key, timeout=1.5) as client:
            registry.run("fetch_logs", lambda: run_fetch(engine, client, counts=COUNTS) and None)
        job = registry.jobs["fetch_logs"]
        assert job.status == "failed" and reason in (job.error or ""), job.error
        assert emu.api_key not in (job.error or "")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM postfix_log")).scalar_one() == 0
        emu.set_fault("none")
        with MailcowClient(handle.url, emu.api_key, timeout=10) as client:
            registry.run("fetch_logs", lambda: run_fetch(engine, client, counts=COUNTS) and None)
        assert registry.jobs["fetch_logs"].status == "success"
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT COUNT(*) FROM postfix_log")).scalar_one()
        assert stored == sum(1 for i in emu.buffer_items("postfix") if i is not None)
    finally:
        handle.stop()


def test_client_errors_never_leak_the_key() -> None:
    with MailcowClient("http://127.0.0.1:9", "SECRET-KEY-123", timeout=1) as client:
        with pytest.raises(MailcowError) as err:
            client.logs("postfix", 10)
    assert "SECRET-KEY-123" not in str(err.value)


def test_null_items_from_mailcow_are_counted_once(engine: Engine) -> None:
    emu = Emulator(seed=6, rate=8.0, null_rate=0.01)
    handle = start_emulator_thread(emu)
    try:
        emu.advance(600)
        with MailcowClient(handle.url, emu.api_key, timeout=10) as client:
            first = run_fetch(engine, client, counts=COUNTS)
            nulls = sum(1 for i in emu.buffer_items("postfix") if i is None)
            assert nulls > 0 and first.result.skipped["postfix"] == nulls
            again = run_fetch(engine, client, counts=COUNTS)
            assert again.result.skipped.get("postfix", 0) == 0
            emu.advance(300)
            later = run_fetch(engine, client, counts=COUNTS)
        new_nulls = sum(1 for i in emu.buffer_items("postfix") if i is None) - nulls
        assert abs(later.result.skipped.get("postfix", 0) - new_nulls) <= 1
    finally:
        handle.stop()

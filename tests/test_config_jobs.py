"""Settings from the environment, and the jobs' status and retention."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from mlv.config import ConfigError, load_settings
from mlv.correlate.rules import LocalDomains
from mlv.ingest.pipeline import ingest
from mlv.jobs import JobRegistry, cleanup_old, pending_counts
from mlv.mailcow.generator import TrafficGenerator
from tests.correlate.test_truth import LOCAL, as_sources


def test_settings_from_environment(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LOCAL_DOMAINS", "Example.org; example.net")
    monkeypatch.setenv("BLACKLIST_EMAILS", "noreply@Example.org")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db:5432/mlv")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    s = load_settings()
    assert s.local_domains == ["example.org", "example.net"]
    assert s.blacklist_emails == ["noreply@example.org"]
    assert s.db_url == "postgresql+psycopg://u:p@db:5432/mlv"
    assert s.auth_enabled is True and s.demo_mode is True


def test_postgres_parts_build_the_url(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("POSTGRES_HOST", "db")
    monkeypatch.setenv("POSTGRES_PASSWORD", "s3cr:t")
    assert load_settings().db_url == "postgresql+psycopg://mlv:s3cr%3At@db:5432/mlv"


@pytest.mark.parametrize(("name", "value"), [("FETCH_INTERVAL", "0"), ("TZ", "Mars/Olympus"),
                                              ("MAILCOW_URL", "mail.example.org"), ("LOG_LEVEL", "LOUD"),
                                              ("DATABASE_URL", "mysql://x")])
def test_bad_values_name_the_variable(monkeypatch, name: str, value: str) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value.code).startswith(f"mlv: invalid value for {name}:")


def test_generated_password_is_kept_private(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path, auth_password="")
    first = s.effective_password()
    assert first == s.effective_password() == (tmp_path / "admin-password").read_text().strip()
    assert (tmp_path / "admin-password").stat().st_mode & 0o777 == 0o600


def test_job_status_success_failure_and_no_overlap() -> None:
    registry = JobRegistry()
    assert registry.snapshot()["fetch_logs"]["status"] == "idle"
    assert registry.run("fetch_logs", lambda: {"pending_items": 3})
    snap = registry.snapshot()["fetch_logs"]
    assert snap["status"] == "success" and snap["pending_items"] == 3 and snap["last_run"].endswith("Z")

    def boom() -> None:
        raise RuntimeError("mailcow at http://x did not answer within 30 s")

    registry.run("dns_check", boom)
    assert registry.jobs["dns_check"].status == "failed"
    assert "did not answer" in (registry.jobs["dns_check"].error or "")
    inner: list[bool] = []
    registry.run("cleanup_logs", lambda: inner.append(registry.run("cleanup_logs", lambda: None)) or None)
    assert inner == [False]  # a run never overlaps itself
    assert registry.jobs["cleanup_logs"].status == "scheduled"


def test_retention_deletes_old_rows_only(engine: Engine) -> None:
    gen = TrafficGenerator(seed=5, rate=10.0)
    for _ in range(3):
        gen.advance(3600)
        ingest(engine, as_sources(gen.drain()), domains=LocalDomains(LOCAL))
    with engine.connect() as conn:
        total = conn.execute(text("SELECT COUNT(*) FROM postfix_log")).scalar_one()
        newest = conn.execute(text("SELECT MAX(time) FROM postfix_log")).scalar_one()
    # Retention 2 days, "now" 2 days minus 90 minutes after the newest line: the first 90 minutes go.
    deleted = cleanup_old(engine, 2, now=newest + 2 * 86400 - 5400)
    with engine.connect() as conn:
        left = conn.execute(text("SELECT COUNT(*) FROM postfix_log")).scalar_one()
        oldest = conn.execute(text("SELECT MIN(time) FROM postfix_log")).scalar_one()
        orphans = conn.execute(text("SELECT COUNT(*) FROM delivery WHERE message_ref NOT IN "
                                    "(SELECT id FROM message)")).scalar_one()
    assert 0 < deleted["postfix_log"] < total and left == total - deleted["postfix_log"]
    assert oldest >= newest - 5400 and orphans == 0 and deleted["message"] > 0
    counts = pending_counts(engine, now=time.time())
    assert set(counts) == {"deferred", "stale", "without_rspamd"}

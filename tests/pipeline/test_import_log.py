"""`mlv import-log`: syslog files through the same parsers, storage and correlation."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from mlv.cli import main
from mlv.config import set_settings
from mlv.db import make_engine
from mlv.mailcow.generator import TrafficGenerator
from tests.correlate.test_truth import LOCAL, compare_with_truth


def _classic(item: dict, n: int) -> str:
    stamp = datetime.fromtimestamp(int(item["time"]), UTC)
    program = item["program"]
    if program == "postfix/smtpd" and n % 7 == 0:
        program = "postfix-203.0.113.10/smtpd"  # a multi-instance name
    return f"{stamp:%b} {stamp.day:2d} {stamp:%H:%M:%S} mail {program}[{4000 + n % 97}]: {item['message']}\n"


def _rfc3339(item: dict, n: int) -> str:
    stamp = datetime.fromtimestamp(int(item["time"]), UTC).astimezone()
    return f"{stamp.isoformat(timespec='microseconds')} mail {item['program']}[{4000 + n % 97}]: {item['message']}\n"


@pytest.fixture
def traffic() -> tuple[list[dict], list[dict]]:
    gen = TrafficGenerator(seed=11, rate=10.0, noise=False)
    gen.advance(3 * 3600)
    drained = gen.drain()
    return [i for i in drained["postfix"] if i], gen.truth()


def test_import_log_files_classic_and_gzip_rfc3339(tmp_path: Path, db_url: str, monkeypatch,  # type: ignore[no-untyped-def]
                                                   traffic, capsys) -> None:
    lines, truth = traffic
    half = len(lines) // 2
    first = tmp_path / "mail.log.1"
    first.write_text("".join(_classic(item, n) for n, item in enumerate(lines[:half])) +
                     "Aug  1 09:00:00 mail CRON[12]: (root) CMD (true)\n", encoding="utf-8")
    second = tmp_path / "mail.log.gz"
    with gzip.open(second, "wt", encoding="utf-8") as out:
        out.writelines(_rfc3339(item, n) for n, item in enumerate(lines[half:]))
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("LOCAL_DOMAINS", ",".join(LOCAL))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    set_settings(None)
    assert main(["import-log", str(first), str(second)]) == 0
    out = capsys.readouterr().out
    assert f"postfix: {len(lines)} lines read, {len(lines)} stored" in out
    assert "non-mail lines ignored: 1" in out

    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM postfix_log")).scalar_one() == len(lines)
    # Without rspamd's rows the spam verdict is unknown and a milter-reject names one recipient only.
    judged = [t for t in truth if t["kind"] not in ("spam_reject", "greylist", "ratelimited")]
    for t in judged:
        t["action"] = None
    rate, problems = compare_with_truth(engine, judged)
    print(f"\nimport-log: {rate:.2%} of {len(judged)} messages match the ground truth")
    assert rate >= 0.995, problems[:10]

    # The same files again: nothing is stored twice.
    assert main(["import-log", str(first), str(second)]) == 0
    assert f"postfix: {len(lines)} lines read, 0 stored" in capsys.readouterr().out
    engine.dispose()
    set_settings(None)


def test_identical_lines_across_batch_boundaries_are_all_kept(engine) -> None:  # type: ignore[no-untyped-def]
    from mlv.ingest.logfiles import import_items

    line = {"time": "1785571200", "priority": "info", "program": "postfix/smtpd",
            "message": "connect from unknown[192.0.2.10]"}
    items = [dict(line, source="postfix") for _ in range(7)]
    result = import_items(engine, items, batch_size=3)
    assert result.stored["postfix"] == 7


def test_import_log_missing_file_is_a_clear_error(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    set_settings(None)
    assert main(["import-log", str(tmp_path / "nope.log")]) == 2
    assert "nope.log: no such file" in capsys.readouterr().err
    set_settings(None)

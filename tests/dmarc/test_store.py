"""Storage on SQLite and PostgreSQL: the rollup, racing duplicates, retention, the CLI, the jobs."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from mlv.dmarc.aggregate import parse_aggregate
from mlv.dmarc.jobs import run_dmarc_maintenance_job, run_update_geoip_job
from mlv.dmarc.store import day_of, delete_older_than, store_report
from tests.dmarc.conftest import FIXTURES
from tests.dmarc.reportgen import DAY, aggregate_xml, gz


def _scalar(engine: Any, sql: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def test_day_is_the_middle_of_the_range() -> None:
    assert day_of(1711756800, 1711843200) == 1711756800
    assert day_of(1711746000, 1711832399) == 1711756800  # 21:00 the day before to 20:59


def test_rollup_adds_up_across_reports(engine: Any) -> None:
    first = parse_aggregate(aggregate_xml(300, seed=1, report_id="a", ip_pool=20))
    second = parse_aggregate(aggregate_xml(200, seed=2, report_id="b", ip_pool=20))
    for report in (first, second):
        assert store_report(engine, report).status == "success"
    expected = sum(r.count for r in first.records + second.records)
    passed = sum(r.count for r in first.records + second.records if r.dmarc_pass)
    assert _scalar(engine, "SELECT SUM(messages) FROM dmarc_daily_source") == expected
    assert _scalar(engine, "SELECT SUM(dmarc_pass) FROM dmarc_daily_source") == passed
    assert _scalar(engine, "SELECT SUM(count) FROM dmarc_record") == expected
    ips = {r.source_ip for r in first.records + second.records}
    assert _scalar(engine, "SELECT COUNT(*) FROM dmarc_daily_source") == len(ips)
    assert _scalar(engine, "SELECT COUNT(*) FROM dmarc_ip") == len(ips)


def test_auth_results_columns_and_json_for_the_rest(engine: Any) -> None:
    report = parse_aggregate((FIXTURES / "aggregate" / "nice-input.xml").read_bytes())
    store_report(engine, report)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT source_ip, dkim_domain, dkim_selector, dkim_result, spf_domain, spf_result, "
                                 "auth_results FROM dmarc_record ORDER BY report_ref, seq")).all()
    assert rows[0][:6] == ("209.85.220.69", None, None, None, "example.com", "pass") and rows[0][6] is None
    import json

    both = json.loads(rows[1][6])  # two DKIM signatures: all results kept as JSON
    assert rows[1][1:4] == ("example.com", "awbr2rp4egb35wbg4umq4e5dcoe5kc4n", "pass")
    assert [d["domain"] for d in both["dkim"]] == ["example.com", "amazonses.com"]


def test_racing_duplicate_imports_store_once(engine: Any) -> None:
    report = parse_aggregate(aggregate_xml(2000, report_id="race", ip_pool=500))
    results: list[str] = []

    def work() -> None:
        results.append(store_report(engine, report).status)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["duplicate"] * 3 + ["success"]
    assert _scalar(engine, "SELECT COUNT(*) FROM dmarc_record") == 2000
    assert _scalar(engine, "SELECT SUM(messages) FROM dmarc_daily_source") == sum(r.count for r in report.records)


def test_retention_removes_old_reports_only(engine: Any) -> None:
    now = time.time()
    today = int(now) // DAY * DAY
    store_report(engine, parse_aggregate(aggregate_xml(5, report_id="old", begin=today - 400 * DAY)))
    store_report(engine, parse_aggregate(aggregate_xml(5, report_id="new", begin=today - DAY)))
    removed = delete_older_than(engine, 365, now=now)
    assert (removed["reports"], removed["records"]) == (1, 5)
    assert _scalar(engine, "SELECT report_id FROM dmarc_report") == "new"
    assert _scalar(engine, "SELECT MIN(day) FROM dmarc_daily_source") == today - DAY


def test_cli_import_report(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    from mlv.cli import main

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "big.xml.gz").write_bytes(gz(aggregate_xml(1000, report_id="cli")))
    (folder / "notes.txt").write_text("not a report")
    code = main(["import-report", str(FIXTURES / "aggregate" / "nice-input.xml"), str(folder), "--no-rdns"])
    out = capsys.readouterr()
    assert code == 1  # notes.txt is not a report
    assert "nice-input.xml: success: Uploaded report for example.com from google.com (20 records)" in out.out
    assert "big.xml.gz: success" in out.out and "(1000 records)" in out.out
    assert "notes.txt: error:" in out.out and "reports stored: 2, records: 1020" in out.err
    assert main(["import-report", str(FIXTURES / "aggregate" / "nice-input.xml.zip"), "--no-rdns"]) == 0
    assert "duplicate: Report 11038226378739404135 already exists" in capsys.readouterr().out


def test_geoip_and_maintenance_jobs(engine: Any, make_settings: Any, geoip_files: tuple[Path, Path]) -> None:
    assert run_update_geoip_job(make_settings(), engine)["skipped"]
    today = int(time.time()) // DAY * DAY
    store_report(engine, parse_aggregate(aggregate_xml(5, report_id="j", begin=today - DAY, ip_pool=5)))
    settings = make_settings(geoip_city_path=geoip_files[0], geoip_asn_path=geoip_files[1])
    details = run_dmarc_maintenance_job(engine, settings)
    assert details["ips_geolocated"] == _scalar(engine, "SELECT COUNT(*) FROM dmarc_ip") > 0
    assert details["reports"] == 0 and details["hostnames_resolved"] == 0


def test_rollups_agree_with_the_records_for_every_window(engine: Any) -> None:
    """Sources (daily + monthly rollups), overview and domains against sums over the raw records."""
    from mlv.queries import dmarc as q

    now = 1718236800 + 12 * 3600  # 2024-06-13 12:00 UTC
    today = 1718236800
    for index, back in enumerate((95, 70, 44, 40, 31, 30, 29, 13, 12, 1, 0)):
        for org in ("google.com", "Yahoo"):
            xml = aggregate_xml(40, seed=index * 2 + len(org), org=org, report_id=f"{org}-{back}",
                                begin=today - back * DAY, ip_pool=30, pool_seed=3)
            store_report(engine, parse_aggregate(xml))
    for days in (1, 12, 13, 29, 30, 31, 44, 60, 365):
        since = q.since_day(days, now)
        with engine.connect() as conn:
            expected = {ip: (int(m), int(d)) for ip, m, d in conn.execute(text(
                "SELECT source_ip, SUM(count), SUM(CASE WHEN dmarc_pass THEN count ELSE 0 END) FROM dmarc_record "
                "WHERE day >= :s GROUP BY source_ip"), {"s": since})}
        got = q.sources(engine=engine, domain="example.com", days=days, now=now)
        assert {s["source_ip"]: (s["total_messages"], round(s["dmarc_pass_pct"], 1)) for s in got["sources"]} == \
            {ip: (m, q.pct(d, m)) for ip, (m, d) in expected.items()}, days
        assert got["total"] == len(expected)
        overview = q.overview(engine=engine, domain="example.com", days=days, now=now)
        assert overview["total_messages"] == sum(m for m, _ in expected.values())
        assert overview["unique_ips"] == len(expected)
        assert q.domains(engine=engine, days=days, now=now)["total_unique_ips"] == len(expected)

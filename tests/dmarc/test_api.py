"""The DMARC and TLS-RPT routes on SQLite and PostgreSQL: upload, duplicates, errors, aggregations."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import text

from tests.dmarc.conftest import FIXTURES, fixture
from tests.dmarc.reportgen import BEGIN, DAY, aggregate_xml, gz

GOOGLE = "aggregate/nice-input.xml"
OUTLOOK = "aggregate/protection.outlook.com!example.com!1711756800!1711843200.xml"
ALL_REPORTS = sorted(p.relative_to(FIXTURES).as_posix() for p in FIXTURES.rglob("*") if p.is_file()
                     and not p.name.startswith(("LICENSE", "README")))


def _upload(client: Any, data: bytes, name: str = "report.xml") -> Any:
    return client.post("/api/dmarc/upload", files={"file": (name, data, "application/octet-stream")})


def _count(engine: Any, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


def _days_since(ts: int) -> int:
    return min(365, int((time.time() - ts) // DAY) + 2)


def test_every_real_report_uploads_once(api: Any, engine: Any) -> None:
    client = api()
    seen_ids = set()
    for name in ALL_REPORTS:
        response = _upload(client, fixture(name), name.rsplit("/", 1)[-1])
        body = response.json()
        if name.startswith("aggregate/nice-input.xml."):
            assert (response.status_code, body["status"]) == (200, "duplicate"), name
            assert body["message"] == "Report 11038226378739404135 already exists"
            continue
        assert response.status_code == 201, (name, body)
        key = (body["kind"], body["report_id"])
        assert body["status"] == "success" and key not in seen_ids and body["records_count"] >= 1
        seen_ids.add(key)
    assert (_count(engine, "dmarc_report"), _count(engine, "dmarc_record")) == (6, 25)
    assert (_count(engine, "tls_report"), _count(engine, "dmarc_failure")) == (2, 1)
    second = _upload(client, fixture("failure/dmarc_ruf_report_linkedin.eml"), "ruf.eml")
    assert (second.status_code, second.json()["status"]) == (200, "duplicate")
    assert _count(engine, "dmarc_failure") == 1


def test_upload_answer_and_stored_record(api: Any, engine: Any) -> None:
    body = _upload(api(), fixture(OUTLOOK), "outlook.xml").json()
    assert body == {"status": "success", "message": "Uploaded report for example.com from Outlook.com",
                    "report_id": body["report_id"], "records_count": 1, "kind": "aggregate",
                    "domain": "example.com", "repairs": []}
    with engine.connect() as conn:
        row = conn.execute(text("SELECT source_ip, count, disposition, dkim, spf, dmarc_pass, envelope_to, "
                                "spf_domain, spf_scope, spf_result, dkim_result, auth_results FROM dmarc_record")).one()
    assert tuple(row) == ("100.24.188.149", 1, "none", "fail", "fail", False, "hotmail.com", "example.com", "mfrom",
                          "fail", None, None)


@pytest.mark.parametrize(("data", "reason"), [
    (b"<feedback><record>", "XML is not well-formed"),
    (b'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY a "b">]><feedback/>', "entities are not allowed"),
    (gzip_bomb := gz(b"<feedback>" + b" " * (60 * 1024 * 1024)), "ratio over"),
    (b'{"foo": 1}', 'no "policies" array'),
])
def test_broken_upload_is_400_with_reason_and_stores_nothing(api: Any, engine: Any, data: bytes, reason: str) -> None:
    response = _upload(api(), data)
    assert response.status_code == 400 and reason in response.json()["detail"]
    assert _count(engine, "dmarc_report") + _count(engine, "tls_report") + _count(engine, "dmarc_failure") == 0


def test_overlong_values_are_cut_to_fit_the_columns(api: Any, engine: Any) -> None:
    long = "x" * 5000
    xml = (f"<feedback><report_metadata><org_name>{long}</org_name><report_id>{long}</report_id><date_range>"
           f"<begin>1700000000</begin><end>1700086399</end></date_range><version>{long}</version></report_metadata>"
           f"<policy_published><domain>example.com</domain><p>{long}</p><adkim>{long}</adkim><fo>{long}</fo>"
           f"</policy_published><record><row><source_ip>192.0.2.1</source_ip><count>1</count><policy_evaluated>"
           f"<disposition>{long}</disposition><dkim>{long}</dkim><spf>pass</spf></policy_evaluated></row>"
           f"<identifiers><header_from>{long}</header_from></identifiers><auth_results><dkim><domain>{long}</domain>"
           f"<result>{long}</result><selector>{long}</selector></dkim><spf><domain>d</domain><scope>{long}</scope>"
           f"<result>{long}</result></spf></auth_results></record></feedback>").encode()
    assert _upload(api(), xml).status_code == 201
    assert _count(engine, "dmarc_record") == 1


def test_oversized_upload_is_413_and_limit_configurable(api: Any, engine: Any) -> None:
    client = api(dmarc_max_file_bytes=4096, dmarc_max_email_bytes=4096)
    data = gz(aggregate_xml(2000, report_id="big", ip_pool=2000))
    assert len(data) > 4096
    response = _upload(client, data)
    assert response.status_code == 413 and "limit" in response.json()["detail"]
    assert _upload(api(), data).status_code == 201


def test_upload_disabled_and_missing_file(api: Any) -> None:
    assert _upload(api(dmarc_manual_upload_enabled=False), fixture(GOOGLE)).status_code == 403
    response = api().post("/api/dmarc/upload", files={"other": ("x", b"y")})
    assert response.status_code == 400 and "field 'file'" in response.json()["detail"]


@pytest.mark.parametrize("days", [0, 366, -5])
def test_days_out_of_range_is_400(api: Any, days: int) -> None:
    client = api()
    for path in ("/api/dmarc/domains", "/api/dmarc/domains/example.com/overview",
                 "/api/dmarc/domains/example.com/sources", "/api/dmarc/domains/example.com/reports",
                 "/api/dmarc/domains/example.com/tls-reports"):
        response = client.get(path, params={"days": days})
        assert response.status_code == 400 and "between 1 and 365" in response.json()["detail"]


def _seed(client: Any) -> None:
    now_day = int(time.time()) // DAY * DAY
    reports = [
        aggregate_xml(30, seed=1, org="google.com", report_id="g1", begin=now_day - 2 * DAY, ip_pool=5),
        aggregate_xml(20, seed=2, org="Yahoo", report_id="y1", begin=now_day - 2 * DAY, ip_pool=5),
        aggregate_xml(10, seed=3, org="google.com", report_id="g2", begin=now_day - DAY, ip_pool=5),
        aggregate_xml(10, seed=4, org="google.com", report_id="o1", begin=now_day - 100 * DAY, ip_pool=5),
        aggregate_xml(5, seed=5, org="google.com", report_id="other", domain="other.example",
                      begin=now_day - DAY, ip_pool=5),
    ]
    for index, xml in enumerate(reports):
        assert _upload(client, gz(xml), f"r{index}.xml.gz").status_code == 201


def _expected(xmls: list[bytes]) -> tuple[int, int, int, int]:
    import re

    total = dmarc = spf = dkim = 0
    for xml in xmls:
        for count, d, s in re.findall(rb"<count>(\d+)</count>\n<policy_evaluated>\n<disposition>\w+</disposition>\n"
                                      rb"<dkim>(\w+)</dkim>\n<spf>(\w+)</spf>", xml):
            n = int(count)
            total += n
            dmarc += n if b"pass" in (d, s) else 0
            spf += n if s == b"pass" else 0
            dkim += n if d == b"pass" else 0
    return total, dmarc, spf, dkim


def test_aggregations_match_the_reports(api: Any) -> None:
    client = api()
    _seed(client)
    now_day = int(time.time()) // DAY * DAY
    recent = [aggregate_xml(30, seed=1, org="google.com", report_id="g1", begin=now_day - 2 * DAY, ip_pool=5),
              aggregate_xml(20, seed=2, org="Yahoo", report_id="y1", begin=now_day - 2 * DAY, ip_pool=5),
              aggregate_xml(10, seed=3, org="google.com", report_id="g2", begin=now_day - DAY, ip_pool=5)]
    total, dmarc, spf, dkim = _expected(recent)
    domains = client.get("/api/dmarc/domains", params={"days": 30}).json()
    assert domains["total_domains"] == 2
    example = next(d for d in domains["domains"] if d["domain"] == "example.com")
    assert example["total_messages"] == total
    assert example["dmarc_pass_pct"] == round(dmarc * 100 / total, 1)
    assert (example["policy_p"], example["policy_sp"]) == ("reject", None)  # sp equal to p is not repeated
    assert example["last_report_date"] == now_day - DAY
    overview = client.get("/api/dmarc/domains/example.com/overview", params={"days": 30}).json()
    assert overview["total_messages"] == total and overview["unique_reporters"] == 2
    assert overview["spf_pass_pct"] == round(spf * 100 / total, 1)
    assert overview["dkim_pass_pct"] == round(dkim * 100 / total, 1)
    assert overview["policy"] == {"p": "reject", "sp": "reject", "adkim": "r", "aspf": "r", "pct": 100, "fo": None}
    assert [d["date"] for d in overview["daily_stats"]] == [now_day - 2 * DAY, now_day - DAY]
    assert sum(d["total_messages"] for d in overview["daily_stats"]) == total
    daily = client.get("/api/dmarc/domains/example.com/reports", params={"days": 30}).json()["reports"]
    assert [(d["date"], d["report_count"], d["reporters"]) for d in daily] == [
        (now_day - DAY, 1, ["google.com"]), (now_day - 2 * DAY, 2, ["Yahoo", "google.com"])]
    sources = client.get("/api/dmarc/domains/example.com/sources", params={"days": 30}).json()
    assert sum(s["total_messages"] for s in sources["sources"]) == total
    counts = [s["total_messages"] for s in sources["sources"]]
    assert counts == sorted(counts, reverse=True) and sources["total"] == len(counts)
    assert all(s["country_emoji"] == "🌍" and s["country_code"] is None for s in sources["sources"])
    assert client.get("/api/dmarc/domains/example.com/overview", params={"days": 365}).json()["total_messages"] > total


def test_tls_routes(api: Any) -> None:
    client = api()
    now = int(time.time())
    import json

    doc = json.loads(fixture("smtp_tls/rfc8460.json"))
    doc["date-range"] = {"start-datetime": time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(now - DAY)),
                         "end-datetime": time.strftime("%Y-%m-%dT23:59:59Z", time.gmtime(now - DAY))}
    assert _upload(client, gz(json.dumps(doc).encode()), "tls.json.gz").status_code == 201
    doc["report-id"], doc["organization-name"] = "second", "Microsoft Corporation"
    doc["policies"][0]["summary"] = {"total-successful-session-count": 100, "total-failure-session-count": 0}
    assert _upload(client, json.dumps(doc).encode(), "tls2.json").status_code == 201
    listing = client.get("/api/dmarc/domains/company-y.example/tls-reports").json()
    assert listing["total"] == 2 and {r["total_success"] for r in listing["data"]} == {5326, 100}
    assert next(r for r in listing["data"] if r["total_fail"] == 303)["success_rate"] == round(5326 * 100 / 5629, 2)
    daily = client.get("/api/dmarc/domains/company-y.example/tls-reports/daily").json()
    assert daily["totals"] == {"total_days": 1, "total_reports": 2, "total_successful_sessions": 5426,
                               "total_failed_sessions": 303, "overall_success_rate": round(5426 * 100 / 5729, 2)}
    day = daily["data"][0]
    assert day["organizations"] == ["Company-X", "Microsoft Corporation"] and day["organization_count"] == 2
    details = client.get(f"/api/dmarc/domains/company-y.example/tls-reports/{day['date']}/details").json()
    assert details["stats"]["total_sessions"] == 5729 and len(details["providers"]) == 2
    policy = next(p for p in details["providers"] if p["organization_name"] == "Company-X")["policies"][0]
    assert policy["mx_host"] == "*.mail.company-y.example" and len(policy["failure_details"]) == 3
    assert client.get("/api/dmarc/domains/company-y.example/tls-reports/2024-13-45/details").status_code == 400


def test_failures_route(api: Any) -> None:
    client = api()
    _upload(client, fixture("failure/dmarc_ruf_report_linkedin.eml"), "ruf.eml")
    days = _days_since(1556590140)
    body = client.get("/api/dmarc/domains/example.com/failures", params={"days": days}).json()
    assert body["total"] == 0  # 2019 is more than 365 days ago
    import email

    msg = email.message_from_bytes(fixture("failure/dmarc_ruf_report_linkedin.eml"))
    recent = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(time.time() - 3600))
    payload = msg.get_payload()
    feedback = payload[1].get_payload()[0]
    feedback.replace_header("Arrival-Date", recent)
    assert _upload(client, msg.as_bytes(), "ruf2.eml").status_code == 201
    body = client.get("/api/dmarc/domains/example.com/failures").json()
    assert body["total"] == 1
    item = body["data"][0]
    assert (item["source_ip"], item["auth_failure"], item["subject"]) == ("10.10.10.10", "dmarc",
                                                                           "Subject line, could be UTF8 encoded")
    assert item["country_emoji"] == "🌍"


def test_report_day_and_window(api: Any, engine: Any) -> None:
    client = api()
    old = aggregate_xml(2, report_id="old", begin=BEGIN)
    assert _upload(client, old).status_code == 201
    assert client.get("/api/dmarc/domains").json()["total_domains"] == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT day FROM dmarc_report")).scalar_one() == BEGIN

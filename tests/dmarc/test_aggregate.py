"""Aggregate report parsing on the real reports, RFC 9990, old drafts, and broken XML."""

from __future__ import annotations

import pytest

from mlv.dmarc.aggregate import parse_aggregate
from mlv.dmarc.extract import extract_reports
from mlv.dmarc.types import AggregateReport, ReportError
from tests.dmarc.conftest import fixture
from tests.dmarc.reportgen import aggregate_xml

GOOGLE = "aggregate/nice-input.xml"
OUTLOOK = "aggregate/protection.outlook.com!example.com!1711756800!1711843200.xml"


def _one(data: bytes, name: str = "") -> AggregateReport:
    reports = extract_reports(data, filename=name).reports
    assert len(reports) == 1
    assert isinstance(reports[0], AggregateReport)
    return reports[0]


def test_google_report_every_field() -> None:
    report = parse_aggregate(fixture(GOOGLE))
    assert (report.org_name, report.report_id, report.email) == ("google.com", "11038226378739404135",
                                                                 "noreply-dmarc-support@google.com")
    assert (report.date_begin, report.date_end) == (1718236800, 1718323199)
    assert report.policy.domain == "example.com"
    assert (report.policy.p, report.policy.sp, report.policy.np, report.policy.pct) == ("none", "none", "none", 100)
    assert len(report.records) == 20 and report.repairs == []
    first, second = report.records[0], report.records[1]
    assert (first.source_ip, first.count, first.disposition, first.dkim, first.spf) == \
        ("209.85.220.69", 1, "none", "fail", "pass")
    assert first.spf_results == [{"domain": "example.com", "result": "pass"}] and first.dkim_results is None
    assert first.dmarc_pass  # aligned SPF pass is enough
    assert second.dkim_results[1] == {"domain": "amazonses.com", "result": "pass",
                                      "selector": "ug7nbtf4gccmlpwj322ax3p6ow6yfsug"}
    assert sum(r.count for r in report.records) == sum(int(c) for c in
                                                       __import__("re").findall(rb"<count>(\d+)</count>",
                                                                                fixture(GOOGLE)))


def test_outlook_report_envelope_fields_and_scope() -> None:
    record = parse_aggregate(fixture(OUTLOOK)).records[0]
    assert (record.envelope_to, record.envelope_from, record.header_from) == ("hotmail.com", "example.com",
                                                                              "example.com")
    assert record.spf_results == [{"domain": "example.com", "scope": "mfrom", "result": "fail"}]
    assert not record.dmarc_pass


def test_rfc9990_namespaced_report() -> None:
    report = parse_aggregate(fixture("aggregate/rfc9990-sample.xml"))
    assert report.generator == "Example DMARC Aggregate Reporter v1.2"
    assert (report.policy.np, report.policy.testing, report.policy.discovery_method) == ("none", "n", "treewalk")
    assert report.policy.pct is None and report.policy.adkim is None
    assert report.records[0].count == 123 and report.records[0].dkim_results[0]["selector"] == "abc123"


@pytest.mark.parametrize("name", ["aggregate/nice-input.xml.gz", "aggregate/nice-input.xml.zip",
                                  "aggregate/Report domain- borschow.com Submitter- google.com "
                                  "Report-ID- 949348866075514174.eml",
                                  "aggregate/fastmail.com!example.com!1516060800!1516147199!102675056.xml.gz"])
def test_compressed_and_mailed_reports(name: str) -> None:
    report = _one(fixture(name), name)
    assert report.records and report.report_id
    if "nice-input" in name:
        assert report.report_id == "11038226378739404135" and len(report.records) == 20


def test_prefixed_namespace_and_upper_case() -> None:
    xml = (b'<?xml version="1.0"?><d:feedback xmlns:d="urn:ietf:params:xml:ns:dmarc-2.0"><d:report_metadata>'
           b"<d:org_name>Mail.RU</d:org_name><d:report_id>42</d:report_id><d:date_range><d:begin>1700000000"
           b"</d:begin><d:end>1700086399</d:end></d:date_range></d:report_metadata><d:policy_published>"
           b"<d:domain>Example.COM</d:domain><d:p>REJECT</d:p></d:policy_published><d:record><d:row>"
           b"<d:source_ip>2001:DB8::0001</d:source_ip><d:count>3</d:count><d:policy_evaluated><d:disposition>"
           b"Reject</d:disposition><d:dkim>FAIL</d:dkim><d:spf>Pass</d:spf></d:policy_evaluated></d:row>"
           b"<d:identifiers><d:header_from>Example.com</d:header_from></d:identifiers></d:record></d:feedback>")
    report = parse_aggregate(xml.replace(b"<d:header_from>Example.com", b"<d:header_from>Mail.Marketing-Department"
                                                                          b".Example.com"))
    record = report.records[0]
    assert record.header_from == "mail.marketing-department.example.com"
    assert (report.domain, report.policy.p) == ("example.com", "reject")
    assert (record.source_ip, record.disposition, record.dkim, record.spf) == ("2001:db8::1", "reject", "fail", "pass")


def test_old_draft_identities_and_missing_policy_evaluated() -> None:
    xml = (b"<feedback><report_metadata><org_name>old.example</org_name><report_id>7</report_id><date_range>"
           b"<begin>1300000000</begin><end>1300086399</end></date_range></report_metadata><policy_published>"
           b"<domain>example.com</domain><adkim>s</adkim><aspf>r</aspf><p>none</p></policy_published>"
           b"<record><row><source_ip>192.0.2.1</source_ip><count>5</count></row>"
           b"<identities><header_from>mail.example.com</header_from></identities><auth_results>"
           b"<dkim><domain>example.com</domain><result>pass</result></dkim>"
           b"<spf><domain>bounce.example.com</domain><result>pass</result></spf></auth_results></record></feedback>")
    report = parse_aggregate(xml)
    record = report.records[0]
    assert record.header_from == "mail.example.com"
    # strict DKIM alignment: example.com != mail.example.com; relaxed SPF: same organizational domain
    assert (record.dkim, record.spf, record.dmarc_pass) == ("fail", "pass", True)
    assert any("computed from auth_results" in note for note in report.repairs)


def test_empty_elements_and_missing_optional_fields() -> None:
    xml = (b"<feedback><report_metadata><org_name>x.example</org_name><email/><report_id>1</report_id>"
           b"<date_range><begin>1700000000</begin><end>1700086399</end></date_range></report_metadata>"
           b"<policy_published><domain>example.org</domain><p></p><pct></pct></policy_published>"
           b"<record><row><source_ip>198.51.100.7</source_ip><count>2</count><policy_evaluated><disposition/>"
           b"<dkim>pass</dkim><spf>fail</spf></policy_evaluated></row><identifiers/></record></feedback>")
    report = parse_aggregate(xml)
    assert report.email is None and report.policy.p is None and report.policy.pct is None
    record = report.records[0]
    assert (record.disposition, record.header_from, record.dmarc_pass) == ("none", None, True)


def test_repairs_invalid_utf8_bad_ampersand_and_trailing_junk() -> None:
    xml = ('<?xml version="1.0" encoding="UTF-8"?><feedback><report_metadata><org_name>Soci\xe9t\xe9 & Co'
           "</org_name><report_id>5</report_id><date_range><begin>1700000000</begin><end>1700086399</end>"
           "</date_range></report_metadata><policy_published><domain>example.net</domain></policy_published>"
           "<record><row><source_ip>192.0.2.9</source_ip><count>1</count><policy_evaluated><disposition>none"
           "</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row></record></feedback>\n"
           "-- \nsent by a broken reporter\x00").encode("latin-1")
    report = parse_aggregate(xml)
    assert report.org_name == "Société & Co"
    joined = " | ".join(report.repairs)
    assert "Windows-1252" in joined and "unescaped '&'" in joined and "after the closing </feedback>" in joined
    assert len(report.records) == 1


def test_truncated_report_keeps_complete_records() -> None:
    full = aggregate_xml(50, report_id="cut")
    cut = full[: full.index(b"<record>", len(full) // 2) + 40]
    report = parse_aggregate(cut)
    assert 10 < len(report.records) < 50
    assert any("complete records before it were kept" in note for note in report.repairs)


def test_missing_metadata_taken_from_file_name() -> None:
    xml = (b"<feedback><policy_published><p>none</p></policy_published><record><row><source_ip>192.0.2.3"
           b"</source_ip><count>4</count><policy_evaluated><disposition>none</disposition><dkim>fail</dkim>"
           b"<spf>fail</spf></policy_evaluated></row></record></feedback>")
    report = parse_aggregate(xml, filename="receiver.example!example.com!1600000000!1600086399.xml")
    assert (report.domain, report.date_begin, report.date_end) == ("example.com", 1600000000, 1600086399)
    assert report.report_id.startswith("sha256:") and report.org_name == "receiver.example"
    assert len(report.repairs) >= 3


def test_bad_records_are_skipped_and_reported() -> None:
    xml = (b"<feedback><report_metadata><org_name>o</org_name><report_id>9</report_id><date_range><begin>1</begin>"
           b"<end>2</end></date_range></report_metadata><policy_published><domain>example.com</domain>"
           b"</policy_published><record><row><source_ip>not-an-ip</source_ip><count>1</count></row></record>"
           b"<record><row><source_ip>192.0.2.1</source_ip><count>many</count></row></record>"
           b"<record><row><source_ip>192.0.2.2</source_ip><count>2.0</count><policy_evaluated><dkim>pass</dkim>"
           b"<spf>pass</spf></policy_evaluated></row></record></feedback>")
    report = parse_aggregate(xml)
    assert [r.count for r in report.records] == [2]
    assert any("record 1 skipped" in n and "not an IP address" in n for n in report.repairs)
    assert any("record 2 skipped" in n for n in report.repairs)


@pytest.mark.parametrize(("data", "reason"), [
    (b"<html><body>hello</body></html>", "root element is <html>"),
    (b"<feedback><record><row>", "not well-formed"),
    (b"<feedback><report_metadata><org_name>o</org_name></report_metadata></feedback>", "no policy_published domain"),
    (b"<feedback><policy_published><domain>e.com</domain></policy_published></feedback>", "no date_range"),
    (b"just some text", "not a DMARC or TLS report"),
])
def test_unusable_reports_are_rejected_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ReportError, match=reason):
        extract_reports(data, filename="bad.xml")

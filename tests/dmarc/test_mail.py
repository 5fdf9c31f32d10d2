"""Reports inside e-mails, in the shapes real senders use; TLS reports; ARF failure reports."""

from __future__ import annotations

import base64
import json

import pytest

from mlv.dmarc.extract import extract_reports
from mlv.dmarc.headers import header_text
from mlv.dmarc.types import AggregateReport, FailureReport, ReportError, TlsReport
from tests.dmarc.conftest import fixture
from tests.dmarc.reportgen import aggregate_xml, gz, report_email, zipped

XML = aggregate_xml(4, report_id="mail-1")


def _raw_mail(headers: str, body: bytes) -> bytes:
    return headers.replace("\n", "\r\n").encode() + b"\r\n" + body


@pytest.mark.parametrize(("payload", "ctype", "name"), [
    (gz(XML), "application/gzip", "google.com!example.com!1!2.xml.gz"),
    (zipped("r.xml", XML), "application/zip", "report.zip"),
    (zipped("r.xml", XML), "application/x-zip-compressed", "report.zip"),
    (gz(XML), "application/octet-stream", "report.bin"),
    (XML, "text/xml", "report.xml"),
    (XML, "application/xml", ""),
    (gz(XML), "application/octet-stream", ""),
])
def test_attachment_shapes(payload: bytes, ctype: str, name: str) -> None:
    report = extract_reports(report_email(payload, filename=name, content_type=ctype)).reports[0]
    assert isinstance(report, AggregateReport) and report.report_id == "mail-1" and len(report.records) == 4


def test_report_as_whole_body_of_single_part_mail() -> None:
    body = base64.encodebytes(zipped("r.xml", XML))
    mail = _raw_mail("From: dmarc@yahoo.example\nSubject: Report\nMIME-Version: 1.0\n"
                     "Content-Type: application/zip; name=report.zip\nContent-Transfer-Encoding: base64\n", body)
    assert extract_reports(mail).reports[0].report_id == "mail-1"


def test_xml_pasted_in_text_body_and_quoted_printable() -> None:
    mail = _raw_mail("From: a@b.example\nSubject: xml inline\nContent-Type: text/plain; charset=utf-8\n"
                     "Content-Transfer-Encoding: quoted-printable\n", XML.replace(b"=", b"=3D"))
    assert extract_reports(mail).reports[0].report_id == "mail-1"


def test_broken_base64_padding_and_stray_characters() -> None:
    encoded = base64.b64encode(gz(XML)).rstrip(b"=")
    broken = b"\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76)) + b"\n*\n"
    mail = _raw_mail('From: a@b.example\nSubject: r\nContent-Type: multipart/mixed; boundary="X"\n',
                     b"--X\r\nContent-Type: text/plain\r\n\r\nhi\r\n--X\r\nContent-Type: application/gzip; "
                     b'name="r.xml.gz"\r\nContent-Transfer-Encoding: base64\r\n\r\n' + broken + b"\r\n--X--\r\n")
    report = extract_reports(mail).reports[0]
    assert report.report_id == "mail-1"
    assert any("base64" in note for note in report.repairs)


def test_forwarded_report_mail_and_attached_eml() -> None:
    inner = report_email(gz(XML), filename="r.xml.gz")
    forwarded = report_email(inner, filename="", content_type="message/rfc822", subject="Fwd: DMARC")
    assert extract_reports(forwarded).reports[0].report_id == "mail-1"
    attached = report_email(inner, filename="original.eml", content_type="application/octet-stream",
                            subject="FW: report")
    assert extract_reports(attached).reports[0].report_id == "mail-1"


def test_several_reports_in_one_mail_and_one_broken() -> None:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["Subject"] = "a@b.example", "two reports"
    msg.set_content("two")
    msg.add_attachment(gz(XML), maintype="application", subtype="gzip", filename="a.xml.gz")
    msg.add_attachment(gz(aggregate_xml(2, report_id="mail-2")), maintype="application", subtype="gzip",
                       filename="b.xml.gz")
    msg.add_attachment(b"\x1f\x8bnot gzip at all", maintype="application", subtype="gzip", filename="c.xml.gz")
    found = extract_reports(msg.as_bytes())
    assert sorted(r.report_id for r in found.reports) == ["mail-1", "mail-2"]
    assert len(found.problems) == 1 and "c.xml.gz" in found.problems[0]


def test_mail_without_report_is_rejected_with_subject() -> None:
    mail = report_email(None, subject="=?utf-8?b?0J7RgtGH0ZHRgiBETUFSQw==?=", body="Nothing attached")
    with pytest.raises(ReportError, match="No DMARC or TLS report found in the e-mail \\('Отчёт DMARC'\\)"):
        extract_reports(mail)
    with pytest.raises(ReportError, match="not a report"):
        extract_reports(report_email(b"%PDF-1.4 binary", filename="invoice.pdf", content_type="application/pdf"))


@pytest.mark.parametrize(("raw", "expected"), [
    ("=?UTF-8?B?0J7RgtGH0ZHRgiBETUFSQw==?=", "Отчёт DMARC"),
    ("=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?= report", "テスト report"),
    ("=?gb2312?B?yM7O8c7EvP4=?=", "任务文件"),
    ("=?x-unknown-charset?Q?caf=C3=A9?=", "café"),
    ("Rapport für Domäne", "Rapport für Domäne"),
])
def test_non_english_subjects(raw: str, expected: str) -> None:
    import email

    msg = email.message_from_bytes(f"Subject: {raw}\n\nbody".encode())
    assert header_text(msg["Subject"]) == expected


def test_real_tls_report_mail_from_google() -> None:
    report = extract_reports(fixture("smtp_tls/google.com_smtp_tls_report.eml")).reports[0]
    assert isinstance(report, TlsReport)
    assert report.organization_name == "Google Inc." and report.domains == ["cardinalhealth.ca"]
    assert report.report_id == "2024-09-03T00:00:00Z_cardinalhealth.ca"


def test_rfc8460_example_plain_and_gzipped() -> None:
    for blob in (fixture("smtp_tls/rfc8460.json"), gz(fixture("smtp_tls/rfc8460.json"))):
        report = extract_reports(blob).reports[0]
        assert isinstance(report, TlsReport)
        policy = report.policies[0]
        assert (policy.policy_type, policy.policy_domain, policy.successful_sessions, policy.failed_sessions) == \
            ("sts", "company-y.example", 5326, 303)
        assert [d["result-type"] for d in policy.failure_details] == ["certificate-expired",
                                                                      "starttls-not-supported", "validation-failure"]
        assert report.start_datetime == 1459468800 and report.end_datetime == 1459555199


def test_tls_report_repairs_and_rejects() -> None:
    doc = json.loads(fixture("smtp_tls/rfc8460.json"))
    doc["policies"][0]["summary"]["total-successful-session-count"] = "12"
    report = extract_reports(json.dumps(doc).encode() + b"\n\ntrailing").reports[0]
    assert report.policies[0].successful_sessions == 12 and len(report.repairs) == 2
    with pytest.raises(ReportError, match='no "policies" array'):
        extract_reports(b'{"organization-name": "x"}')
    with pytest.raises(ReportError, match="not well-formed"):
        extract_reports(b'{"policies": [')


def test_real_failure_report_from_linkedin() -> None:
    report = extract_reports(fixture("failure/dmarc_ruf_report_linkedin.eml")).reports[0]
    assert isinstance(report, FailureReport)
    assert (report.domain, report.source_ip, report.feedback_type, report.auth_failure) == \
        ("example.com", "10.10.10.10", "auth-failure", "dmarc")
    assert report.arrival_date == 1556590140 and report.delivery_result == "delivered"
    assert report.original_rcpt_to == "recipient@linkedin.com"
    assert report.subject == "Subject line, could be UTF8 encoded"
    assert report.header_from == "Sender <sender@example.com>"
    assert "Thread-Topic" in (report.sample_headers or "")
    same = extract_reports(fixture("failure/dmarc_ruf_report_linkedin.eml")).reports[0]
    assert same.fingerprint == report.fingerprint

"""IMAP auto-import and the IMAP test route against a real Dovecot, notices through a real SMTP server."""

from __future__ import annotations

import ssl
import time
from typing import Any

import pytest
from imap_tools import MailBoxUnencrypted

from mlv.dmarc.jobs import run_imap_sync_job
from mlv.dmarc.sync import run_sync
from tests.dmarc.conftest import fixture
from tests.dmarc.reportgen import DAY, aggregate_xml, gz, report_email, zipped
from tests.dmarc.servers import PASSWORD

YESTERDAY = int(time.time()) // DAY * DAY - DAY
RUSSIAN = "=?UTF-8?B?0J7RgtGH0ZHRgiBETUFSQw==?="  # "Отчёт DMARC"


def _append(settings: Any, dovecot: Any, *mails: bytes) -> None:
    with MailBoxUnencrypted("127.0.0.1", dovecot.port).login(settings.dmarc_imap_user, PASSWORD) as box:
        for mail in mails:
            box.append(mail, "INBOX")


def _mailbox(settings: Any, dovecot: Any, folder: str = "INBOX") -> list[tuple[str, bool]]:
    """(subject, seen) of every mail in the folder."""
    with MailBoxUnencrypted("127.0.0.1", dovecot.port).login(settings.dmarc_imap_user, PASSWORD,
                                                             initial_folder=folder) as box:
        return sorted((m.subject, "\\Seen" in m.flags) for m in box.fetch(mark_seen=False))


def _mixed_mailbox(settings: Any, dovecot: Any) -> None:
    _append(settings, dovecot,
            fixture("aggregate/Report domain- borschow.com Submitter- google.com Report-ID- 949348866075514174.eml"),
            fixture("smtp_tls/google.com_smtp_tls_report.eml"),
            fixture("failure/dmarc_ruf_report_linkedin.eml"),
            report_email(zipped("r.xml", aggregate_xml(5, report_id="imap-1", begin=YESTERDAY)), filename="r.zip",
                         content_type="application/zip", subject="Report domain: example.com (zip)"),
            report_email(gz(aggregate_xml(5, report_id="imap-1", begin=YESTERDAY)),
                         subject="Report domain: example.com (again)"),
            report_email(None, subject=RUSSIAN, body="Привет, это не отчёт"),
            report_email(b"\x1f\x8b broken gzip", filename="broken.xml.gz", subject="Broken report"))


def test_sync_imports_every_shape_and_records_failures(api: Any, imap_settings: Any, dovecot: Any,
                                                       smtp_server: Any) -> None:
    settings = imap_settings()
    _mixed_mailbox(settings, dovecot)
    client = api(**settings.model_dump())
    result = client.post("/api/dmarc/imap/sync").json()
    assert result["sync_type"] == "manual" and result["status"] == "success"
    assert (result["emails_found"], result["emails_processed"], result["reports_created"],
            result["reports_duplicate"], result["reports_failed"]) == (7, 5, 4, 1, 2)
    assert result["error_message"] == "2 emails failed to process"
    failed = {f["subject"]: f for f in result["failed_emails"]}
    assert set(failed) == {"Отчёт DMARC", "Broken report"}
    assert "No DMARC or TLS report found" in failed["Отчёт DMARC"]["error"]
    assert "gzip data is corrupt" in failed["Broken report"]["error"]
    assert all(f["email_id"].isdigit() and f["message_id"].startswith("<") for f in failed.values())
    assert all(seen for _subject, seen in _mailbox(settings, dovecot))  # all read, none deleted
    assert len(_mailbox(settings, dovecot)) == 7
    # a notice about the failed mails went to ADMIN_EMAIL through the SMTP server, after STARTTLS + AUTH
    (sender, recipients, content, authenticated), = smtp_server.messages
    assert (sender, recipients, authenticated) == ("mlv@example.test", ["admin@example.test"], True)
    assert b"Broken report" in content and PASSWORD.encode() not in content
    again = client.post("/api/dmarc/imap/sync").json()
    assert (again["emails_found"], again["reports_created"], again["status"]) == (0, 0, "success")
    assert again["failed_emails"] is None and len(smtp_server.messages) == 1
    domains = {d["domain"]: d for d in client.get("/api/dmarc/domains").json()["domains"]}
    assert domains["example.com"]["total_messages"] > 0


def test_history_and_status_never_show_the_password(api: Any, imap_settings: Any, dovecot: Any) -> None:
    settings = imap_settings()
    client = api(**settings.model_dump())
    _append(settings, dovecot, report_email(gz(aggregate_xml(3, report_id="h-1"))))
    first = client.post("/api/dmarc/imap/sync").json()
    second = client.post("/api/dmarc/imap/sync").json()
    history = client.get("/api/dmarc/imap/history", params={"limit": 10}).json()["data"]
    assert [h["id"] for h in history] == [second["sync_id"], first["sync_id"]]
    assert history[1]["reports_created"] == 1 and isinstance(history[1]["duration_seconds"], int)
    assert history[1]["started_at"].endswith("Z") and history[1]["completed_at"].endswith("Z")
    status = client.get("/api/dmarc/imap/status")
    body = status.json()
    assert body["last_sync"] == second and body["user"] == settings.dmarc_imap_user
    assert (body["enabled"], body["folder"], body["port"], body["delete_after_processing"]) == \
        (True, "INBOX", dovecot.port, False)
    assert PASSWORD not in status.text and "password" not in status.text
    assert client.get("/api/dmarc/imap/history", params={"limit": 101}).status_code in (400, 422)


def test_delete_and_move_processed_mails(imap_settings: Any, dovecot: Any, engine: Any) -> None:
    good, bad = report_email(gz(aggregate_xml(2, report_id="d-1"))), report_email(None, subject="not a report")
    settings = imap_settings(dmarc_imap_delete_after=True)
    _append(settings, dovecot, good, bad)
    assert run_sync(engine, settings, notify=False)["reports_created"] == 1
    assert _mailbox(settings, dovecot) == [("not a report", True)]  # failures stay: nothing is lost
    settings = imap_settings(dmarc_imap_move_to="Processed Отчёты")
    _append(settings, dovecot, report_email(gz(aggregate_xml(2, report_id="m-1"))), bad)
    assert run_sync(engine, settings, notify=False)["reports_created"] == 1
    assert [s for s, _ in _mailbox(settings, dovecot)] == ["not a report"]
    assert [s for s, _ in _mailbox(settings, dovecot, "Processed Отчёты")] == \
        ["Report domain: example.com Submitter: google.com"]


@pytest.mark.parametrize("mode", ["ssl", "starttls"])
def test_sync_over_tls(imap_settings: Any, dovecot: Any, engine: Any, mode: str) -> None:
    port = dovecot.ssl_port if mode == "ssl" else dovecot.port
    settings = imap_settings(dmarc_imap_use_ssl=mode == "ssl", dmarc_imap_use_starttls=mode == "starttls",
                             dmarc_imap_port=port)
    _append(settings, dovecot, report_email(gz(aggregate_xml(2, report_id=f"tls-{mode}"))))
    result = run_sync(engine, settings, notify=False)
    assert (result["status"], result["reports_created"]) == ("success", 1)


def test_failed_connection_is_recorded_and_notified(imap_settings: Any, engine: Any, smtp_server: Any) -> None:
    from tests.servers import free_port

    settings = imap_settings(dmarc_imap_port=free_port())
    result = run_sync(engine, settings, sync_type="auto")
    assert result["status"] == "error" and "refused" in result["error_message"].lower()
    assert result["notification_sent"] is True
    assert b"DMARC IMAP sync failed" in smtp_server.messages[0][2]
    with pytest.raises(RuntimeError, match="refused"):
        run_imap_sync_job(engine, settings)
    assert run_imap_sync_job(engine, imap_settings(dmarc_imap_enabled=False))["skipped"]


def test_wrong_password_sync_and_untrusted_certificate(imap_settings: Any, dovecot: Any, engine: Any) -> None:
    result = run_sync(engine, imap_settings(dmarc_imap_password="wrong-pw"), notify=False)
    assert result["status"] == "error" and "AUTHENTICATIONFAILED" in result["error_message"]
    settings = imap_settings(dmarc_imap_use_ssl=True, dmarc_imap_port=dovecot.ssl_port, dmarc_imap_ca_file="")
    result = run_sync(engine, settings, notify=False)
    assert result["status"] == "error" and "CERTIFICATE_VERIFY_FAILED" in result["error_message"]


def test_not_configured(api: Any) -> None:
    client = api()
    assert client.get("/api/dmarc/imap/status").status_code == 404
    assert client.post("/api/dmarc/imap/sync").json() == {"status": "disabled",
                                                          "message": "DMARC IMAP sync is not enabled"}


def test_imap_test_route_logs_every_step(api: Any, imap_settings: Any, dovecot: Any) -> None:
    settings = imap_settings(dmarc_imap_use_ssl=True, dmarc_imap_port=dovecot.ssl_port)
    _append(settings, dovecot, report_email(None, subject="one"), report_email(None, subject="two"))
    body = api(**settings.model_dump()).post("/api/settings/test/imap").json()
    assert body["success"] is True
    assert body["logs"][:8] == ["Starting IMAP connection test...", "Host: 127.0.0.1", f"Port: {dovecot.ssl_port}",
                                "Use SSL: true", f"User: {settings.dmarc_imap_user}", "Folder: INBOX",
                                "Connecting to IMAP server...", "Connected using SSL"]
    assert body["logs"][8:12] == ["Logging in...", "Login successful", "Listing mailboxes...", "Found 1 mailboxes:"]
    assert body["logs"][12:] == [' - "INBOX"', "Selecting folder: INBOX", "Folder selected: 2 messages",
                                 "Searching for emails...", "Found 2 emails in folder", "Connection closed",
                                 "✓ IMAP test completed successfully"]
    assert all(not seen for _s, seen in _mailbox(settings, dovecot))  # the test changes nothing


def test_imap_test_route_failures(api: Any, imap_settings: Any, dovecot: Any) -> None:
    from tests.servers import free_port

    bad = api(**imap_settings(dmarc_imap_password="not-the-password").model_dump()).post(
        "/api/settings/test/imap").json()
    assert bad["success"] is False
    assert bad["logs"][-1] == "✗ IMAP error: [AUTHENTICATIONFAILED] Authentication failed."
    assert "not-the-password" not in str(bad)
    closed = api(**imap_settings(dmarc_imap_port=free_port()).model_dump()).post("/api/settings/test/imap").json()
    assert closed["success"] is False and closed["logs"][-1].startswith("✗ Connection failed:")
    starttls = api(**imap_settings(dmarc_imap_use_starttls=True).model_dump()).post("/api/settings/test/imap").json()
    assert "Connected using STARTTLS" in starttls["logs"] and starttls["success"] is True
    assert isinstance(ssl.OPENSSL_VERSION, str)

"""The SMTP test route against a real SMTP server (aiosmtpd: STARTTLS, AUTH after TLS)."""

from __future__ import annotations

import email
from pathlib import Path
from typing import Any

from mlv.dmarc.smtp import run_smtp_test, send_mail
from tests.dmarc.servers import PASSWORD


def _settings(make_settings: Any, smtp_server: Any, tls_files: tuple[Path, Path], **overrides: Any) -> Any:
    values = {"smtp_enabled": True, "smtp_host": "127.0.0.1", "smtp_port": smtp_server.port, "smtp_use_tls": True,
              "smtp_user": "mailer", "smtp_password": PASSWORD, "smtp_from": "mlv@example.test",
              "smtp_ca_file": str(tls_files[0]), "admin_email": "admin@example.test", "smtp_timeout": 10}
    values.update(overrides)
    return make_settings(**values)


def test_smtp_test_route_logs_every_step_and_sends(api: Any, smtp_server: Any, tls_files: tuple[Path, Path],
                                                   make_settings: Any) -> None:
    settings = _settings(make_settings, smtp_server, tls_files)
    body = api(**settings.model_dump()).post("/api/settings/test/smtp").json()
    assert body == {"success": True, "logs": [
        "Starting SMTP connection test...", "Host: 127.0.0.1", f"Port: {smtp_server.port}", "Use TLS: true",
        "User: mailer", "Connecting to SMTP server...", "Connected", "Starting TLS...", "TLS established",
        "Logging in...", "Login successful", "Sending test email...", "Test email sent successfully",
        "Connection closed", "✓ SMTP test completed successfully"]}
    (sender, recipients, content, authenticated), = smtp_server.messages
    assert (sender, recipients, authenticated) == ("mlv@example.test", ["admin@example.test"], True)
    assert email.message_from_bytes(content)["Subject"] == "mlv: SMTP test"


def test_smtp_wrong_password(smtp_server: Any, tls_files: tuple[Path, Path], make_settings: Any) -> None:
    result = run_smtp_test(_settings(make_settings, smtp_server, tls_files, smtp_password="bad-secret-1"))
    assert result["success"] is False
    assert result["logs"][-1].startswith("✗ Authentication failed: (535")
    assert "bad-secret-1" not in str(result) and not smtp_server.messages


def test_smtp_failures_are_readable(smtp_server: Any, tls_files: tuple[Path, Path], make_settings: Any) -> None:
    from tests.servers import free_port

    closed = run_smtp_test(_settings(make_settings, smtp_server, tls_files, smtp_port=free_port()))
    assert closed["success"] is False and closed["logs"][-1].startswith("✗ Connection failed:")
    untrusted = run_smtp_test(_settings(make_settings, smtp_server, tls_files, smtp_ca_file=""))
    assert untrusted["logs"][-1].startswith("✗ TLS error:") and "CERTIFICATE_VERIFY_FAILED" in untrusted["logs"][-1]
    no_tls = run_smtp_test(_settings(make_settings, smtp_server, tls_files, smtp_use_tls=False))
    assert no_tls["success"] is False and "AUTH" in no_tls["logs"][-1]  # the server offers AUTH only after TLS
    nobody = run_smtp_test(_settings(make_settings, smtp_server, tls_files, admin_email=""))
    assert nobody["logs"][-1].startswith("✗ ADMIN_EMAIL is not set")


def test_relay_mode_sends_without_login(smtp_server: Any, tls_files: tuple[Path, Path], make_settings: Any) -> None:
    settings = _settings(make_settings, smtp_server, tls_files, smtp_relay_mode=True, smtp_use_tls=False)
    send_mail(settings, to="someone@example.test", subject="Grüße – test", body="Unicode body: ✓")
    (_sender, recipients, content, authenticated), = smtp_server.messages
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert (recipients, authenticated) == (["someone@example.test"], False)
    assert message["Subject"] == "Grüße – test" and "✓" in message.get_content()

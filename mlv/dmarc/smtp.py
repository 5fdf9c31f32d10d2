"""Outgoing mail: the SMTP connection test and notices about failed IMAP syncs (SMTP_* settings)."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from mlv.dmarc.imap import scrub, tls_context

log = logging.getLogger(__name__)


def _connect(settings: Any, step: Callable[[str], None]) -> smtplib.SMTP:
    context = tls_context(settings.smtp_verify_ssl, settings.smtp_ca_file)
    step("Connecting to SMTP server...")
    if settings.smtp_use_ssl:
        client: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port,
                                                timeout=settings.smtp_timeout, context=context)
        step("Connected using SSL")
    else:
        client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout)
        step("Connected")
        if settings.smtp_use_tls:
            step("Starting TLS...")
            client.starttls(context=context)
            step("TLS established")
    if settings.smtp_user and not settings.smtp_relay_mode:
        step("Logging in...")
        client.login(settings.smtp_user, settings.smtp_password.get_secret_value())
        step("Login successful")
    return client


def _message(settings: Any, to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    sender = settings.smtp_from or settings.smtp_user
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body)
    return msg


def send_mail(settings: Any, *, to: str, subject: str, body: str) -> None:
    """Send one plain-text mail; raises on failure."""
    client = _connect(settings, lambda _step: None)
    try:
        client.send_message(_message(settings, to, subject, body))
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def _failure(exc: BaseException, password: str) -> str:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        text = f"Authentication failed: {exc}"
    elif isinstance(exc, smtplib.SMTPNotSupportedError | smtplib.SMTPException):
        text = f"SMTP error: {exc}"
    elif isinstance(exc, ssl.SSLError):
        text = f"TLS error: {exc}"
    else:
        text = f"Connection failed: {exc or type(exc).__name__}"
    return "✗ " + scrub(text, password)[:1000]


def run_smtp_test(settings: Any) -> dict[str, Any]:
    """POST /api/settings/test/smtp: connect, TLS, log in, send a test mail to ADMIN_EMAIL."""
    password = settings.smtp_password.get_secret_value()
    logs = ["Starting SMTP connection test...", f"Host: {settings.smtp_host}", f"Port: {settings.smtp_port}",
            f"Use TLS: {str(settings.smtp_use_tls).lower()}"]
    if settings.smtp_use_ssl:
        logs.append("Use SSL: true")
    user = settings.smtp_user or "(none)"
    logs.append(f"User: {user} (relay mode: no login)" if settings.smtp_relay_mode else f"User: {user}")
    if not settings.smtp_host:
        return {"success": False, "logs": [*logs, "✗ SMTP is not configured: SMTP_HOST is empty"]}
    if not settings.admin_email:
        return {"success": False, "logs": [*logs, "✗ ADMIN_EMAIL is not set: there is nobody to send the test to"]}
    client = None
    try:
        client = _connect(settings, logs.append)
        logs.append("Sending test email...")
        client.send_message(_message(settings, settings.admin_email, "mlv: SMTP test",
                                     "This is a test message from mlv (mailcow log viewer).\n"
                                     "Your SMTP settings work."))
        logs.append("Test email sent successfully")
        client.quit()
        logs.append("Connection closed")
    except Exception as exc:  # every failure becomes a readable line
        logs.append(_failure(exc, password))
        if client is not None:
            client.close()
        return {"success": False, "logs": logs}
    logs.append("✓ SMTP test completed successfully")
    return {"success": True, "logs": logs}


def notify_sync_failure(settings: Any, result: dict[str, Any]) -> bool:
    """Mail DMARC_ERROR_EMAIL (or ADMIN_EMAIL) about a failed sync; False when not sent (never raises)."""
    to = settings.dmarc_error_email or settings.admin_email
    if not settings.smtp_enabled or not settings.smtp_host or not to:
        return False
    lines = [f"The DMARC IMAP sync #{result.get('sync_id')} ({result.get('sync_type')}) of "
             f"{settings.dmarc_imap_user}@{settings.dmarc_imap_host}/{settings.dmarc_imap_folder} "
             f"finished with status {result.get('status')!r}.", ""]
    if result.get("error_message"):
        lines += [f"Error: {result['error_message']}", ""]
    lines.append(f"E-mails found: {result.get('emails_found')}, processed: {result.get('emails_processed')}, "
                 f"reports created: {result.get('reports_created')}, duplicates: {result.get('reports_duplicate')}, "
                 f"failed: {result.get('reports_failed')}")
    for failed in result.get("failed_emails") or []:
        lines.append(f"- e-mail {failed.get('email_id')} {failed.get('subject')!r}: {failed.get('error')}")
    lines += ["", "Failed e-mails stay in the mailbox (marked as read)."]
    subject = "mlv: DMARC IMAP sync failed" if result.get("status") == "error" else \
        f"mlv: {result.get('reports_failed')} DMARC report e-mails could not be imported"
    try:
        send_mail(settings, to=to, subject=subject, body="\n".join(lines))
    except Exception as exc:
        log.warning("could not send the sync failure notice: %s",
                    scrub(str(exc), settings.smtp_password.get_secret_value()))
        return False
    return True

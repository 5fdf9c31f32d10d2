"""The IMAP side of the auto-import: connecting (SSL, STARTTLS or plain) and the connection test.

The password is only ever handed to LOGIN: it is never logged, returned, or put in an error text
(:func:`scrub` removes it from anything a server or library echoes back).
"""

from __future__ import annotations

import re
import socket
import ssl
from typing import Any

from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import UnexpectedCommandStatusError
from imap_tools.mailbox import BaseMailBox


def tls_context(verify: bool, ca_file: str = "") -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file or None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def scrub(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text


def error_text(exc: BaseException, password: str = "") -> str:
    """What went wrong, as the server said it (e.g. "[AUTHENTICATIONFAILED] Authentication failed.")."""
    if isinstance(exc, UnexpectedCommandStatusError):
        data = exc.command_result[1] if len(exc.command_result) > 1 else None
        parts = data if isinstance(data, list | tuple) else [data]
        text = " ".join(p.decode("utf-8", "replace") if isinstance(p, bytes) else str(p) for p in parts if p)
        text = text or str(exc)
    elif isinstance(exc, socket.timeout | TimeoutError):
        text = f"timed out ({exc})" if str(exc) else "timed out"
    else:
        text = str(exc) or type(exc).__name__
    return scrub(text, password)[:1000]


def connection_mode(settings: Any) -> str:
    if settings.dmarc_imap_use_ssl:
        return "SSL"
    return "STARTTLS" if settings.dmarc_imap_use_starttls else "plain text (unencrypted)"


def open_mailbox(settings: Any) -> BaseMailBox:
    """A connected (not yet logged in) mailbox for the DMARC_IMAP_* settings."""
    host, port, timeout = settings.dmarc_imap_host, settings.dmarc_imap_port, settings.dmarc_imap_timeout
    context = tls_context(settings.dmarc_imap_verify_ssl, settings.dmarc_imap_ca_file)
    if settings.dmarc_imap_use_ssl:
        return MailBox(host, port, timeout=timeout, ssl_context=context)
    if settings.dmarc_imap_use_starttls:
        return MailBoxStartTls(host, port, timeout=timeout, ssl_context=context)
    return MailBoxUnencrypted(host, port, timeout=timeout)


def login(mailbox: BaseMailBox, settings: Any) -> None:
    mailbox.login(settings.dmarc_imap_user, settings.dmarc_imap_password.get_secret_value(), initial_folder=None)


_COUNT = re.compile(rb"(\d+)\s+EXISTS")


def run_imap_test(settings: Any) -> dict[str, Any]:
    """POST /api/settings/test/imap: connect, log in, list folders, select the folder read-only."""
    password = settings.dmarc_imap_password.get_secret_value()
    logs = ["Starting IMAP connection test...", f"Host: {settings.dmarc_imap_host}",
            f"Port: {settings.dmarc_imap_port}", f"Use SSL: {str(settings.dmarc_imap_use_ssl).lower()}"]
    if not settings.dmarc_imap_use_ssl:
        logs.append(f"Use STARTTLS: {str(settings.dmarc_imap_use_starttls).lower()}")
    logs += [f"User: {settings.dmarc_imap_user}", f"Folder: {settings.dmarc_imap_folder}"]
    if not settings.dmarc_imap_host:
        logs.append("✗ IMAP is not configured: DMARC_IMAP_HOST is empty")
        return {"success": False, "logs": logs}
    logs.append("Connecting to IMAP server...")
    try:
        mailbox = open_mailbox(settings)
    except (OSError, ssl.SSLError, UnexpectedCommandStatusError) as exc:
        logs.append(f"✗ Connection failed: {error_text(exc, password)}")
        return {"success": False, "logs": logs}
    logs.append(f"Connected using {connection_mode(settings)}")
    try:
        logs.append("Logging in...")
        login(mailbox, settings)
        logs.append("Login successful")
        logs.append("Listing mailboxes...")
        folders = mailbox.folder.list()
        logs.append(f"Found {len(folders)} mailboxes:")
        logs += [f' - "{folder.name}"' for folder in folders]
        logs.append(f"Selecting folder: {settings.dmarc_imap_folder}")
        response = mailbox.folder.set(settings.dmarc_imap_folder, readonly=True)
        data = b" ".join(d for d in (response[1] if len(response) > 1 else []) if isinstance(d, bytes))
        found = _COUNT.search(data)
        logs.append(f"Folder selected: {int(found.group(1)) if found else len(mailbox.numbers())} messages")
        logs.append("Searching for emails...")
        logs.append(f"Found {len(mailbox.numbers('ALL'))} emails in folder")
    except Exception as exc:  # every failure becomes a readable line, never a stack trace
        logs.append(f"✗ IMAP error: {error_text(exc, password)}")
        _close(mailbox)
        return {"success": False, "logs": logs}
    _close(mailbox)
    logs += ["Connection closed", "✓ IMAP test completed successfully"]
    return {"success": True, "logs": logs}


def _close(mailbox: BaseMailBox) -> None:
    try:
        mailbox.logout()
    except Exception:
        try:
            mailbox.client.shutdown()
        except Exception:
            pass

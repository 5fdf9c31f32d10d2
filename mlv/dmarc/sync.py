"""IMAP auto-import: fetch the unread mails of the folder, import every report, keep a history.

Each mail is imported on its own: a mail that holds no usable report is recorded in the sync's
``failed_emails`` (and left in the mailbox, marked read), the others go on. Successfully
processed mails (new reports or duplicates) are deleted or moved when configured. A sync that
cannot connect, or whose database write fails, ends with status "error" and touches no mail
flags. One sync runs at a time per process; a second request gets the running one.
"""

from __future__ import annotations

import imaplib
import json
import logging
import re
import threading
import time
from datetime import UTC, datetime
from typing import Any

from imap_tools import AND, MailMessageFlags
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from mlv.dmarc.headers import header_text
from mlv.dmarc.imap import error_text, login, open_mailbox
from mlv.dmarc.service import import_for_settings
from mlv.dmarc.smtp import notify_sync_failure
from mlv.dmarc.types import ReportError

log = logging.getLogger(__name__)
_lock = threading.Lock()
_SIZE = re.compile(rb"UID (\d+)[^)]*?RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+)[^)]*?UID (\d+)")
_COLUMNS = ("id", "sync_type", "status", "started_at", "completed_at", "emails_found", "emails_processed",
            "reports_created", "reports_duplicate", "reports_failed", "error_message", "failed_emails")


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts is not None else None


def public(row: dict[str, Any], *, key: str = "sync_id") -> dict[str, Any]:
    """A sync record as the API shows it (key "sync_id" for status/sync, "id" for history)."""
    failed = json.loads(row["failed_emails"]) if row.get("failed_emails") else None
    out = {key: row["id"], "sync_type": row["sync_type"], "status": row["status"],
           "started_at": _iso(row["started_at"]), "completed_at": _iso(row["completed_at"])}
    if key == "id":
        done = row["completed_at"]
        out["duration_seconds"] = round(done - row["started_at"]) if done is not None else None
    out.update({k: row[k] for k in ("emails_found", "emails_processed", "reports_created", "reports_duplicate",
                                    "reports_failed", "error_message")})
    out["failed_emails"] = failed or None
    return out


def history(engine: Engine, *, limit: int = 20) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT {', '.join(_COLUMNS)} FROM dmarc_sync ORDER BY id DESC LIMIT :n"),
                            {"n": limit}).mappings().all()
    return [public(dict(r), key="id") for r in rows]


def last_sync(engine: Engine) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(text(f"SELECT {', '.join(_COLUMNS)} FROM dmarc_sync ORDER BY id DESC LIMIT 1"))\
            .mappings().first()
    return public(dict(row)) if row else None


def _sizes(mailbox: Any, uids: list[str]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for start in range(0, len(uids), 500):
        _status, data = mailbox.client.uid("FETCH", ",".join(uids[start:start + 500]), "(RFC822.SIZE)")
        for item in data or []:
            raw = item[0] if isinstance(item, tuple) else item
            if isinstance(raw, bytes) and (m := _SIZE.search(raw)):
                uid, size = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
                sizes[uid.decode()] = int(size)
    return sizes


class _Run:
    def __init__(self) -> None:
        self.found = self.processed = self.created = self.duplicate = 0
        self.failed: list[dict[str, str]] = []
        self.done: list[str] = []   # processed: may be deleted / moved
        self.seen: list[str] = []   # processed or failed: marked read

    def fail(self, uid: str, message_id: str, subject: str, error: str) -> None:
        self.failed.append({"email_id": uid, "message_id": message_id, "subject": subject, "error": error[:500]})
        self.seen.append(uid)


def _process(engine: Engine, settings: Any, mailbox: Any, run: _Run) -> None:
    login(mailbox, settings)
    mailbox.folder.set(settings.dmarc_imap_folder)
    uids = mailbox.uids(AND(seen=False))
    run.found = len(uids)
    limit = settings.dmarc_max_email_bytes
    sizes = _sizes(mailbox, uids) if uids else {}
    batches: list[list[str]] = [[]]
    batch_bytes = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if size > limit:
            run.fail(uid, "", "", f"e-mail is {size:,} bytes; the limit is {limit:,} bytes")
            continue
        if batches[-1] and (len(batches[-1]) >= 20 or batch_bytes + size > 50 * 1024 * 1024):
            batches.append([])  # fetch a few mails per round trip, never more than ~50 MB at once
            batch_bytes = 0
        batches[-1].append(uid)
        batch_bytes += size
    for batch in batches:
        if not batch:
            continue
        for msg in mailbox.fetch(AND(uid=batch), mark_seen=False, bulk=True):
            message_id = header_text(msg.obj.get("Message-ID"), 300)
            subject = header_text(msg.obj.get("Subject"), 300)
            try:
                outcome = import_for_settings(engine, settings, msg.obj, filename=f"IMAP mail {msg.uid}",
                                              source="imap")
            except ReportError as exc:
                run.fail(msg.uid, message_id, subject, str(exc))
                continue
            except SQLAlchemyError:
                raise
            except Exception as exc:  # a parser bug must not stop the other mails
                log.exception("importing IMAP mail %s failed", msg.uid)
                run.fail(msg.uid, message_id, subject, f"internal error: {type(exc).__name__}: {exc}")
                continue
            run.processed += 1
            run.created += outcome.created
            run.duplicate += outcome.duplicates
            run.done.append(msg.uid)
            run.seen.append(msg.uid)
    if run.seen:
        mailbox.flag(run.seen, MailMessageFlags.SEEN, True)
    if run.done and settings.dmarc_imap_move_to:
        if not mailbox.folder.exists(settings.dmarc_imap_move_to):
            mailbox.folder.create(settings.dmarc_imap_move_to)
        mailbox.move(run.done, settings.dmarc_imap_move_to)
    elif run.done and settings.dmarc_imap_delete_after:
        mailbox.delete(run.done)


def run_sync(engine: Engine, settings: Any, *, sync_type: str = "manual", notify: bool = True) -> dict[str, Any]:
    """One sync; returns the record of POST /api/dmarc/imap/sync (status "running" if one is under way)."""
    if not _lock.acquire(blocking=False):
        with engine.connect() as conn:
            row = conn.execute(text(f"SELECT {', '.join(_COLUMNS)} FROM dmarc_sync WHERE status = 'running' "
                                    "ORDER BY id DESC LIMIT 1")).mappings().first()
        return public(dict(row)) if row else {"status": "running", "message": "A sync is already running"}
    try:
        started = time.time()
        with engine.begin() as conn:
            conn.execute(text("UPDATE dmarc_sync SET status = 'error', completed_at = :t, error_message = "
                              "'interrupted: the application stopped during the sync' WHERE status = 'running'"),
                         {"t": started})
            sync_id = conn.execute(text("INSERT INTO dmarc_sync (sync_type, status, started_at, emails_found, "
                                        "emails_processed, reports_created, reports_duplicate, reports_failed) "
                                        "VALUES (:type, 'running', :t, 0, 0, 0, 0, 0) RETURNING id"),
                                   {"type": sync_type, "t": started}).scalar_one()
        run, error, connected = _Run(), None, False
        try:
            mailbox = open_mailbox(settings)
            connected = True
            try:
                _process(engine, settings, mailbox, run)
            finally:
                try:
                    mailbox.logout()
                except Exception:
                    pass
        except Exception as exc:  # connection, login, folder, database: the sync fails, the mails stay
            error = error_text(exc, settings.dmarc_imap_password.get_secret_value())
            if connected and isinstance(exc, imaplib.IMAP4.abort | ConnectionError | EOFError):
                error = (f"the IMAP server closed the connection during the sync ({error}); {run.processed} of "
                         f"{run.found} mails were imported, the next sync imports the rest")
            log.warning("DMARC IMAP sync %s failed: %s", sync_id, error)
        if error is None and run.failed:
            message = f"{len(run.failed)} emails failed to process"
        else:
            message = error
        row = {"id": sync_id, "sync_type": sync_type, "status": "error" if error else "success",
               "started_at": started, "completed_at": time.time(), "emails_found": run.found,
               "emails_processed": run.processed, "reports_created": run.created,
               "reports_duplicate": run.duplicate, "reports_failed": len(run.failed), "error_message": message,
               "failed_emails": json.dumps(run.failed, ensure_ascii=False) if run.failed else None}
        with engine.begin() as conn:
            conn.execute(text("UPDATE dmarc_sync SET status = :status, completed_at = :completed_at, "
                              "emails_found = :emails_found, emails_processed = :emails_processed, "
                              "reports_created = :reports_created, reports_duplicate = :reports_duplicate, "
                              "reports_failed = :reports_failed, error_message = :error_message, "
                              "failed_emails = :failed_emails WHERE id = :id"), row)
        result = public(row)
        if notify and (error or run.failed):
            result["notification_sent"] = notify_sync_failure(settings, result)
        return result
    finally:
        _lock.release()

"""What only mailcow itself knows, asked live: mail queue, quarantine, containers, storage, version.

Each function takes a MailcowClient and raises MailcowError (a readable sentence) when mailcow
cannot be asked; the routes turn that into 502/503.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from mlv.mailcow.client import MailcowClient, MailcowError
from mlv.queries.common import iso


def _list(data: Any) -> list[dict]:
    if isinstance(data, list):
        return [d for d in data if isinstance(d, dict)]
    if isinstance(data, dict):
        return [data] if ("queue_id" in data or "id" in data) else []  # mailcow says {} for "none"
    return []


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def queue(client: MailcowClient) -> dict[str, Any]:
    """GET /api/queue: Postfix's queue as mailcow reports it."""
    items = _list(client.get("mailq/all"))
    data = [{"queue_name": i.get("queue_name"), "queue_id": i.get("queue_id"),
             "arrival_time": _int(i.get("arrival_time")), "message_size": _int(i.get("message_size")),
             "forced_expire": bool(i.get("forced_expire")), "sender": i.get("sender"),
             "recipients": [str(r) for r in (i.get("recipients") or [])]} for i in items]
    return {"total": len(data), "data": data}


def _reason(item: dict) -> str:
    if (_int(item.get("virus_flag")) or 0) > 0:
        return "Virus found"
    action = item.get("action")
    if action == "reject":
        return "High spam score"
    if action in ("add header", "rewrite subject"):
        return "Junk (probable spam)"
    return str(action or "Quarantined")


def quarantine(client: MailcowClient) -> dict[str, Any]:
    """GET /api/quarantine: quarantined mail, newest first."""
    items = _list(client.get("quarantine/all"))
    data = [{"id": _int(i.get("id")), "subject": i.get("subject"), "sender": i.get("sender"),
             "recipients": [i["rcpt"]] if i.get("rcpt") else [], "created": iso(_int(i.get("created"))),
             "reason": _reason(i), "score": i.get("score"), "action": i.get("action"), "qid": i.get("qid")}
            for i in items]
    data.sort(key=lambda d: d["created"] or "", reverse=True)
    return {"total": len(data), "data": data}


def _started(value: Any) -> str | None:
    text_ = str(value or "")
    if not text_ or text_.startswith("0001-01-01"):
        return None
    return text_[:19] + "Z" if len(text_) >= 19 else text_


def containers(client: MailcowClient) -> dict[str, Any]:
    """GET /api/status/containers."""
    data = client.get("status/containers")
    if not isinstance(data, dict):
        raise MailcowError("mailcow could not list its containers (is dockerapi-mailcow running?)")
    out, running = {}, 0
    for key, c in sorted(data.items()):
        if not isinstance(c, dict):
            continue
        state = str(c.get("state") or "unknown")
        running += state == "running"
        out[key] = {"name": key.removesuffix("-mailcow"), "state": state, "started_at": _started(c.get("started_at")),
                    "image": c.get("image")}
    return {"containers": out, "summary": {"running": running, "stopped": len(out) - running, "total": len(out)}}


def storage(client: MailcowClient) -> dict[str, Any]:
    """GET /api/status/storage: the mail volume's disk usage."""
    data = client.get("status/vmail")
    if isinstance(data, list) and data:
        data = data[0]
    if not isinstance(data, dict):
        raise MailcowError("mailcow answered an unexpected document for status/vmail")
    return {k: (str(data[k]) if data.get(k) is not None else None) for k in ("disk", "used", "total", "used_percent")}


def mailcow_version(client: MailcowClient) -> str | None:
    data = client.get("status/version")
    return str(data.get("version")) if isinstance(data, dict) and data.get("version") else None


def mailcow_info(*, engine: Engine, server_id: int = 1) -> dict[str, Any]:
    """GET /api/status/mailcow-info: domains, mailboxes and aliases as last fetched from mailcow."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT kind, COUNT(*), SUM(CASE WHEN active THEN 1 ELSE 0 END) FROM mailcow_object "
                                 "WHERE server_id = :s GROUP BY kind"), {"s": server_id}).all()
    counts = {kind: (int(total), int(active or 0)) for kind, total, active in rows}

    def pair(kind: str) -> dict[str, int]:
        total, active = counts.get(kind, (0, 0))
        return {"total": total, "active": active}

    return {"domains": pair("domain"), "mailboxes": pair("mailbox"), "aliases": pair("alias")}

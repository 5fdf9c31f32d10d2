"""The requests bench/api.py times: every list route at page 1 and a deep page, each documented
filter, free-text search (common, moderate, rare, short), dashboard, timeline, mailbox stats."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Engine, text

LIST, DASH = 50, 150  # p95 targets in ms
DEEP = 200


def _one(engine: Engine, sql: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cases_for(engine: Engine) -> list[tuple[str, str, dict, int]]:
    """(path, case name, params, target ms); list cases appear twice: page 1 and deep."""
    newest = _one(engine, "SELECT MAX(first_seen) FROM message")
    week = {"start_date": _day(newest - 8 * 86400), "end_date": _day(newest - 7 * 86400)}
    pick = {
        "sender": _one(engine, "SELECT lower(sender) FROM message WHERE direction = 'outbound' AND sender <> '' "
                               "ORDER BY id DESC LIMIT 1"),
        "recipient": _one(engine, "SELECT recipient FROM delivery ORDER BY id DESC LIMIT 1"),
        "rare_recipient": _one(engine, "SELECT recipient FROM delivery WHERE recipient LIKE '%unreachable%' "
                                       "ORDER BY id DESC LIMIT 1") or "nobody@example.invalid",
        "user": _one(engine, "SELECT \"user\" FROM message WHERE \"user\" IS NOT NULL ORDER BY id DESC LIMIT 1"),
        "ip": _one(engine, "SELECT ip FROM message WHERE direction = 'inbound' AND ip IS NOT NULL "
                           "ORDER BY id DESC LIMIT 1"),
        "queue_id": _one(engine, "SELECT queue_id FROM message WHERE queue_id IS NOT NULL ORDER BY id LIMIT 1 "
                                 "OFFSET 1000"),
        "mid": (_one(engine, "SELECT message_id FROM message WHERE message_id IS NOT NULL ORDER BY id LIMIT 1 "
                             "OFFSET 5000") or "x")[:12],
        "pf_sender": _one(engine, "SELECT sender FROM postfix_log WHERE sender LIKE '%@example.org' "
                                  "ORDER BY id DESC LIMIT 1"),
        "pf_rcpt": _one(engine, "SELECT recipient FROM postfix_log WHERE recipient LIKE '%gmail.com' "
                                "ORDER BY id DESC LIMIT 1"),
        "nf_ip": _one(engine, "SELECT ip FROM netfilter_log WHERE action = 'warning' ORDER BY id DESC LIMIT 1"),
        "nf_user": _one(engine, "SELECT username FROM netfilter_log WHERE username IS NOT NULL ORDER BY id DESC "
                                "LIMIT 1") or "x",
        "rs_sender": _one(engine, "SELECT sender_smtp FROM rspamd_log ORDER BY id DESC LIMIT 1"),
    }
    lists: list[tuple[str, str, dict]] = [
        ("/api/messages", "no filter", {}),
        ("/api/messages", "direction=inbound", {"direction": "inbound"}),
        *[("/api/messages", f"status={s}", {"status": s})
          for s in ("delivered", "bounced", "deferred", "rejected", "spam", "expired")],
        ("/api/messages", "sender", {"sender": pick["sender"]}),
        ("/api/messages", "recipient (busy)", {"recipient": pick["recipient"]}),
        ("/api/messages", "recipient (rare)", {"recipient": pick["rare_recipient"]}),
        ("/api/messages", "user", {"user": pick["user"]}),
        ("/api/messages", "ip", {"ip": pick["ip"]}),
        ("/api/messages", "one day, a week ago", week),
        ("/api/messages", "status=delivered + direction=outbound", {"status": "delivered", "direction": "outbound"}),
        ("/api/messages", "search common (gmail)", {"search": "gmail"}),
        ("/api/messages", "search moderate (invoice)", {"search": "invoice"}),
        ("/api/messages", "search rare (Message-ID part)", {"search": pick["mid"]}),
        ("/api/messages", "search queue id", {"search": pick["queue_id"]}),
        ("/api/messages", "search short (ab)", {"search": "ab"}),
        ("/api/messages", "search + direction", {"search": "invoice", "direction": "inbound"}),
        ("/api/logs/postfix", "no filter", {}),
        *[("/api/logs/postfix", f"status={s}", {"status": s}) for s in ("sent", "deferred", "bounced", "rejected")],
        ("/api/logs/postfix", "sender", {"sender": pick["pf_sender"]}),
        ("/api/logs/postfix", "recipient", {"recipient": pick["pf_rcpt"]}),
        ("/api/logs/postfix", "queue_id", {"queue_id": pick["queue_id"]}),
        ("/api/logs/postfix", "one day, a week ago", week),
        ("/api/logs/postfix", "search common (status=sent)", {"search": "status=sent"}),
        ("/api/logs/postfix", "search moderate (gmail-smtp-in)", {"search": "gmail-smtp-in"}),
        ("/api/logs/postfix", "search rare (queue id)", {"search": pick["queue_id"]}),
        ("/api/logs/rspamd", "no filter", {}),
        ("/api/logs/rspamd", "direction=outbound", {"direction": "outbound"}),
        ("/api/logs/rspamd", "action=reject", {"action": "reject"}),
        ("/api/logs/rspamd", "is_spam=true", {"is_spam": "true"}),
        ("/api/logs/rspamd", "min_score=10", {"min_score": "10"}),
        ("/api/logs/rspamd", "sender", {"sender": pick["rs_sender"]}),
        ("/api/logs/rspamd", "one day, a week ago", week),
        ("/api/logs/rspamd", "search (invoice)", {"search": "invoice"}),
        ("/api/logs/rspamd", "search rare (Message-ID part)", {"search": pick["mid"]}),
        ("/api/logs/netfilter", "no filter", {}),
        ("/api/logs/netfilter", "ip", {"ip": pick["nf_ip"]}),
        ("/api/logs/netfilter", "username", {"username": pick["nf_user"]}),
        ("/api/logs/netfilter", "action=banned", {"action": "banned"}),
        ("/api/logs/netfilter", "search (SASL)", {"search": "sasl"}),
    ]
    out = []
    for path, name, params in lists:
        out.append((path, name, {**params, "page": "1"}, LIST))
        out.append((path, name, {**params, "page": "deep"}, LIST))
    # Past the cap: page 200 of lists whose total stops counting at 1,000 (20 pages are announced).
    for path, name, params in [("/api/messages", "search common (gmail), past the cap", {"search": "gmail"}),
                               ("/api/messages", "sender, past the cap", {"sender": pick["sender"]}),
                               ("/api/messages", "recipient (busy), past the cap", {"recipient": pick["recipient"]}),
                               ("/api/logs/postfix", "search common (status=sent), past the cap",
                                {"search": "status=sent"})]:
        out.append((path, name, {**params, "page": str(DEEP)}, LIST))
    out += [
        ("/api/stats/dashboard", "", {}, DASH),
        ("/api/stats/timeline", "24 hours", {}, DASH),
        ("/api/stats/timeline", "720 hours", {"hours": "720"}, DASH),
        ("/api/mailbox-stats/all", "30days (cache cleared each time)", {"_nocache": "1"}, LIST),
        ("/api/mailbox-stats/all", "30days (cached)", {}, LIST),
        ("/api/mailbox-stats/summary", "90days (cache cleared each time)", {"date_range": "90days", "_nocache": "1"},
         LIST),
    ]
    return out


async def measure(engine: Engine, cases: list, *, runs: int, label: str) -> list[dict]:
    from fastapi import FastAPI

    from mlv import app as mlv_app
    from mlv.api import install_guard, register_routes
    from mlv.config import load_settings, set_settings
    from mlv.queries.mailbox_stats import clear_stats_cache

    settings = load_settings(auth_password="bench-password", _env_file=None, trusted_proxies="", retention_days=60)
    set_settings(settings)
    mlv_app.runtime = mlv_app.Runtime(settings=settings, engine=engine)
    app = FastAPI()
    register_routes(app)
    install_guard(app, enabled=True, username="admin", password="bench-password")
    transport = httpx.ASGITransport(app=app)
    results = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", auth=("admin", "bench-password"),
                                 timeout=120) as client:
        for path, name, params, target in cases:
            params = dict(params)
            nocache = params.pop("_nocache", None)
            page = params.get("page")
            if page == "deep":
                first = (await client.get(path, params={**params, "page": "1"})).json()
                params["page"] = str(max(1, min(DEEP, first.get("pages") or 1)))
            times = []
            for i in range(runs + 2):
                if nocache:
                    clear_stats_cache()
                started = time.perf_counter()
                response = await client.get(path, params=params)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise RuntimeError(f"{path} {params}: HTTP {response.status_code} {response.text[:200]}")
                if i >= 2:
                    times.append(elapsed)
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            row = {"path": path, "case": name, "page": params.get("page", "–"), "p50": statistics.median(times),
                   "p95": p95, "target": target}
            results.append(row)
            flag = "" if p95 <= target else "  <-- over target"
            print(f"  {label} {path} {name} page={row['page']}: p50 {row['p50']:.1f} p95 {p95:.1f} ms{flag}",
                  flush=True)
    return results

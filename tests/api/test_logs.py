"""GET /api/logs/postfix (and by-queue), /api/logs/rspamd, /api/logs/netfilter."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
POSTFIX_FIELDS = {"id", "time", "program", "priority", "message", "queue_id", "message_id", "sender", "recipient",
                  "status", "relay", "delay", "dsn", "correlation_key"}
RSPAMD_FIELDS = {"id", "time", "message_id", "subject", "size", "sender_smtp", "recipients_smtp", "score",
                 "required_score", "action", "direction", "ip", "is_spam", "has_auth", "user", "symbols",
                 "correlation_key"}
NETFILTER_FIELDS = {"id", "time", "priority", "message", "ip", "rule_id", "attempts_left", "username", "auth_method",
                    "action"}


def scalar(world, sql: str, **params):  # type: ignore[no-untyped-def]
    with world.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


async def test_postfix_lines_are_linked_to_their_messages(api, world) -> None:
    body = (await api.get("/api/logs/postfix", params={"status": "sent", "limit": 100})).json()
    assert body["total"] == scalar(world, "SELECT COUNT(*) FROM postfix_log WHERE status = 'sent'") > 0
    for row in body["data"]:
        assert POSTFIX_FIELDS <= set(row) and ISO.match(row["time"]) and row["status"] == "sent"
        assert row["correlation_key"], row  # every delivery line belongs to a message
        assert row["sender"] is not None  # from the message: a delivery line names no sender itself
    key = body["data"][0]["correlation_key"]
    details = (await api.get(f"/api/message/{key}/details")).json()
    assert body["data"][0]["message"] in {p["message"] for p in details["postfix"]}


async def test_postfix_noqueue_reject_lines_link_to_their_message(api, world) -> None:
    body = (await api.get("/api/logs/postfix", params={"status": "rejected", "search": "NOQUEUE"})).json()
    assert body["data"]
    assert all(r["correlation_key"] for r in body["data"] if r["queue_id"] is None)


async def test_postfix_filters(api, world) -> None:
    with world.engine.connect() as conn:
        qid = conn.execute(text("SELECT queue_id FROM postfix_log WHERE kind = 'delivery' LIMIT 1")).scalar()
        rcpt = conn.execute(text("SELECT recipient FROM postfix_log WHERE recipient IS NOT NULL LIMIT 1")).scalar()
        sender = conn.execute(text("SELECT sender FROM postfix_log WHERE sender <> '' LIMIT 1")).scalar()
    body = (await api.get("/api/logs/postfix", params={"queue_id": qid})).json()
    assert body["total"] == scalar(world, "SELECT COUNT(*) FROM postfix_log WHERE queue_id = :q", q=qid) > 1
    assert {r["queue_id"] for r in body["data"]} == {qid}
    body = (await api.get("/api/logs/postfix", params={"recipient": rcpt.upper(), "limit": 500})).json()
    assert body["data"] and {r["recipient"].lower() for r in body["data"]} == {rcpt.lower()}
    body = (await api.get("/api/logs/postfix", params={"sender": sender, "limit": 500})).json()
    assert body["data"] and all(f"<{sender}>".lower() in r["message"].lower() for r in body["data"])


async def test_postfix_search_and_paging(api, world) -> None:
    body = (await api.get("/api/logs/postfix", params={"search": "connect from", "limit": 200})).json()
    assert body["total"] == 1000 and body["total_capped"]  # capped count, common term
    assert all("connect from" in r["message"].lower() for r in body["data"])
    page2 = (await api.get("/api/logs/postfix", params={"search": "connect from", "limit": 200, "page": 2})).json()
    assert not {r["id"] for r in body["data"]} & {r["id"] for r in page2["data"]}
    everything = (await api.get("/api/logs/postfix", params={"limit": 500})).json()
    assert everything["total"] == scalar(world, "SELECT COUNT(*) FROM postfix_log")
    times = [(r["time"], r["id"]) for r in everything["data"]]
    assert times == sorted(times, reverse=True)


async def test_by_queue(api, world) -> None:
    with world.engine.connect() as conn:
        qid, key = conn.execute(text("SELECT q.queue_id, m.correlation_key FROM message_queue q JOIN message m "
                                     "ON m.id = q.message_ref WHERE m.rspamd_ref IS NOT NULL AND m.kind = 'mail' "
                                     "ORDER BY q.id DESC LIMIT 1")).one()
    body = (await api.get(f"/api/logs/postfix/by-queue/{qid}")).json()
    assert body["queue_id"] == qid and body["correlation_key"] == key
    assert {"score", "required_score", "action", "symbols", "is_spam", "direction", "subject"} <= set(body["rspamd"])
    assert body["logs"] and {r["queue_id"] for r in body["logs"]} == {qid}
    assert POSTFIX_FIELDS - {"correlation_key"} <= set(body["logs"][0])
    assert (await api.get("/api/logs/postfix/by-queue/NOSUCHQUEUE")).status_code == 404
    assert (await api.get("/api/logs/postfix/by-queue/bad;id")).status_code in (400, 404)


@pytest.mark.parametrize(("params", "where", "exact"), [
    ({"direction": "outbound"}, "direction = 'outbound'", True),
    ({"action": "reject"}, "action = 'reject'", True),
    ({"is_spam": "true"}, "is_spam = true", True),
    ({"is_spam": "false"}, "is_spam = false", True),
    ({"min_score": "5", "max_score": "12.5"}, "score >= 5 AND score <= 12.5", False),
])
async def test_rspamd_filters(api, world, params, where, exact) -> None:
    body = (await api.get("/api/logs/rspamd", params={**params, "limit": 500})).json()
    want = scalar(world, f"SELECT COUNT(*) FROM rspamd_log WHERE {where}")
    assert want > 0
    assert body["total"] == (want if exact else min(want, 1000))  # rollup-counted filters are exact
    for r in body["data"]:
        assert RSPAMD_FIELDS <= set(r) and isinstance(r["symbols"], dict)
        assert isinstance(r["recipients_smtp"], list)
        if "min_score" in params:
            assert 5 <= r["score"] <= 12.5
        if "is_spam" in params:
            assert r["is_spam"] is (params["is_spam"] == "true")


async def test_rspamd_rows_know_their_message(api, world) -> None:
    body = (await api.get("/api/logs/rspamd", params={"limit": 100})).json()
    linked = [r for r in body["data"] if r["correlation_key"]]
    assert len(linked) > 50
    r = linked[0]
    details = (await api.get(f"/api/message/{r['correlation_key']}/details")).json()
    assert details["rspamd"]["score"] == r["score"]
    assert r["message_id"] is None or r["message_id"].startswith("<")


async def test_rspamd_search(api, world) -> None:
    subject = scalar(world, "SELECT subject FROM rspamd_log WHERE subject IS NOT NULL AND length(subject) > 8 "
                            "ORDER BY id LIMIT 1")
    term = subject[2:8]
    body = (await api.get("/api/logs/rspamd", params={"search": term, "limit": 500})).json()
    assert body["data"] and all(term.lower() in " ".join(str(r[k] or "") for k in
                                ("subject", "sender_smtp", "message_id")).lower() or True for r in body["data"])
    assert subject in {r["subject"] for r in body["data"]} or body["total_capped"]


async def test_netfilter(api, world) -> None:
    body = (await api.get("/api/logs/netfilter", params={"limit": 500})).json()
    assert body["total"] == scalar(world, "SELECT COUNT(*) FROM netfilter_log") > 0
    assert all(NETFILTER_FIELDS <= set(r) for r in body["data"])
    ip = scalar(world, "SELECT ip FROM netfilter_log WHERE action = 'warning' LIMIT 1")
    body = (await api.get("/api/logs/netfilter", params={"ip": ip, "action": "warning"})).json()
    assert body["total"] == scalar(world, "SELECT COUNT(*) FROM netfilter_log WHERE ip = :i AND action = 'warning'",
                                   i=ip) > 0
    assert {(r["ip"], r["action"]) for r in body["data"]} == {(ip, "warning")}
    user = scalar(world, "SELECT username FROM netfilter_log WHERE username IS NOT NULL LIMIT 1")
    if user:
        body = (await api.get("/api/logs/netfilter", params={"username": user.upper()})).json()
        assert body["data"] and {r["username"].lower() for r in body["data"]} == {user.lower()}
    body = (await api.get("/api/logs/netfilter", params={"search": ip})).json()
    assert body["data"] and all(ip in (r["message"] + (r["ip"] or "")) for r in body["data"])

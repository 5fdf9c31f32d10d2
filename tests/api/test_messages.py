"""GET /api/messages and /api/message/{key}/details against the emulator-filled database."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
FIELDS = {"correlation_key", "message_id", "queue_id", "sender", "recipient", "subject", "direction", "final_status",
          "is_complete", "first_seen", "last_seen", "spam_score", "is_spam", "user", "ip"}


def scalar(world, sql: str, **params):  # type: ignore[no-untyped-def]
    with world.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


async def test_page_shape_and_types(api, world) -> None:
    body = (await api.get("/api/messages", params={"limit": 20})).json()
    assert {"total", "page", "limit", "pages", "data"} <= set(body)
    assert body["total"] == scalar(world, "SELECT COUNT(*) FROM message")
    assert body["page"] == 1 and body["limit"] == 20 and body["pages"] == -(-body["total"] // 20)
    assert len(body["data"]) == 20
    for row in body["data"]:
        assert FIELDS <= set(row)
        assert ISO.match(row["first_seen"]) and ISO.match(row["last_seen"])
        assert isinstance(row["is_complete"], bool) and isinstance(row["is_spam"], bool)
        assert row["message_id"] is None or (row["message_id"].startswith("<") and row["message_id"].endswith(">"))
    seen = [r["first_seen"] for r in body["data"]]
    assert seen == sorted(seen, reverse=True)


async def test_pages_are_disjoint_and_the_last_page_is_read_from_the_end(api) -> None:
    first = (await api.get("/api/messages", params={"limit": 50})).json()
    second = (await api.get("/api/messages", params={"limit": 50, "page": 2})).json()
    keys1 = {r["correlation_key"] for r in first["data"]}
    assert not keys1 & {r["correlation_key"] for r in second["data"]}
    last = (await api.get("/api/messages", params={"limit": 50, "page": first["pages"]})).json()
    assert 0 < len(last["data"]) <= 50
    assert len(last["data"]) == first["total"] - 50 * (first["pages"] - 1)
    beyond = (await api.get("/api/messages", params={"limit": 50, "page": first["pages"] + 1})).json()
    assert beyond["data"] == [] and beyond["total"] == first["total"]


@pytest.mark.parametrize("status", ["delivered", "bounced", "deferred", "rejected", "expired"])
async def test_status_filter(api, world, status) -> None:
    body = (await api.get("/api/messages", params={"status": status, "limit": 100})).json()
    want = scalar(world, "SELECT COUNT(*) FROM message WHERE final_status = :s", s=status)
    assert body["total"] == want and want > 0
    assert {r["final_status"] for r in body["data"]} == {status}


async def test_spam_filter_counts_rspamd_verdict_and_spam_status(api, world) -> None:
    body = (await api.get("/api/messages", params={"status": "spam", "limit": 500})).json()
    want = scalar(world, "SELECT COUNT(*) FROM message WHERE is_spam = true OR final_status = 'spam'")
    assert body["total"] == want > 0
    assert all(r["is_spam"] or r["final_status"] == "spam" for r in body["data"])
    assert any(r["final_status"] != "spam" for r in body["data"])  # flagged by rspamd, delivered anyway


@pytest.mark.parametrize("direction", ["inbound", "outbound", "internal"])
async def test_direction_filter(api, world, direction) -> None:
    body = (await api.get("/api/messages", params={"direction": direction, "status": "delivered"})).json()
    want = scalar(world, "SELECT COUNT(*) FROM message WHERE direction = :d AND final_status = 'delivered'",
                  d=direction)
    assert body["total"] == want > 0
    assert {(r["direction"], r["final_status"]) for r in body["data"]} == {(direction, "delivered")}


async def test_sender_user_ip_filters_are_exact_and_case_insensitive(api, world) -> None:
    sender = scalar(world, "SELECT sender FROM message WHERE direction = 'outbound' AND sender <> '' LIMIT 1")
    body = (await api.get("/api/messages", params={"sender": sender.upper(), "limit": 500})).json()
    assert body["total"] == scalar(world, "SELECT COUNT(*) FROM message WHERE lower(sender) = :s", s=sender.lower())
    assert {r["sender"].lower() for r in body["data"]} == {sender.lower()}
    user = scalar(world, 'SELECT "user" FROM message WHERE "user" IS NOT NULL LIMIT 1')
    body = (await api.get("/api/messages", params={"user": user})).json()
    assert body["total"] > 0 and {r["user"] for r in body["data"]} == {user}
    ip = scalar(world, "SELECT ip FROM message WHERE direction = 'inbound' AND ip IS NOT NULL LIMIT 1")
    body = (await api.get("/api/messages", params={"ip": ip})).json()
    assert body["total"] > 0 and {r["ip"] for r in body["data"]} == {ip}


async def test_recipient_filter_finds_every_recipient_not_just_the_first(api, world) -> None:
    # a message with several recipients: filter on the alphabetically last one
    key, rcpts = None, None
    with world.engine.connect() as conn:
        key, rcpts = conn.execute(text("SELECT correlation_key, recipients FROM message WHERE recipient_count > 1 "
                                       "LIMIT 1")).one()
    last = rcpts.split()[-1]
    body = (await api.get("/api/messages", params={"recipient": last, "limit": 500})).json()
    want = scalar(world, "SELECT COUNT(DISTINCT message_ref) FROM delivery WHERE recipient = :r", r=last)
    assert body["total"] == min(want, 1000)
    pages = [body]
    for page in range(2, body["pages"] + 1):
        pages.append((await api.get("/api/messages", params={"recipient": last, "limit": 500, "page": page})).json())
    assert key in {r["correlation_key"] for p in pages for r in p["data"]}


async def test_date_range(api, world) -> None:
    lo = int(world.now) - 3600
    hi = int(world.now) - 1800
    params = {"start_date": datetime.fromtimestamp(lo, UTC).isoformat(),
              "end_date": datetime.fromtimestamp(hi, UTC).strftime("%Y-%m-%dT%H:%M:%S"), "limit": 500}
    body = (await api.get("/api/messages", params=params)).json()
    want = scalar(world, "SELECT COUNT(*) FROM message WHERE first_seen >= :a AND first_seen <= :b", a=lo, b=hi)
    assert body["total"] == want > 0  # exact from the rollup with both partial hours counted from the table
    for r in body["data"]:
        assert datetime.fromtimestamp(lo, UTC) <= datetime.fromisoformat(r["first_seen"]) <= \
            datetime.fromtimestamp(hi, UTC)


@pytest.mark.parametrize("term", ["gmail", "Invoice", "ab", "%", "_", "' OR 1=1 --", "\"; DROP TABLE message; --"])
async def test_search_is_a_substring_and_never_sql(api, world, term) -> None:
    body = (await api.get("/api/messages", params={"search": term, "limit": 500})).json()
    doc = ("lower(coalesce(sender, '') || ' ' || coalesce(recipients, '') || ' ' || coalesce(subject, '') || ' <' "
           "|| coalesce(message_id, '') || '> ' || coalesce(queue_id, ''))")
    with world.engine.connect() as conn:
        want = conn.execute(text(f"SELECT COUNT(*) FROM message WHERE instr({doc}, :t) > 0"
                                 if world.engine.dialect.name == "sqlite" else
                                 f"SELECT COUNT(*) FROM message WHERE strpos({doc}, :t) > 0"),
                            {"t": term.lower()}).scalar()
    assert body["total"] == min(want, 1000)
    assert body["total_capped"] == (want >= 1000)
    for r in body["data"]:
        hay = " ".join(str(r[k] or "") for k in ("sender", "recipient", "subject", "message_id", "queue_id"))
        if term.lower() not in hay.lower():  # the match may be in a recipient not shown
            key = r["correlation_key"]
            rcpts = scalar(world, "SELECT recipients FROM message WHERE correlation_key = :k", k=key)
            assert term.lower() in rcpts.lower()
    assert scalar(world, "SELECT COUNT(*) FROM message") > 0  # still there


async def test_search_finds_a_queue_id_and_a_message_id(api, world) -> None:
    with world.engine.connect() as conn:
        key, qid, mid = conn.execute(text("SELECT correlation_key, queue_id, message_id FROM message "
                                          "WHERE queue_id IS NOT NULL AND message_id IS NOT NULL LIMIT 1")).one()
    for term in (qid, f"<{mid}>", mid[3:15]):
        body = (await api.get("/api/messages", params={"search": term})).json()
        assert key in {r["correlation_key"] for r in body["data"]}, term


async def test_details_of_a_multi_recipient_message(api, world) -> None:
    with world.engine.connect() as conn:
        msg = conn.execute(text("SELECT id, correlation_key, recipients, ip FROM message WHERE recipient_count > 1 "
                                "AND rspamd_ref IS NOT NULL AND kind = 'mail' LIMIT 1")).mappings().one()
        statuses = dict(conn.execute(text("SELECT recipient, status FROM delivery WHERE message_ref = :m"),
                                     {"m": msg["id"]}).all())
    body = (await api.get(f"/api/message/{msg['correlation_key']}/details")).json()
    assert body["recipients"] == sorted(statuses) and body["recipient_count"] == len(statuses)
    assert {d["recipient"]: d["status"] for d in body["deliveries"]} == statuses
    assert set(body["postfix_by_recipient"]) >= {*statuses, "_system"}
    assert body["postfix"] and all(ISO.match(p["time"]) for p in body["postfix"])
    for rcpt in statuses:
        for line in body["postfix_by_recipient"][rcpt]:
            assert rcpt in line["message"].lower()
    assert body["postfix_by_recipient"]["_system"]  # client=, message-id=, from=, removed lines
    rs = body["rspamd"]
    assert {"time", "score", "required_score", "action", "symbols", "is_spam", "direction", "ip", "user", "has_auth",
            "size"} <= set(rs)
    assert isinstance(rs["symbols"], dict) and rs["symbols"]
    assert isinstance(body["netfilter"], list)


async def test_details_of_a_noqueue_reject_and_netfilter_events(api, world) -> None:
    with world.engine.connect() as conn:
        key = conn.execute(text("SELECT m.correlation_key FROM message m WHERE m.kind = 'noqueue' AND EXISTS "
                                "(SELECT 1 FROM netfilter_log n WHERE n.ip = m.ip) LIMIT 1")).scalar()
        if key is None:
            key = conn.execute(text("SELECT correlation_key FROM message WHERE kind = 'noqueue' LIMIT 1")).scalar()
    body = (await api.get(f"/api/message/{key}/details")).json()
    assert body["final_status"] == "rejected"
    assert body["postfix"] and all("NOQUEUE" in p["message"] for p in body["postfix"])


async def test_details_unknown_key_is_404(api) -> None:
    r = await api.get("/api/message/" + "0" * 64 + "/details")
    assert r.status_code == 404 and r.json() == {"detail": "Message not found"}


async def test_busy_recipient_walks_its_deliveries_newest_first(api, world, runtime) -> None:
    runtime.settings = runtime.settings.model_copy(update={"max_search_results": 300})
    with world.engine.connect() as conn:
        rcpt, n = conn.execute(text("SELECT recipient, COUNT(*) AS n FROM delivery GROUP BY recipient "
                                    "ORDER BY n DESC LIMIT 1")).one()
        assert n >= 300  # over the cap: the walk, not the id list
        want = set(conn.execute(text("SELECT m.correlation_key FROM message m JOIN delivery d ON d.message_ref = m.id "
                                     "WHERE d.recipient = :r ORDER BY m.id DESC LIMIT 150"), {"r": rcpt}).scalars())
    got = []
    for page in (1, 2, 3):
        body = (await api.get("/api/messages", params={"recipient": rcpt, "limit": 50, "page": page})).json()
        assert body["total"] == 300 and body["total_capped"]
        got += [r["correlation_key"] for r in body["data"]]
    assert len(got) == len(set(got)) == 150 and set(got) == want
    both = (await api.get("/api/messages", params={"recipient": rcpt, "status": "delivered", "limit": 100})).json()
    assert both["data"] and {r["final_status"] for r in both["data"]} == {"delivered"}


@pytest.mark.parametrize("term", ["invoice", "zz-no-such-text", "re"])
async def test_busy_recipient_with_a_search(api, world, runtime, term) -> None:
    runtime.settings = runtime.settings.model_copy(update={"max_search_results": 300})
    with world.engine.connect() as conn:
        rcpt = conn.execute(text("SELECT recipient FROM delivery GROUP BY recipient ORDER BY COUNT(*) DESC "
                                 "LIMIT 1")).scalar()
        doc = ("lower(coalesce(m.sender, '') || ' ' || coalesce(m.recipients, '') || ' ' || coalesce(m.subject, '') "
               "|| ' <' || coalesce(m.message_id, '') || '> ' || coalesce(m.queue_id, ''))")
        want = conn.execute(text(f"SELECT COUNT(*) FROM message m JOIN delivery d ON d.message_ref = m.id "
                                 f"WHERE d.recipient = :r AND {doc} LIKE :t"), {"r": rcpt, "t": f"%{term}%"}).scalar()
    body = (await api.get("/api/messages", params={"recipient": rcpt, "search": term, "limit": 500})).json()
    assert body["total"] == min(want, 300)
    for row in body["data"]:
        rcpts = (await api.get(f"/api/message/{row['correlation_key']}/details")).json()["recipients"]
        assert rcpt in rcpts

"""Statistics and mailbox statistics against the emulator-filled database."""

from __future__ import annotations

import re
import time

from sqlalchemy import text

from mlv.queries.mailbox_stats import clear_stats_cache

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def count(world, where: str, since: int) -> int:  # type: ignore[no-untyped-def]
    with world.engine.connect() as conn:
        return conn.execute(text(f"SELECT COUNT(*) FROM message WHERE first_seen >= :t AND {where}"),
                            {"t": since}).scalar()


async def test_dashboard_matches_the_tables(api, world) -> None:
    before = int(time.time())
    body = (await api.get("/api/stats/dashboard")).json()
    day = before - 86400
    assert body["messages"]["24h"] == count(world, "1 = 1", day) > 0
    assert body["messages"]["7d"] == body["messages"]["30d"] == body["messages"]["24h"]  # 3 hours of data
    assert body["spam"]["24h"] == count(world, "(is_spam = true OR final_status = 'spam')", day) > 0
    assert body["spam"]["percentage_24h"] == round(body["spam"]["24h"] * 100 / body["messages"]["24h"], 2)
    assert body["failed_deliveries"]["24h"] == count(world, "final_status IN ('bounced', 'expired', 'rejected')",
                                                     day)
    for d in ("inbound", "outbound", "internal"):
        assert body["direction"][f"{d}_24h"] == count(world, f"direction = '{d}'", day) > 0
    with world.engine.connect() as conn:
        auth = conn.execute(text("SELECT COUNT(*) FROM netfilter_log WHERE action = 'warning' AND time >= :t"),
                            {"t": day}).scalar()
    assert body["auth_failures"] == {"24h": auth, "7d": auth} and auth > 0


async def test_timeline(api, world) -> None:
    body = (await api.get("/api/stats/timeline", params={"hours": 5})).json()
    hours = body["timeline"]
    assert len(hours) == 5 and all(ISO.match(h["hour"]) and h["hour"].endswith(":00:00Z") for h in hours)
    assert [h["hour"] for h in hours] == sorted(h["hour"] for h in hours)
    assert sum(h["total"] for h in hours) == count(world, "1 = 1", int(time.time()) // 3600 * 3600 - 4 * 3600)
    assert all(h["spam"] + h["clean"] == h["total"] for h in hours)
    assert len((await api.get("/api/stats/timeline")).json()["timeline"]) == 24
    assert (await api.get("/api/stats/timeline", params={"hours": 0})).status_code == 400


async def test_top_lists_and_activity(api, world) -> None:
    triggers = (await api.get("/api/stats/top-spam-triggers", params={"limit": 5})).json()["triggers"]
    assert 0 < len(triggers) <= 5 and triggers == sorted(triggers, key=lambda t: (-t["count"], t["symbol"]))
    ips = (await api.get("/api/stats/top-blocked-ips")).json()["blocked_ips"]
    assert ips and all({"ip", "count", "last_seen"} <= set(i) and ISO.match(i["last_seen"]) for i in ips)
    with world.engine.connect() as conn:
        top = conn.execute(text("SELECT ip, COUNT(*) AS n FROM netfilter_log WHERE action IN ('warning', 'banned') "
                                "GROUP BY ip ORDER BY n DESC, ip LIMIT 1")).one()
    assert (ips[0]["ip"], ips[0]["count"]) == tuple(top)
    activity = (await api.get("/api/stats/recent-activity", params={"limit": 7})).json()["activity"]
    assert len(activity) == 7
    assert set(activity[0]) == {"time", "sender", "recipient", "subject", "direction", "status", "correlation_key"}


async def test_mailbox_stats(api, world) -> None:
    clear_stats_cache()
    body = (await api.get("/api/mailbox-stats/all", params={"sort_by": "sent_total", "page_size": 10})).json()
    assert body["total"] == 8 and body["page_size"] == 10 and body["total_pages"] == 1
    assert ISO.match(body["start_date"]) and body["start_date"].endswith("T00:00:00Z")
    boxes = body["mailboxes"]
    sent = [b["mailbox_counts"]["sent_total"] for b in boxes]
    assert sent == sorted(sent, reverse=True) and sent[0] > 0
    alice = next(b for b in boxes if b["username"] == "alice@example.org")
    with world.engine.connect() as conn:
        want_sent = conn.execute(text("SELECT COUNT(*) FROM message WHERE lower(sender) IN ('alice@example.org', "
                                      "'alice@example.com')")).scalar()
    assert alice["mailbox_counts"]["sent_total"] == want_sent
    c = alice["mailbox_counts"]
    assert c["sent_failed"] == c["sent_bounced"] + c["sent_deferred"] + c["sent_rejected"]
    assert {a["alias_address"] for a in alice["aliases"]} >= {"info@example.org", "team@example.org"}
    assert alice["combined_sent"] == c["sent_total"] + sum(a["sent_total"] for a in alice["aliases"])
    assert alice["combined_total"] == alice["combined_sent"] + alice["combined_received"]
    assert alice["quota_formatted"].endswith("GB") and alice["attributes"]["imap_access"] == "1"
    assert alice["last_imap_login"] is None or ISO.match(alice["last_imap_login"])
    found = (await api.get("/api/mailbox-stats/all", params={"search": "info@example"})).json()["mailboxes"]
    assert {b["username"] for b in found} == {"alice@example.org", "bob@example.org"}
    net = (await api.get("/api/mailbox-stats/all", params={"domain": "example.net", "sort_by": "username",
                                                              "sort_order": "asc"})).json()["mailboxes"]
    assert [b["username"] for b in net] == sorted(b["username"] for b in net) and len(net) == 3
    summary = (await api.get("/api/mailbox-stats/summary", params={"date_range": "today"})).json()
    assert summary["total_mailboxes"] == 8 and summary["date_range"] == "today"
    domains = (await api.get("/api/mailbox-stats/domains")).json()["domains"]
    assert domains == [{"domain": "example.net", "mailbox_count": 3}, {"domain": "example.org", "mailbox_count": 5}]
    assert (await api.get("/api/mailbox-stats/all", params={"page_size": 5})).status_code == 400
    assert (await api.get("/api/mailbox-stats/all", params={"date_range": "1year"})).status_code == 400

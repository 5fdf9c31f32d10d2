"""The rollups (kept by triggers) equal a recount of their tables after imports, updates and deletes;
the search index follows message updates."""

from __future__ import annotations

import time

from sqlalchemy import Engine, text

from mlv.correlate.rules import LocalDomains
from mlv.ingest.pipeline import ingest
from mlv.jobs import cleanup_old
from mlv.mailcow.generator import TrafficGenerator
from mlv.mailcow.site import ALIAS_DOMAINS, DOMAINS
from mlv.queries.messages import MessageFilter, list_messages
from tests.correlate.test_truth import as_sources

RECOUNT = {
    "message_hourly": (
        "SELECT server_id, hour, direction, final_status, is_spam, messages FROM message_hourly WHERE messages <> 0",
        "SELECT server_id, first_seen - first_seen % 3600, coalesce(direction, ''), coalesce(final_status, ''), "
        "is_spam, COUNT(*) FROM message GROUP BY 1, 2, 3, 4, 5"),
    "address_daily": (
        "SELECT server_id, day, address, role, status, messages FROM address_daily WHERE messages <> 0",
        "SELECT server_id, first_seen - first_seen % 86400, lower(sender), 's', coalesce(final_status, ''), COUNT(*) "
        "FROM message WHERE coalesce(sender, '') <> '' GROUP BY 1, 2, 3, 4, 5 UNION ALL "
        "SELECT server_id, time - time % 86400, lower(coalesce(nullif(orig_to, ''), recipient)), 'r', status, "
        "COUNT(*) FROM delivery GROUP BY 1, 2, 3, 4, 5"),
    "postfix_hourly": ("SELECT server_id, hour, status, lines FROM postfix_hourly WHERE lines <> 0",
                       "SELECT server_id, time - time % 3600, coalesce(status, ''), COUNT(*) FROM postfix_log "
                       "GROUP BY 1, 2, 3"),
    "rspamd_hourly": ("SELECT server_id, hour, direction, action, is_spam, lines FROM rspamd_hourly WHERE lines <> 0",
                      "SELECT server_id, time - time % 3600, coalesce(direction, ''), action, is_spam, COUNT(*) "
                      "FROM rspamd_log GROUP BY 1, 2, 3, 4, 5"),
    "netfilter_hourly": ("SELECT server_id, hour, action, lines FROM netfilter_hourly WHERE lines <> 0",
                         "SELECT server_id, time - time % 3600, action, COUNT(*) FROM netfilter_log GROUP BY 1, 2, 3"),
}


def check(engine: Engine) -> None:
    with engine.connect() as conn:
        for name, (rollup, recount) in RECOUNT.items():
            got = sorted(tuple(r) for r in conn.execute(text(rollup)))
            want = sorted(tuple(r) for r in conn.execute(text(recount)))
            assert got == want, name
        spam = conn.execute(text("SELECT COUNT(*) FROM spam_symbol_daily WHERE hits < 0")).scalar()
        assert spam == 0


def test_rollups_follow_imports_updates_and_retention(engine: Engine) -> None:
    start = time.time() - 6 * 3600
    gen = TrafficGenerator(seed=5, rate=15.0, start=start)
    domains = LocalDomains([*DOMAINS, *ALIAS_DOMAINS])
    for _ in range(36):  # 6 hours in 10-minute batches: deferrals resolve, messages change status
        gen.advance(600)
        ingest(engine, as_sources(gen.drain()), domains=domains)
    check(engine)
    with engine.connect() as conn:
        before = conn.execute(text("SELECT COUNT(*) FROM message")).scalar()
    deleted = cleanup_old(engine, 0, now=start + 3 * 3600 + 86400 * 0)
    assert deleted["message"] > 0
    check(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COALESCE(SUM(messages), 0) FROM message_hourly")).scalar() == \
            before - deleted["message"]


def test_search_index_follows_message_updates(engine: Engine) -> None:
    gen = TrafficGenerator(seed=9, rate=20.0, start=time.time() - 3600)
    domains = LocalDomains([*DOMAINS, *ALIAS_DOMAINS])
    for _ in range(6):
        gen.advance(600)
        ingest(engine, as_sources(gen.drain()), domains=domains)
    with engine.begin() as conn:
        mid = conn.execute(text("SELECT id FROM message WHERE subject IS NOT NULL LIMIT 1")).scalar()
        conn.execute(text("UPDATE message SET subject = 'Quarterly zebra report' WHERE id = :i"), {"i": mid})
    found = list_messages(engine=engine, filters=MessageFilter(search="zebra rep"))
    assert found["total"] == 1
    with engine.begin() as conn:
        conn.execute(text("UPDATE message SET subject = 'nothing to see' WHERE id = :i"), {"i": mid})
    assert list_messages(engine=engine, filters=MessageFilter(search="zebra"))["total"] == 0
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM delivery WHERE message_ref = :i"), {"i": mid})
        conn.execute(text("DELETE FROM message WHERE id = :i"), {"i": mid})
    assert list_messages(engine=engine, filters=MessageFilter(search="nothing to see"))["total"] == 0

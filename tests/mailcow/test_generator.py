"""The traffic generator without HTTP: determinism, cross-source consistency, ground truth."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from mlv.mailcow.generator import TrafficGenerator
from mlv.mailcow.site import FORWARDS, is_local

QID = r"([0-9A-F]{6,}|[0-9a-zA-Z]{12,})"
DELIVERY = re.compile(QID + r": to=<([^>]*)>, (?:orig_to=<([^>]*)>, )?relay=.*? status=(\w+) \((.*)\)$")
EXPIRED = re.compile(QID + r": from=<[^>]*>, status=expired, returned to sender$")
CLEANUP_MID = re.compile(QID + r": message-id=<([^>]*)>$")
MILTER = re.compile(QID + r": milter-reject: END-OF-MESSAGE from \S+: (\d)\.\d\.\d ")
SASL_FAIL = re.compile(r"warning: \S+\[([0-9a-f.:]+)\]: SASL \w+ authentication failed")
STATUS = {"sent": "delivered", "deferred": "deferred", "bounced": "bounced"}
ALL_KINDS = {"inbound", "outbound", "internal", "forward", "autoreply", "dsn", "deferred", "expired", "bounce",
             "noqueue_reject", "postscreen_reject", "spam_reject", "spam_junk", "greylist", "no_message_id",
             "ratelimited"}


@pytest.fixture(scope="module")
def run():
    """Six simulated hours of traffic, everything drained once."""
    gen = TrafficGenerator(seed=11, rate=8.0)
    gen.advance(6 * 3600)
    return gen, gen.drain(), gen.truth()


def test_same_seed_same_output() -> None:
    a, b = TrafficGenerator(seed=5), TrafficGenerator(seed=5)
    for gen in (a, b):
        gen.advance(1800)
        gen.burst(50)
        gen.advance(600)
    assert a.drain() == b.drain()
    assert a.truth() == b.truth()
    c = TrafficGenerator(seed=6)
    c.advance(1800)
    assert c.drain()["postfix"] != TrafficGenerator(seed=5).drain()["postfix"]


def test_item_shapes_and_time_order(run) -> None:
    _, out, _ = run
    pf = out["postfix"]
    assert len(pf) > 20000
    assert all(set(i) == {"time", "priority", "program", "message"} and isinstance(i["time"], str) for i in pf)
    times = [int(i["time"]) for i in pf]
    assert times == sorted(times)
    assert max(times.count(t) for t in set(times[:2000])) >= 5  # many lines share a second
    nf = out["netfilter"]
    assert nf and all(set(i) == {"time", "priority", "message"} and isinstance(i["time"], int) for i in nf)
    assert {i["priority"] for i in nf} <= {"info", "warn", "crit"}
    row = out["rspamd-history"][0]
    assert {"message-id", "unix_time", "score", "required_score", "action", "thresholds", "symbols", "rcpt_smtp",
            "sender_smtp", "size", "ip", "user", "subject", "time_real", "is_skipped"} <= set(row)
    assert row["thresholds"] == {"reject": 15, "add header": 8, "greylist": 7}
    assert all(type(v) is int for v in row["thresholds"].values())  # PHP: 15.0 -> 15


def test_exact_duplicate_lines_exist(run) -> None:
    _, out, _ = run
    seen, dups = set(), 0
    for i in out["postfix"]:
        key = (i["time"], i["program"], i["message"])
        dups += key in seen
        seen.add(key)
    assert dups > 0


def test_rspamd_rows_match_postfix(run) -> None:
    gen, out, _ = run
    mids = defaultdict(set)  # message-id -> queue ids
    rcpts = defaultdict(set)  # queue id -> to= and orig_to= addresses
    sizes = defaultdict(set)  # queue id -> qmgr sizes (ids are recycled, rarely)
    for i in out["postfix"]:
        msg = i["message"]
        if m := CLEANUP_MID.match(msg):
            mids[m.group(2)].add(m.group(1))
        elif m := DELIVERY.match(msg):
            rcpts[m.group(1)].update(x for x in (m.group(2), m.group(3)) if x)
        elif i["program"] == "postfix/qmgr" and ", size=" in msg:
            sizes[msg.split(":")[0]].add(int(msg.split("size=")[1].split(",")[0]))
    end = gen.now - 600
    for row in out["rspamd-history"]:
        mid = row["message-id"]
        if mid == "undef":
            continue
        assert mid in mids, mid
        if row["action"] in ("no action", "add header") and row["unix_time"] < end:
            delivered = set().union(*(rcpts[q] for q in mids[mid]))
            assert set(row["rcpt_smtp"]) <= delivered, (mid, row["rcpt_smtp"], delivered)
            assert any(0 < size - row["size"] < 1000 for q in mids[mid] for size in sizes[q])
        symbols = row["symbols"]
        if row["user"] != "unknown":
            assert symbols["MAILCOW_AUTH"]["score"] == -20
        score = row["score"]
        want = ("reject" if score >= 15 else "add header" if score >= 8 else "greylist" if score >= 7
                else "no action")
        assert row["action"] == want or row["action"] == "soft reject", row


def test_quarantine_mailq_netfilter_consistency(run) -> None:
    gen, out, _ = run
    pf = out["postfix"]
    milter_qids = {m.group(1) for i in pf if (m := MILTER.match(i["message"])) and m.group(2) == "5"}
    assert out["quarantine"]
    for q in out["quarantine"]:
        assert q["qid"] in milter_qids
    deferred = {}
    for i in pf:
        if (m := DELIVERY.match(i["message"])) and m.group(4) == "deferred":
            deferred[(m.group(1), m.group(2))] = m.group(5)
    mailq = gen.mailq()
    assert any(e["queue_name"] == "deferred" for e in mailq)
    for e in mailq:
        if e["queue_name"] == "deferred":
            for r in e["recipients"]:
                addr, _, reason = r.partition(" (")
                assert deferred[(e["queue_id"], addr)] == reason[:-1]
    sasl = {(i["time"], ip) for i in pf if (m := SASL_FAIL.search(i["message"])) for ip in [m.group(1)]}
    matched = [i for i in out["netfilter"] if "matched rule id 3 " in i["message"]]
    assert matched and any(":" in i["message"].split()[0] for i in out["netfilter"])  # IPv6 too
    for i in matched:
        assert (str(i["time"]), i["message"].split()[0]) in sasl
    bans = [i for i in out["netfilter"] if i["message"].startswith("Banning ")]
    unbans = [i for i in out["netfilter"] if i["message"].startswith("Unbanning ")]
    assert bans and unbans and all(i["priority"] == "crit" for i in bans)


def test_truth_queue_ids_and_statuses_follow_the_lines(run) -> None:
    _, out, truth = run
    qids_in_lines = set()
    last = {}  # (qid, to) -> status from the last delivery line
    expired = set()
    orig = defaultdict(set)
    for i in out["postfix"]:
        msg = i["message"]
        qids_in_lines.add(msg.split(":")[0])
        if m := DELIVERY.match(msg):
            last[(m.group(1), m.group(2))] = STATUS[m.group(4)]
            if m.group(3):
                orig[m.group(1)].add(m.group(3))
        elif m := EXPIRED.match(msg):
            expired.add(m.group(1))
    for t in truth:
        assert set(t["queue_ids"]) <= qids_in_lines, t
        assert (t["noqueue"] is None) == bool(t["queue_ids"]), t
        for rcpt, status in t["recipients"].items():
            lines = [last[(q, rcpt)] for q in t["queue_ids"] if (q, rcpt) in last]
            if status == "expired":
                assert lines[-1] == "deferred" and any(q in expired for q in t["queue_ids"])
            elif status in ("delivered", "bounced") or (status == "deferred" and lines):
                assert lines and lines[-1] == status, (t, rcpt)
            elif status in ("spam", "deferred"):  # milter reject / greylist: envelope recipients
                assert t["action"] in ("reject", "greylist", "soft reject"), t
            else:
                assert status == "rejected" and not t["queue_ids"], t


def test_truth_covers_every_scenario(run) -> None:
    _, _, truth = run
    kinds = {t["kind"] for t in truth}
    assert kinds >= ALL_KINDS, ALL_KINDS - kinds
    by_mid = {t["message_id"]: t for t in truth if t["message_id"]}
    for t in truth:
        statuses = set(t["recipients"].values())
        if t["kind"] == "spam_reject":
            assert statuses == {"spam"} and t["is_spam"] and t["action"] == "reject"
        if t["kind"] in ("noqueue_reject", "postscreen_reject"):
            assert statuses == {"rejected"} and t["message_id"] is None and t["noqueue"]["client_ip"]
        if t["kind"] == "forward" and len(t["queue_ids"]) > 1:
            assert any(not is_local(r) for r in t["recipients"]) and t["direction"] == "inbound"
        if t["kind"] in ("dsn", "autoreply"):
            assert t["sender"] == "" and t["direction"] in ("internal", "outbound")
        if t["kind"] == "dsn":
            assert t["message_id"].endswith(f".{t['queue_ids'][0]}@mail.example.org")
        if t["kind"] == "no_message_id":
            assert t["message_id"] is None and len(t["queue_ids"]) == 1
        if t["kind"] == "greylist":
            assert statuses <= {"deferred", "delivered"}
            if "delivered" in statuses:
                assert len(t["queue_ids"]) == 2
        if t["kind"] == "spam_junk":
            assert t["is_spam"] and t["action"] == "add header"
        if t["direction"] == "internal":  # a sieve forward target does not change the direction
            assert all(is_local(r) or r in FORWARDS.values() for r in t["recipients"])
        if t["kind"] == "outbound" and t["sender"].endswith("@example.com"):
            assert t["direction"] in ("outbound", "internal")  # alias domain: local
    bounced = [t for t in truth if t["kind"] == "bounce" and "bounced" in t["recipients"].values()]
    assert bounced
    dsn_rcpts = {r for t in truth if t["kind"] == "dsn" for r in t["recipients"]}
    assert any(t["sender"].replace("@example.com", "@example.org") in dsn_rcpts for t in bounced)
    assert any(s == "expired" for t in truth for s in t["recipients"].values())
    assert any("delivered" in t["recipients"].values() and len(t["queue_ids"]) == 2 for t in by_mid.values()
               if t["kind"] == "greylist")


def test_queue_ids_short_and_long() -> None:
    gen = TrafficGenerator(seed=2)
    gen.advance(900)
    ids = {q for t in gen.truth() for q in t["queue_ids"]}
    assert ids and all(re.fullmatch(r"[0-9A-F]{10,12}", q) for q in ids)
    long_gen = TrafficGenerator(seed=2, long_queue_ids=True)
    long_gen.advance(900)
    ids = {q for t in long_gen.truth() for q in t["queue_ids"]}
    assert ids and all(re.fullmatch(r"[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10}z[0-9a-zA-Z]+", q) for q in ids)


def test_null_items_when_asked() -> None:
    gen = TrafficGenerator(seed=2, null_rate=0.05)
    gen.advance(900)
    assert None in gen.drain()["postfix"]

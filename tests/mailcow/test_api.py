"""The emulator over real HTTP: mailcow's auth quirks, count rules, encoding and controls."""

from __future__ import annotations

import json

import httpx
import pytest

from mlv.mailcow.buffers import LogBuffer, parse_count
from mlv.mailcow.emulator import Emulator, generate_api_key, start_emulator_thread
from mlv.mailcow.phpjson import compact_mailq, phpify, pretty

KEY = "8F3A1C-22D9E0-B7C4F1-0A9E3D-5C6B7A"


@pytest.fixture(scope="module")
def server():
    """One emulator with three hours of history; tests only read (or restore what they change)."""
    em = Emulator(seed=4, rate=8.0, api_key=KEY, backfill_seconds=3 * 3600, slow_seconds=1.0)
    handle = start_emulator_thread(em)
    yield em, handle
    handle.stop()


@pytest.fixture
def client(server):
    _, handle = server
    with httpx.Client(base_url=handle.url, headers={"X-API-Key": KEY}, timeout=10) as c:
        yield c


def get(client: httpx.Client, path: str):
    r = client.get("/api/v1/get/" + path)
    assert r.headers["content-type"] == "application/json"
    return r


# ------------------------------------------------------------------ auth and routing
def test_auth_quirks(server, client) -> None:
    _, handle = server
    r = httpx.get(handle.url + "/api/v1/get/logs/postfix/5")
    assert (r.status_code, r.content, r.headers["content-type"]) == (200, b"", "application/json")
    r = httpx.get(handle.url + "/api/v1/get/logs/postfix/5", headers={"X-API-Key": "WRONG"})
    assert (r.status_code, r.content) == (401, b'{"type":"error","msg":"authentication failed"}')
    r = client.get("/api/v1/get/logs/postfix/5", headers={"Sec-Fetch-Dest": "document"})
    assert (r.status_code, r.content) == (403, b"")
    assert client.get("/api/v1/get/logs/postfix/5", headers={"Sec-Fetch-Dest": "empty"}).status_code == 200
    # the key is stripped to [A-Za-z0-9-] before lookup
    assert client.get("/api/v1/get/logs/postfix/1", headers={"X-API-Key": f"{KEY}!;"}).status_code == 200
    assert len(generate_api_key().split("-")) == 5


def test_routes_and_methods(client) -> None:
    assert get(client, "nope").json() == {"type": "error", "msg": "route not found"}
    assert get(client, "logs/nope/10").status_code == 404
    r = client.post("/api/v1/get/logs/postfix/10")
    assert (r.status_code, r.json()["msg"]) == (405, "only GET method is allowed")
    r = client.get("/api/v1/delete/mailq")
    assert (r.status_code, r.json()["msg"]) == (405, "only POST method is allowed")
    assert client.post("/api/v1/edit/domain", content=b"{nope").status_code == 400
    r = get(client, "status/nope")
    assert (r.status_code, r.content) == (200, b"")


# ------------------------------------------------------------------ count rules
def test_count_rules(client) -> None:
    ten = get(client, "logs/postfix/10").json()
    assert len(ten) == 10
    assert len(get(client, "logs/postfix").json()) == 1000
    assert get(client, "logs/postfix/3-5").json() == ten[2:5]
    assert get(client, "logs/postfix/4-4").json() == ten[3:4]
    assert len(get(client, "logs/postfix/2.5").json()) == 25  # PHP strips the dot
    for bad in ("0", "-5", "5-", "10-5", "abc", ""):
        r = get(client, f"logs/postfix/{bad}")
        assert (r.status_code, r.content) == (200, b"{}"), bad
    assert get(client, "logs/postfix/99990-99999").content == b"{}"
    rows = get(client, "logs/rspamd-history/6").json()
    assert get(client, "logs/rspamd-history/2-4").json() == rows[2:5]  # 0-based: entries #3..#5
    assert get(client, "logs/rspamd-history/5000").json() == get(client, "logs/rspamd-history/1000").json()
    assert len(get(client, "logs/rspamd-history/5000").json()) == 1000
    assert get(client, "logs/rspamd-history/abc").content == b"{}"
    assert parse_count(None) == (1, 1000, False) and parse_count("1e3") == (1, 13, False)


def test_empty_results_object_vs_list(server, client) -> None:
    em, _ = server
    assert get(client, "domain/nope.example").content == b"{}"
    assert get(client, "mailbox/nobody@example.org").content == b"{}"
    assert get(client, "alias/999").content == b"{}"
    assert get(client, "dkim/nope.example").content == b"{}"
    assert get(client, "quarantine/999999").content == b"[]"
    saved = list(em.quarantine)
    em.quarantine.clear()
    try:
        assert get(client, "quarantine/all").content == b"[]"
    finally:
        em.quarantine.extend(saved)
    assert compact_mailq([]) == b"[]"


# ------------------------------------------------------------------ encoding
def test_encoding_fidelity(client) -> None:
    raw = get(client, "logs/postfix/20").content
    assert raw.startswith(b'[\n    {\n        "time": "')
    assert b'"program": "postfix\\/' in raw and b'"program": "postfix/' not in raw
    rspamd = get(client, "logs/rspamd-history/50").content
    assert b'"required_score": 15,' in rspamd and b'"reject": 15,' in rspamd and b"15.0" not in rspamd
    mailbox = get(client, "mailbox/dave@example.org")
    assert b'"custom_attributes": [],' in mailbox.content and mailbox.json()["percent_in_use"] == "- "
    assert "tags" not in get(client, "domain/example.net").json()
    assert get(client, "domain/example.com").json()["domain_name"] == "example.org"  # alias domain
    containers = get(client, "status/containers")
    assert b"ghcr.io/mailcow/" in containers.content and b"\n" not in containers.content
    assert len(containers.json()) == 18
    assert get(client, "status/version").content == b'{"version":"2026-07a"}'
    vmail = get(client, "status/vmail").json()
    assert all(isinstance(v, str) for v in vmail.values())
    dkim = get(client, "dkim/example.org")
    assert len(dkim.json()["pubkey"]) == 392 and b"\\/" in dkim.content and dkim.json()["length"] == "2048"
    assert phpify({"a": 15.0, "b": {}, "c": [0.5, -20.0]}) == {"a": 15, "b": [], "c": [0.5, -20]}
    assert pretty({"x": "a/b", "y": "é"}) == '{\n    "x": "a\\/b",\n    "y": "é"\n}'.encode()
    assert compact_mailq([{"r": "a/é"}]) == b'[{"r":"a\\/\\u00e9"}]'


def test_objects(client) -> None:
    domains = get(client, "domain/all").json()
    assert [d["domain_name"] for d in domains] == ["example.net", "example.org"]
    assert isinstance(domains[1]["bytes_total"], str) and domains[1]["active"] == 1
    assert get(client, "domain/all?tags=eu").json()[0]["domain_name"] == "example.org"
    assert len(get(client, "mailbox/all/example.net").json()) == 3
    assert {a["address"] for a in get(client, "alias/all").json()} >= {"info@example.org"}
    assert get(client, "alias-domain/all").json()[0]["target_domain"] == "example.org"
    assert get(client, "status/host/ip").json() == {"ipv4": "203.0.113.10", "ipv6": "2001:db8:42::10"}
    assert get(client, "fail2ban").json()["max_attempts"] == 10


# ------------------------------------------------------------------ cross-source consistency
def test_quarantine_and_mailq_consistent_with_postfix(client) -> None:
    lines = get(client, "logs/postfix/10000").json()
    oldest = int(lines[-1]["time"])
    rejected = {x["message"].split(":")[0] for x in lines if "milter-reject: END-OF-MESSAGE" in x["message"]
                and ": 5.7.1 " in x["message"]}
    quarantine = get(client, "quarantine/all").json()
    assert quarantine and quarantine == sorted(quarantine, key=lambda q: q["id"])  # oldest first
    checked = [q for q in quarantine if q["created"] > oldest + 5]
    assert checked and all(q["qid"] in rejected for q in checked)
    deferred = {}
    for x in reversed(lines):  # oldest first: the last deferral wins
        msg = x["message"]
        if "status=deferred (" in msg:
            qid, to = msg.split(":")[0], msg.split("to=<")[1].split(">")[0]
            deferred[(qid, to)] = msg.split("status=deferred (", 1)[1][:-1]
    for e in get(client, "mailq/all").json():
        if e["queue_name"] == "deferred" and e["arrival_time"] > oldest + 5:
            for r in e["recipients"]:
                addr, _, reason = r.partition(" (")
                assert deferred[(e["queue_id"], addr)] == reason[:-1]


# ------------------------------------------------------------------ ring buffers and controls
def test_ring_caps() -> None:
    em = Emulator(seed=9, rate=900.0, api_key=KEY)
    handle = start_emulator_thread(em)
    try:
        with httpx.Client(base_url=handle.url, headers={"X-API-Key": KEY}) as c:
            em.advance(110)  # > 10 000 postfix lines, crossing a minute boundary
            em.gen.rate = 0.0
            em.advance(61)
            n = len(get(c, "logs/postfix/30000").json())
            assert 10000 <= n < 10600, n
            assert len(get(c, "logs/rspamd-history/30000").json()) == 1000
    finally:
        handle.stop()
    buf = LogBuffer(101, "insert")
    for i in range(300):
        buf.push({"time": i}, i)
    assert len(buf) == 101 and buf.items(1, 1) == [{"time": 299}]


def test_determinism_over_http() -> None:
    bodies = []
    for _ in range(2):
        em = Emulator(seed=21, rate=10.0, api_key=KEY, backfill_seconds=1800)
        handle = start_emulator_thread(em)
        try:
            with httpx.Client(base_url=handle.url, headers={"X-API-Key": KEY}) as c:
                bodies.append([get(c, f"logs/{log}/10000").content
                               for log in ("postfix", "rspamd-history", "netfilter", "dovecot")])
        finally:
            handle.stop()
    assert bodies[0] == bodies[1]


def test_controls_reset_burst_faults(server, client) -> None:
    _, handle = server
    assert httpx.get(handle.url + "/_emulator/truth").status_code == 401
    truth = client.get("/_emulator/truth").json()
    assert truth and {"key", "message_id", "queue_ids", "recipients", "direction", "kind"} <= set(truth[0])
    before = len(get(client, "logs/postfix/30000").json())
    assert client.post("/_emulator/burst", params={"messages": 600}).status_code == 200
    after = len(get(client, "logs/postfix/30000").json())
    assert after - before > 3000
    assert client.post("/_emulator/reset").status_code == 200
    assert len(get(client, "logs/postfix/100").json()) == 1  # "daemon started"
    assert get(client, "logs/rspamd-history/10").content == b"{}"
    assert client.post("/_emulator/advance", params={"seconds": 120}).json()["type"] == "success"
    assert len(get(client, "logs/postfix/100").json()) > 1
    try:
        client.post("/_emulator/fault", params={"mode": "error500"})
        assert get_raw(client, "logs/postfix/1").status_code == 500
        client.post("/_emulator/fault", params={"mode": "garbage"})
        with pytest.raises(json.JSONDecodeError):
            json.loads(get(client, "logs/postfix/1").content)
        client.post("/_emulator/fault", params={"mode": "badkey"})
        assert get(client, "logs/postfix/1").status_code == 401
        client.post("/_emulator/fault", params={"mode": "slow"})
        with pytest.raises(httpx.ReadTimeout):
            client.get("/api/v1/get/logs/postfix/1", timeout=0.3)
        assert client.post("/_emulator/fault", params={"mode": "bogus"}).status_code == 400
    finally:
        client.post("/_emulator/fault", params={"mode": "none"})
    assert get(client, "logs/postfix/1").status_code == 200


def get_raw(client: httpx.Client, path: str) -> httpx.Response:
    return client.get("/api/v1/get/" + path)

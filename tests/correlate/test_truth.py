"""Correlation measured against the emulator's ground truth (direction and per-recipient status)."""

from __future__ import annotations

from sqlalchemy import Engine, text

from mlv.correlate.engine import correlation_key
from mlv.ingest.pipeline import ingest
from mlv.mailcow.generator import TrafficGenerator
from mlv.mailcow.site import ALIAS_DOMAINS, DOMAINS

LOCAL = [*DOMAINS, *ALIAS_DOMAINS]


def as_sources(drained: dict[str, list]) -> dict[str, list]:
    """The generator's log names -> the pipeline's source names."""
    return {"postfix": drained["postfix"], "rspamd": drained["rspamd-history"],
            "netfilter": drained["netfilter"], "dovecot": drained["dovecot"]}


def compare_with_truth(engine: Engine, truth: list[dict], *, server_id: int = 1) -> tuple[float, list[str]]:
    """The share of truth messages whose direction and every recipient's status we got right."""
    ok, problems = 0, []
    with engine.connect() as conn:
        for t in truth:
            if t["queue_ids"]:
                ref = conn.execute(text(
                    "SELECT message_ref FROM message_queue WHERE server_id = :s AND queue_id = :q "
                    "ORDER BY ABS(first_seen - :t) LIMIT 1"),
                    {"s": server_id, "q": t["queue_ids"][0], "t": t["first_time"]}).scalar_one_or_none()
            else:
                nq = t["noqueue"]
                key = correlation_key(server_id, "noqueue", nq["time"], nq["client_ip"], nq["sender"])
                ref = conn.execute(text("SELECT id FROM message WHERE correlation_key = :k"),
                                   {"k": key}).scalar_one_or_none()
            if ref is None:
                problems.append(f"{t['kind']} {t['key']}: no message found")
                continue
            msg = conn.execute(text("SELECT direction, is_spam, spam_action FROM message WHERE id = :i"),
                               {"i": ref}).one()
            ours = dict(conn.execute(text("SELECT recipient, status FROM delivery WHERE message_ref = :i"),
                                     {"i": ref}).all())
            want = {r.lower(): s for r, s in t["recipients"].items()}
            # The spam verdict is rspamd's: judged where rspamd saw the mail.
            spam_ok = t["action"] is None or (bool(msg.is_spam) == t["is_spam"] and msg.spam_action == t["action"])
            if msg.direction == t["direction"] and ours == want and spam_ok:
                ok += 1
            else:
                problems.append(f"{t['kind']} {t['key']} q={t['queue_ids']}: direction {msg.direction} vs "
                                f"{t['direction']}, recipients {ours} vs {want}, spam {msg.spam_action} vs "
                                f"{t['action']}")
    return (ok / len(truth) if truth else 1.0), problems


def test_correlation_matches_ground_truth(engine: Engine) -> None:
    gen = TrafficGenerator(seed=7, rate=12.0)
    # A fetch a minute, as the job does, over four simulated hours.
    from mlv.correlate.rules import LocalDomains

    domains = LocalDomains(LOCAL)
    for _ in range(240):
        gen.advance(60)
        ingest(engine, as_sources(gen.drain()), domains=domains)
    truth = gen.truth()
    kinds = {t["kind"] for t in truth}
    assert len(truth) > 1500
    assert {"inbound", "outbound", "internal", "forward", "dsn", "noqueue_reject", "spam_reject"} <= kinds
    rate, problems = compare_with_truth(engine, truth)
    print(f"\ncorrelation vs ground truth: {rate:.2%} of {len(truth)} messages "
          f"(direction, per-recipient status, spam verdict)")
    for line in problems[:15]:
        print("  ", line)
    assert rate >= 0.995, problems[:15]

"""Two writers at once (the fetch job and `mlv import-log`, say) never trip over each other."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, text

from mlv.correlate.rules import LocalDomains
from mlv.ingest.pipeline import ingest
from mlv.mailcow.generator import TrafficGenerator
from tests.correlate.test_truth import LOCAL, as_sources


def test_concurrent_ingests_are_serialised(engine: Engine) -> None:
    batches = []
    for seed, day in ((21, 0), (22, 1)):  # different days: no line of one stream is also in the other
        gen = TrafficGenerator(seed=seed, start=1785571200 + day * 86400, rate=20.0, noise=False)
        gen.advance(1800)
        batches.append(as_sources(gen.drain()))
    errors: list[BaseException] = []

    def work(batch: dict) -> None:
        try:
            for start in range(0, len(batch["postfix"]), 500):
                ingest(engine, {"postfix": batch["postfix"][start:start + 500]}, domains=LocalDomains(LOCAL))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        lines = conn.execute(text("SELECT COUNT(*) FROM postfix_log")).scalar_one()
        ids = conn.execute(text("SELECT COUNT(DISTINCT id), COUNT(*) FROM message")).one()
    assert lines == sum(sum(1 for i in b["postfix"] if i) for b in batches)
    assert ids[0] == ids[1] > 0

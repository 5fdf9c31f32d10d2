"""Free-text search is case-insensitive the same way whichever plan reads it (rare or common term),
whether a line's ASCII flag (migration 0006) is set as the import sets it or not known yet."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mlv.queries.logs import PostfixFilter, list_postfix

LINES = ["to=<a@example.org>, status=sent (250 OK)", "to=<b@example.org>, STATUS=Sent (250 OK)",
         "to=<c@example.org>, Status=SENT (250 Grüße)", "to=<d@example.org>, STATUS=SENT (ÄÖÜ)",
         "to=<e@example.org>, status=deferred (451 try later)", "connect from unknown[192.0.2.1]",
         # U+212A KELVIN SIGN: the database's lower() makes it an ASCII "k", the "C" collation's does not
         "to=<f@example.org>, status=sent (250 \u212aept)"]


def _fill(engine, copies: int, flags: str = "import") -> None:  # type: ignore[no-untyped-def]
    """`flags`: "import" sets message_ascii as the import does, "unknown" leaves it NULL (older rows)."""
    rows = [{"t": 1_700_000_000 + i, "h": i, "m": LINES[i % len(LINES)],
             "a": LINES[i % len(LINES)].isascii() if flags == "import" else None}
            for i in range(copies * len(LINES))]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO postfix_log (server_id, time, line_hash, priority, program, message, "
                          "message_ascii, kind) VALUES (1, :t, :h, 'info', 'postfix/smtp', :m, :a, 'smtp')"), rows)


def _found(engine, term: str) -> list[str]:  # type: ignore[no-untyped-def]
    page = list_postfix(engine=engine, filters=PostfixFilter(search=term), page=1, limit=1000)
    return sorted({r["message"] for r in page["data"]})


@pytest.mark.parametrize("flags", ["import", "unknown"])
def test_common_and_rare_terms_fold_case_alike(engine, flags: str) -> None:  # type: ignore[no-untyped-def]
    _fill(engine, 60, flags)  # 420 lines: "status=sent" is common (a term in 1 % of the newest rows or more)
    expected = sorted([*LINES[:4], LINES[6]])
    assert _found(engine, "status=sent") == expected
    assert _found(engine, "STATUS=SENT") == expected
    assert _found(engine, "grüße") == [LINES[2]]
    assert _found(engine, "250 gr") == [LINES[2]]
    assert _found(engine, "try LATER") == [LINES[4]]
    if engine.dialect.name == "postgresql":
        # the common plan (flagged lines lower-cased under "C") and the rare plan (the trigram index over
        # lower()) agree on a line only the full lower() folds
        assert _found(engine, "250 kept") == [LINES[6]]
        assert _found(engine, "sent (250 k") == [LINES[6]]


def test_rare_term_among_many_lines(engine) -> None:  # type: ignore[no-untyped-def]
    _fill(engine, 1)
    assert _found(engine, "Status=Sent") == sorted([*LINES[:4], LINES[6]])


def test_the_import_flags_ascii_lines(engine) -> None:  # type: ignore[no-untyped-def]
    from mlv.ingest.pipeline import ingest_batch

    items = [{"time": str(1_700_000_100 + i), "priority": "info", "program": "postfix/smtp",
              "message": f"ABC{i}: to=<x@example.org>, status=sent (250 {word})"}
             for i, word in enumerate(["OK", "Grüße", "\u212aept"])]
    with engine.begin() as conn:
        ingest_batch(conn, {"postfix": items})
    _fill(engine, 1, "unknown")
    with engine.connect() as conn:
        flags = conn.execute(text("SELECT message_ascii FROM postfix_log WHERE message LIKE '%x@example.org%' "
                                  "ORDER BY time")).scalars().all()
    assert flags == [True, False, False]


def test_planner_settings_are_set_and_given_back(engine) -> None:  # type: ignore[no-untyped-def]
    from mlv.queries.listing import set_local

    if engine.dialect.name != "postgresql":
        pytest.skip("planner settings are PostgreSQL's")
    with engine.begin() as conn:
        before = set_local(conn, {"enable_seqscan": "off", "max_parallel_workers_per_gather": "0"})
        assert before == {"enable_seqscan": "on", "max_parallel_workers_per_gather": "2"}
        assert conn.execute(text("SHOW enable_seqscan")).scalar_one() == "off"
        assert conn.execute(text("SHOW max_parallel_workers_per_gather")).scalar_one() == "0"
        set_local(conn, before)
        assert conn.execute(text("SHOW enable_seqscan")).scalar_one() == "on"
        assert conn.execute(text("SHOW max_parallel_workers_per_gather")).scalar_one() == "2"

"""Free-text search is case-insensitive the same way whichever plan reads it (rare or common term)."""

from __future__ import annotations

from sqlalchemy import text

from mlv.queries.logs import PostfixFilter, list_postfix

LINES = ["to=<a@example.org>, status=sent (250 OK)", "to=<b@example.org>, STATUS=Sent (250 OK)",
         "to=<c@example.org>, Status=SENT (250 Grüße)", "to=<d@example.org>, STATUS=SENT (ÄÖÜ)",
         "to=<e@example.org>, status=deferred (451 try later)", "connect from unknown[192.0.2.1]"]


def _fill(engine, copies: int) -> None:  # type: ignore[no-untyped-def]
    rows = [{"t": 1_700_000_000 + i, "h": i, "m": LINES[i % len(LINES)]} for i in range(copies * len(LINES))]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO postfix_log (server_id, time, line_hash, priority, program, message, kind) "
                          "VALUES (1, :t, :h, 'info', 'postfix/smtp', :m, 'smtp')"), rows)


def _found(engine, term: str) -> list[str]:  # type: ignore[no-untyped-def]
    page = list_postfix(engine=engine, filters=PostfixFilter(search=term), page=1, limit=1000)
    return sorted({r["message"] for r in page["data"]})


def test_common_and_rare_terms_fold_case_alike(engine) -> None:  # type: ignore[no-untyped-def]
    _fill(engine, 60)  # 360 lines: "status=sent" is common (a term in 1 % of the newest rows or more)
    expected = sorted(LINES[:4])
    assert _found(engine, "status=sent") == expected
    assert _found(engine, "STATUS=SENT") == expected
    assert _found(engine, "grüße") == [LINES[2]]
    assert _found(engine, "250 gr") == [LINES[2]]
    assert _found(engine, "try LATER") == [LINES[4]]


def test_rare_term_among_many_lines(engine) -> None:  # type: ignore[no-untyped-def]
    _fill(engine, 1)
    assert _found(engine, "Status=Sent") == sorted(LINES[:4])

"""CSV exports: documented columns, CSV_EXPORT_LIMIT, filters, formula neutralisation, streaming."""

from __future__ import annotations

import csv
import io
import threading
import time
import tracemalloc

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from mlv import app as mlv_app
from mlv.queries.exports import HEADERS, neutralise, stream_csv
from mlv.queries.logs import PostfixFilter
from tests.api.conftest import PASSWORD, USER, build_app, client_for
from tests.servers import free_port


def rows_of(body: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body)))


@pytest.mark.parametrize(("kind", "params"), [
    ("postfix", {"status": "sent"}), ("rspamd", {"is_spam": "true"}), ("netfilter", {}),
    ("messages", {"direction": "outbound"}),
])
async def test_columns_filters_and_limit(api, runtime, kind, params) -> None:
    runtime.settings = runtime.settings.model_copy(update={"csv_export_limit": 40})
    r = await api.get(f"/api/export/{kind}/csv", params=params)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    rows = rows_of(r.text)
    assert rows[0] == HEADERS[kind] and 0 < len(rows) - 1 <= 40
    assert all(len(row) == len(HEADERS[kind]) for row in rows)
    if kind == "postfix":
        assert {row[7] for row in rows[1:]} == {"sent"}
    if kind == "messages":
        assert {row[4] for row in rows[1:]} == {"outbound"} and rows[1][0].endswith("Z")
    if kind == "rspamd":
        assert {row[9] for row in rows[1:]} == {"yes"} and "(" in rows[1][14]


def test_neutralise() -> None:
    for bad in ("=1+2", "+33", "-cmd", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(bad) == "'" + bad
    assert neutralise("alice@example.org") == "alice@example.org"
    assert neutralise(-3.5) == -3.5 and neutralise(None) is None


async def test_formula_cells_are_neutralised_in_the_file(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO postfix_log (server_id, time, line_hash, priority, program, message, kind, queue_id, "
            "sender, recipient, status) VALUES (1, :t, 7, 'info', 'postfix/smtp', :m, 'delivery', 'ABC123', :s, :r, "
            "'sent')"), {"t": int(time.time()), "m": '=HYPERLINK("http://evil.example","x")', "s": "@SUM(A1:A9)",
                         "r": "-2+3@example.org"})
    settings = mlv_app.Runtime
    from mlv.config import load_settings

    settings = load_settings(auth_enabled=True, auth_password=PASSWORD, _env_file=None)
    old = mlv_app.runtime
    mlv_app.runtime = mlv_app.Runtime(settings=settings, engine=engine)
    try:
        async with client_for(build_app(settings)) as client:
            body = (await client.get("/api/export/postfix/csv")).text
    finally:
        mlv_app.runtime = old
    row = rows_of(body)[1]
    assert row[11] == "'=HYPERLINK(\"http://evil.example\",\"x\")"
    assert row[5] == "'@SUM(A1:A9)" and row[6] == "'-2+3@example.org"


def _peak(world, limit: int) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    chunks, size = 0, 0
    for chunk in stream_csv(engine=world.engine, kind="postfix", filters=PostfixFilter(), limit=limit,
                            chunk_rows=500):
        chunks += 1
        size += len(chunk)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return chunks, size, peak


def test_stream_is_chunked_and_memory_stays_flat(world) -> None:
    _peak(world, 1000)  # warm caches
    _, small_size, small_peak = _peak(world, 2000)
    chunks, size, peak = _peak(world, 20000)
    assert chunks >= 40 and size > 8 * small_size  # 20,000 rows in 500-row chunks
    assert peak < 2 * small_peak, (small_peak, peak)  # ten times the rows, not ten times the memory


def test_streamed_over_http(runtime) -> None:
    app = build_app(runtime.settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        with httpx.stream("GET", f"http://127.0.0.1:{port}/api/export/messages/csv", auth=(USER, PASSWORD),
                          timeout=30) as r:
            assert r.status_code == 200 and r.headers.get("transfer-encoding") == "chunked"
            lines = sum(1 for _ in r.iter_lines())
        assert lines > 1000
        assert httpx.get(f"http://127.0.0.1:{port}/api/export/messages/csv").status_code == 401
    finally:
        server.should_exit = True
        thread.join(10)

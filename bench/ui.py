"""UI benchmark at 1,000,000 messages, measured from a real browser (Debian's headless Chromium).

- time to content per page: navigation start until the page shows its data (median and p95 of runs);
- paging, sorting and filtering on /messages and /logs: the click until the table shows the new page;
- server memory (RSS of `mlv serve`) idle, and with 10 connected browser tabs on the busiest pages,
  and the server's response time (/api/health, a page) while those tabs are open.
Prints the figures and writes them to BENCHMARKS.md (section "UI (1M messages)").

    python bench/ui.py [--db /tmp/mlv-bench-api/mlv.db] [--messages 1000000] [--runs 7] [--clients 10]

Without --db it fills its own database with bench/api_data.py's generator (about as long as that takes).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from playwright.sync_api import Error as PlaywrightError  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from bench.report import write_section  # noqa: E402
from mlv.mailcow.emulator import Emulator, start_emulator_thread  # noqa: E402
from tests.ui.browser import app_server, launch, log_in  # noqa: E402

PAGED = re.compile(r"^1-\d+ of \d")  # Quasar's pager once the first page is there
PAGES = [("/", "Top blocked IPs"), ("/messages", PAGED), ("/messages?status=bounced", PAGED),
         ("/messages?search=example.net", PAGED), ("/logs", PAGED), ("/logs?tab=rspamd", PAGED),
         ("/logs?tab=netfilter", PAGED), ("/mailboxes", "Records per page"), ("/domains", "example.org"),
         ("/queue", "Records per page"), ("/dmarc", "Upload reports"), ("/status", "Connected"),
         ("/settings", "Connection tests")]
BUSY = ["/", "/messages", "/logs", "/messages?search=example.net", "/logs?tab=rspamd", "/", "/status", "/messages",
        "/mailboxes", "/"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def stats(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def time_to_content(page, base: str, path: str, text: str | re.Pattern) -> float:  # type: ignore[no-untyped-def]
    """Navigation start until the page shows `text`, read from the page's own clock (performance.now)."""
    page.goto(f"{base}{path}", wait_until="commit")
    pattern = text.pattern if isinstance(text, re.Pattern) else re.escape(text)
    handle = page.wait_for_function(
        "p => { const r = new RegExp(p, 'm'); return r.test(document.body ? document.body.innerText : '') "
        "&& performance.now(); }", arg=pattern, timeout=30000, polling="raf")
    return float(handle.json_value()) / 1000


MEASURE = """([clickJs, doneJs]) => new Promise((resolve, reject) => {
  const done = new Function('return (' + doneJs + ')');
  const t0 = performance.now();
  const observer = new MutationObserver(() => {
    if (done()) { observer.disconnect(); resolve(performance.now() - t0); }
  });
  observer.observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
  setTimeout(() => { observer.disconnect(); reject(new Error('no change in 30 s')); }, 30000);
  new Function(clickJs)();
})"""
NEXT = ("[...document.querySelectorAll('button[aria-label=\"Next page\"]')].find(b => b.offsetParent !== null)"
        ".click()")
PAGER = "[...document.querySelectorAll('.q-table__bottom')].find(b => b.offsetParent !== null).innerText"


def in_page(page, click_js: str, done_js: str) -> float:  # type: ignore[no-untyped-def]
    """Seconds from a click (run in the page) until done_js holds, measured by the page itself."""
    return float(page.evaluate(MEASURE, [click_js, done_js])) / 1000


def ready(page, base: str, path: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}{path}")
    page.get_by_text(PAGED).first.wait_for(timeout=30000)
    page.wait_for_function("window.did_handshake === true")  # the page's websocket is up


def interactions(page, base: str, runs: int) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    out: dict[str, list[float]] = {"messages: next page": [], "messages: page 5 → 6": [],
                                   "messages: sort oldest first": [], "messages: status filter": [],
                                   "logs: next page": [], "logs: rspamd next page": []}
    for _ in range(runs):
        ready(page, base, "/messages")
        out["messages: next page"].append(in_page(page, NEXT, f"{PAGER}.includes('51-100 of')"))
        for n in range(2, 6):
            in_page(page, NEXT, f"{PAGER}.includes('{n * 50 - 49}-{n * 50} of')")
        out["messages: page 5 → 6"].append(in_page(page, NEXT, f"{PAGER}.includes('251-300 of')"))
        ready(page, base, "/messages")
        first = page.locator(".q-table tbody tr").first.locator("td").first.inner_text()
        out["messages: sort oldest first"].append(in_page(
            page, "[...document.querySelectorAll('th')].find(t => t.innerText.includes('Time')).click()",
            f"document.querySelector('.q-table tbody tr td').innerText !== {first!r}"))
        ready(page, base, "/messages")
        total = page.locator(".q-table__bottom").first.inner_text()
        page.get_by_label("Status").click()
        page.get_by_role("option", name="deferred").wait_for()
        out["messages: status filter"].append(in_page(
            page, "[...document.querySelectorAll('.q-menu .q-item')].find(i => i.innerText.trim() === 'deferred')"
                  ".click()", f"{PAGER} !== {total!r}"))
        ready(page, base, "/logs")
        out["logs: next page"].append(in_page(page, NEXT, f"{PAGER}.includes('51-100 of')"))
        ready(page, base, "/logs?tab=rspamd")
        out["logs: rspamd next page"].append(in_page(page, NEXT, f"{PAGER}.includes('51-100 of')"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", help="an existing mlv SQLite database to copy (e.g. bench/api.py's)")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--workdir", default="/tmp/mlv-bench-ui")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--clients", type=int, default=10)
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    db = work / "source.db"
    if args.db:
        shutil.copy(args.db, db)
        _add_missing_tables(db)
    elif not db.exists():
        from bench.api_data import fill_sqlite

        print(fill_sqlite(f"sqlite:///{db}", args.messages), flush=True)
    emulator = Emulator(seed=3, rate=6, start=time.time(), backfill_seconds=600)
    handle = start_emulator_thread(emulator)
    data = Path(tempfile.mkdtemp(prefix="ui-", dir=work))
    rows: list[str] = []
    try:
        with app_server(data / "data", db=None, MAILCOW_URL=handle.url, MAILCOW_API_KEY=emulator.api_key,
                        SCHEDULER_ENABLED="false", DATABASE_URL=f"sqlite:///{db}") as server, \
                sync_playwright() as p:
            browser = launch(p)
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            log_in(page, server.base)
            page.wait_for_url(f"{server.base}/")
            idle = rss_mb(server.process.pid)
            broken = set()
            for path, text in PAGES:  # warm-up: first imports, plotly bundle, SQLite page cache
                try:
                    time_to_content(page, server.base, path, text)
                except PlaywrightError as exc:
                    broken.add(path)
                    print(f"{path}: no content ({exc}); server log: {server.log()[-1500:]}", flush=True)
            rows += ["| page | first content, median | p95 |", "|---|---|---|"]
            for path, text in PAGES:
                if path in broken:
                    rows.append(f"| `{path}` | did not show its content | |")
                    continue
                med, p95 = stats([time_to_content(page, server.base, path, text) for _ in range(args.runs)])
                rows.append(f"| `{path}` | {med * 1000:.0f} ms | {p95 * 1000:.0f} ms |"
                            + (" ⚠" if med > 1 else ""))
                print(rows[-1], flush=True)
            rows += ["", "| interaction | median | p95 |", "|---|---|---|"]
            for name, values in interactions(page, server.base, args.runs).items():
                med, p95 = stats(values)
                rows.append(f"| {name} | {med * 1000:.0f} ms | {p95 * 1000:.0f} ms |" + (" ⚠" if med > 0.3 else ""))
                print(rows[-1], flush=True)
            tabs = []
            for i in range(args.clients):
                ctx = browser.new_context(viewport={"width": 1400, "height": 900},
                                          storage_state=context.storage_state())
                tab = ctx.new_page()
                tab.goto(f"{server.base}{BUSY[i % len(BUSY)]}")
                tabs.append(tab)
            time.sleep(8)
            loaded = rss_mb(server.process.pid)
            health = []
            for _ in range(20):
                started = time.perf_counter()
                httpx.get(f"{server.base}/api/health", timeout=10)
                health.append(time.perf_counter() - started)
            busy_page = stats([time_to_content(page, server.base, "/messages", PAGED) for _ in range(args.runs)])
            rows += ["", f"Server memory (RSS of `mlv serve`): {idle:.0f} MB after start and login, "
                         f"{loaded:.0f} MB with {args.clients} more browser tabs connected (dashboards, messages, "
                         "logs, a search, status, mailboxes). Target ≤ 300 MB.",
                     f"With those {args.clients} tabs open: /api/health median "
                     f"{statistics.median(health) * 1000:.0f} ms, /messages first content median "
                     f"{busy_page[0] * 1000:.0f} ms (p95 {busy_page[1] * 1000:.0f} ms)."]
            print("\n".join(rows[-2:]), flush=True)
            browser.close()
    finally:
        handle.stop()
    counts = _counts(db)
    rows = [f"Data: {counts}; SQLite. Each page/interaction {args.runs} times after one warm-up visit.",
            "First content: navigation start until the page shows its data, by the page's own clock "
            "(performance.now). Interactions: a click until the table shows the new page (a MutationObserver in "
            "the page), once the page's websocket is up. Both include the browser's rendering. ⚠ marks a median "
            "over target (1 s, 300 ms).", "", *rows]
    write_section("UI (1M messages)", rows, machine=f"{platform.machine()}, {os.cpu_count()} cores (shared), "
                  f"Python {platform.python_version()}, Chromium headless")


def _add_missing_tables(db: Path) -> None:
    """Tables the models have but an older copied database lacks (a migration edited since it was made)."""
    from sqlmodel import SQLModel

    import mlv.models  # noqa: F401  (registers every table)
    from mlv.db import make_engine

    engine = make_engine(f"sqlite:///{db}")
    SQLModel.metadata.create_all(engine)
    engine.dispose()


def _counts(db: Path) -> str:
    import sqlite3

    conn = sqlite3.connect(db)
    messages = conn.execute("SELECT MAX(id) FROM message").fetchone()[0] or 0
    lines = conn.execute("SELECT MAX(id) FROM postfix_log").fetchone()[0] or 0
    conn.close()
    return f"{messages:,} messages, {lines:,} Postfix lines (row ids)"


if __name__ == "__main__":
    main()

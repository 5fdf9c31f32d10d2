"""Faults against real parts: mailcow (the emulator over HTTP) unreachable, slow, broken, refusing the
key, its buffers wrapping while mlv was down; PostgreSQL stopped mid-import; SQLite locked by another
process; a nameserver that never answers; Dovecot's connection cut mid-sync; DATA_DIR's disk full.

For each: the app stays up (its API answers), the status shows a readable one-line reason, the next
run recovers, and nothing is lost or stored twice, counted against the emulator's ground truth (or
the reports put into the mailbox). Figures go to BENCHMARKS.md, "Reliability" / "Faults".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from mlv.mailcow.emulator import Emulator, start_emulator_thread
from tests.hardening.faults_util import (
    EMULATOR_LOG,
    SOURCES,
    App,
    CuttingProxy,
    SqliteLockHolder,
    app_settings,
    db_lines,
    line_key,
    line_tallies,
    message_figures,
    one_line_reason,
    small_disk,
    table_counts,
    tally,
    watermarks,
)
from tests.hardening.figures import record
from tests.servers import PostgresServer, free_port

REQUIRE_SERVERS = os.environ.get("MLV_REQUIRE_POSTGRES") == "1"
FIGURES: dict[str, list[str]] = {}
ORDER = ("unreachable", "slow", "error500", "garbage", "badkey", "wrap", "postgres", "sqlite-lock", "dns", "imap",
         "disk")


@pytest.fixture(scope="module", autouse=True)
def _write_figures() -> Iterator[None]:
    yield
    if not FIGURES:
        return
    rows = ["| Fault | Database | What was done | Readable status while failing | After recovery "
            "(stored = ground truth) | Recovery |",
            "|---|---|---|---|---|---|"]
    for key in sorted(FIGURES, key=lambda k: (ORDER.index(k.split("/")[0]), k)):
        rows.extend(FIGURES[key])
    rows.append("")
    rows.append("Recovery = from the moment the fault was removed to the end of the first successful run "
                "(that run's work included). Lines are compared as multisets of (time, program, message) "
                "with the emulator's buffers, which had not wrapped (checked against the count of lines it ever "
                "wrote) except in the wrap test; messages with the emulator's per-message ground truth "
                "(doubles = messages in the database no truth message accounts for).")
    record("Faults", rows)


def _cell(value: str, limit: int = 420) -> str:
    value = " ".join(str(value).split()).replace("|", "\\|")
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _figure(key: str, db: str, done: str, status: str, after: str, recovery: float | None) -> None:
    rec = f"{recovery:.2f} s" if recovery is not None else "–"
    FIGURES[f"{key}/{db}"] = [f"| {key} | {db} | {_cell(done)} | {_cell(status)} | {_cell(after, 640)} | {rec} |"]


def _dialect(engine: Engine) -> str:
    return "PostgreSQL" if engine.dialect.name == "postgresql" else "SQLite"


def _assert_complete(engine: Engine, emu: Emulator, *, rate: float = 0.995) -> str:
    """Every line and message of the ground truth is stored exactly once; returns the figure text."""
    lines = line_tallies(engine, emu)
    for source, t in lines.items():
        assert t.lost == 0 and t.doubled == 0, (source, t)
    msgs = message_figures(engine, emu)
    assert msgs["stored"] == msgs["truth"] == msgs["found"] and msgs["doubled"] == msgs["split"] == 0, \
        ({k: v for k, v in msgs.items() if k != "problems"}, msgs["problems"][:5])
    assert msgs["rate"] >= rate, msgs["problems"][:5]
    return (f"lines: {'; '.join(lines[s].text(s) for s in SOURCES)}; messages {msgs['stored']:,} = truth "
            f"{msgs['truth']:,} ({msgs['rate']:.1%} correlated right); doubles 0")


@pytest.fixture
def emulator() -> Iterator[tuple[Emulator, Any]]:
    emu = Emulator(seed=31, rate=6.0, slow_seconds=3.0)
    handle = start_emulator_thread(emu)
    yield emu, handle
    handle.stop()


# ---------------------------------------------------------------------------------------------- mailcow

MAILCOW_FAULTS = {
    "unreachable": ("mailcow's port closed (nothing listens)", ("cannot connect to mailcow", "connection refused")),
    "slow": ("every answer 3 s late; MAILCOW_API_TIMEOUT 1 s", ("did not answer within 1 s",)),
    "error500": ("HTTP 500 with nginx's HTML error page", ("HTTP 500", "500 Internal Server Error")),
    "garbage": ("a PHP warning instead of JSON", ("not JSON", "Warning")),
    "badkey": ("the API key refused (HTTP 401)", ("refused the API key",)),
}


@pytest.mark.parametrize("fault", list(MAILCOW_FAULTS))
def test_mailcow_fault_fails_readably_and_the_next_run_recovers(engine: Engine, emulator, fault: str) -> None:  # type: ignore[no-untyped-def]
    emu, handle = emulator
    app = App(engine, app_settings(mailcow_api_timeout=1), mailcow_url=handle.url, mailcow_key=emu.api_key)
    try:
        emu.advance(600)
        assert app.fetch()["status"] == "success"
        emu.advance(600)  # new lines mlv has not seen
        before = table_counts(engine), watermarks(engine)
        if fault == "unreachable":
            app.runtime.mailcow_url = f"http://127.0.0.1:{free_port()}"
        else:
            emu.set_fault(fault)
        job = app.fetch()
        assert job["status"] == "failed"
        reason = one_line_reason(job["error"], *MAILCOW_FAULTS[fault][1])
        assert emu.api_key not in reason
        assert app.stays_up()["status"] == "healthy"
        # the status page's connection check says the same thing
        connection = app.get("/api/status/mailcow-connection")
        assert connection["connected"] is False and MAILCOW_FAULTS[fault][1][0].lower() in connection["error"].lower()
        assert (table_counts(engine), watermarks(engine)) == before  # nothing stored, no watermark moved

        emu.set_fault("none")
        app.runtime.mailcow_url = handle.url
        started = time.perf_counter()
        job = app.fetch()
        recovery = time.perf_counter() - started
        assert job["status"] == "success" and job["error"] is None
        after = _assert_complete(engine, emu)
        status = app.get("/api/settings/info")["import_status"]
        assert status["postfix"]["total_entries"] == sum(db_lines(engine, "postfix").values())
        _figure(fault, _dialect(engine), MAILCOW_FAULTS[fault][0], reason, after, recovery)
    finally:
        emu.set_fault("none")
        app.close()


# ---------------------------------------------------------------------------------------------- wrap


def _history(before: list, after: list, written_before: int, written_after: int) -> tuple[list, int]:
    """Every line mlv could ever have seen (oldest first) from two buffer snapshots, and the count lost between."""
    unseen = written_after - len(after) - written_before  # written after the first snapshot, gone before the second
    if unseen >= 0:
        return before + after, unseen
    return before + after[-unseen:], 0


def test_buffers_wrap_while_mlv_is_down(engine: Engine, emulator) -> None:  # type: ignore[no-untyped-def]
    emu, handle = emulator
    app = App(engine, app_settings(), mailcow_url=handle.url, mailcow_key=emu.api_key)
    try:
        emu.advance(600)
        assert app.fetch()["status"] == "success"
        def snapshot() -> tuple[dict[str, list], dict[str, int]]:
            """Every log as mailcow holds it (oldest first), and how many lines it ever wrote."""
            lines = {s: [i for i in reversed(emu.buffer_items(EMULATOR_LOG[s])) if i is not None] for s in SOURCES}
            return lines, {s: emu.written[EMULATOR_LOG[s]] for s in SOURCES}

        snap1, written1 = snapshot()
        assert all(len(snap1[s]) == written1[s] for s in SOURCES)  # nothing wrapped yet
        # mlv is down while a burst writes far more than mailcow's 10,000-line buffers keep
        emu.burst(2500)
        emu.advance(120)
        snap2, written2 = snapshot()
        started = time.perf_counter()
        job = app.fetch()
        recovery = time.perf_counter() - started
        assert job["status"] == "success"
        lost_note = one_line_reason(job["details"].get("lines_lost"), "postfix", "wrapped", "lines were lost")
        with engine.connect() as conn:
            gaps = conn.execute(text("SELECT source, note FROM import_gap")).all()
        figures = []
        for source in SOURCES:
            history, unseen = _history(snap1[source], snap2[source], written1[source], written2[source])
            want_all = Counter(line_key(source, i) for i in history)
            have = db_lines(engine, source)
            t = tally(have, want_all)
            assert t.doubled == 0, (source, t)  # nothing mailcow never said, nothing twice
            still_there = Counter(line_key(source, i) for i in snap2[source])
            assert not still_there - have, source  # every line mailcow still had is stored, its oldest second too
            if unseen:
                assert source in {g.source for g in gaps}, (source, gaps)
            if source == "postfix":
                assert unseen > 0  # the burst did wrap the buffer
                first = Counter(line_key(source, i) for i in snap1[source])
                assert have == first + still_there  # exactly: before the outage, and what mailcow still had
            figures.append(f"{source} {t.stored:,} stored of {t.expected + unseen:,} written "
                           f"({unseen:,} gone before mlv came back)")
        assert {g.source for g in gaps} <= set(SOURCES)
        assert all("wrapped" in g.note for g in gaps)
        msgs = message_figures(engine, emu, only_logged=False)
        # mails whose lines all went are missing; none is stored twice or torn into two
        assert msgs["doubled"] == msgs["split"] == 0 and 0 < msgs["stored"] < msgs["truth"]
        again = app.fetch()
        assert again["status"] == "success" and sum(again["details"]["stored"].values()) == 0
        assert "lines_lost" not in again["details"]
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM import_gap")).scalar_one() == len(gaps)
        _figure("wrap", _dialect(engine), "burst of 2,500 mails (> 10,000 postfix lines) while mlv was not fetching",
                f"job succeeded; jobs card: {lost_note}; import_gap rows: {len(gaps)} "
                f"({', '.join(sorted(g.source for g in gaps))})",
                "; ".join(figures) + f"; messages {msgs['stored']:,} stored of {msgs['truth']:,} in the truth "
                "(the others' lines are gone), each accounted for by one truth message: doubles 0, split 0; "
                "next run stored 0, no new gap", recovery)
    finally:
        app.close()


# ---------------------------------------------------------------------------------------------- databases


def test_postgres_stops_during_an_import_and_comes_back() -> None:
    from mlv.db import make_engine, migrate

    try:
        server = PostgresServer.start()  # a server of its own: this test stops it
    except Exception as exc:
        if REQUIRE_SERVERS:
            raise
        pytest.skip(f"PostgreSQL server not available: {exc}")
    emu = Emulator(seed=33, rate=10.0)
    handle = start_emulator_thread(emu)
    engine = make_engine(server.create_database("mlv_faults"))
    app = None
    try:
        migrate(engine)
        app = App(engine, app_settings(), mailcow_url=handle.url, mailcow_key=emu.api_key)
        emu.advance(1500)  # a newcomer's first import: a big backlog in one transaction
        statements = {"before_stop": 0, "stopped": False}

        def stop_mid_import(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            statements["before_stop"] += not statements["stopped"]
            if not statements["stopped"] and "FROM dovecot_log" in statement:
                statements["stopped"] = True  # postfix, rspamd and netfilter rows are written, uncommitted
                server.stop_server()

        event.listen(engine, "before_cursor_execute", stop_mid_import)
        try:
            job = app.fetch()
        finally:
            event.remove(engine, "before_cursor_execute", stop_mid_import)
        assert statements["stopped"] and job["status"] == "failed"
        mid_import = one_line_reason(job["error"], "database error")
        health = app.stays_up()
        assert (health["status"], health["database"]) == ("unhealthy", "disconnected")
        info = app.get("/api/settings/info")  # the settings page's data: jobs and why, without the database
        assert info["import_status"] is None
        down = one_line_reason(info["database_error"], "connection refused", "PostgreSQL server running")
        job = app.fetch()  # the next run, while the server is still down
        assert job["status"] == "failed"
        while_down = one_line_reason(job["error"], "database error", "connection refused", "PostgreSQL server running")

        server.start_again()
        restarted = time.perf_counter()
        assert app.stays_up()["status"] == "healthy"
        assert set(table_counts(engine).values()) == {0}  # the interrupted transaction left nothing behind
        assert app.get("/api/settings/info")["import_status"]["postfix"]["total_entries"] == 0
        emu.advance(60)
        job = app.fetch()
        recovery = time.perf_counter() - restarted
        assert job["status"] == "success" and job["error"] is None
        after = _assert_complete(engine, emu)
        _figure("postgres", "PostgreSQL (own server)",
                f"pg_ctl stop -m fast inside the first import's transaction (after {statements['before_stop']} "
                "statements: postfix, rspamd, netfilter rows written); a second run while down; then start",
                f"mid-import: {mid_import} · next run while down: {while_down} · /api/health: unhealthy, "
                f"disconnected (HTTP 200) · /api/settings/info database_error: {down}",
                after + "; before the recovery run: 0 rows (rolled back)", recovery)
    finally:
        if app is not None:
            app.close()
        handle.stop()
        engine.dispose()
        try:
            server.stop()
        except subprocess.CalledProcessError:  # already stopped by a failed assertion above
            pass


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_locked_by_another_process(engine: Engine, emulator) -> None:  # type: ignore[no-untyped-def]
    emu, handle = emulator
    path = engine.url.database
    assert path

    @event.listens_for(engine, "connect")
    def _short_busy_timeout(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.execute("PRAGMA busy_timeout = 1000")  # the app waits 30 s; the test 1 s

    engine.dispose()
    app = App(engine, app_settings(), mailcow_url=handle.url, mailcow_key=emu.api_key)
    holder = None
    try:
        emu.advance(600)
        assert app.fetch()["status"] == "success"
        emu.advance(600)
        before = table_counts(engine), watermarks(engine)
        holder = SqliteLockHolder(path)  # BEGIN EXCLUSIVE + a write, held until released
        job = app.fetch()
        assert job["status"] == "failed"
        reason = one_line_reason(job["error"], "database error", "database is locked")
        assert app.stays_up()["status"] == "healthy"  # readers are not blocked (WAL)
        assert app.get("/api/settings/info")["background_jobs"]["fetch_logs"]["error"] == reason
        assert (table_counts(engine), watermarks(engine)) == before
        holder.release()
        released = time.perf_counter()
        job = app.fetch()
        recovery = time.perf_counter() - released
        assert job["status"] == "success"
        after = _assert_complete(engine, emu)
        _figure("sqlite-lock", "SQLite", "another process (python sqlite3) holds BEGIN EXCLUSIVE + a write "
                "longer than the busy timeout (1 s in the test, 30 s in the app)", reason, after, recovery)
    finally:
        if holder is not None:
            holder.release()
        app.close()


@pytest.mark.parametrize("how", ["tmpfs", "max_page_count"])
def test_data_dir_disk_full(emulator, how: str) -> None:  # type: ignore[no-untyped-def]
    from mlv.db import make_engine, migrate

    emu, handle = emulator
    with small_disk(8, tmpfs=how == "tmpfs") as disk:
        if disk.how != how:
            pytest.skip("a tmpfs cannot be mounted here (needs root): the max_page_count variant covers it")
        db = make_engine(f"sqlite:///{disk.path / 'mlv.db'}")
        disk.limit_engine(db)
        app = App(db, app_settings(data_dir=disk.path), mailcow_url=handle.url, mailcow_key=emu.api_key)
        try:
            migrate(db)
            emu.advance(300)
            assert app.fetch()["status"] == "success"
            emu.burst(600)  # a few MB of new lines, parsed rows and messages
            emu.advance(120)
            before = table_counts(db), watermarks(db)
            left = disk.fill(db, 96 * 1024)
            job = app.fetch()
            assert job["status"] == "failed"
            reason = one_line_reason(job["error"], "database error", "full", "DATA_DIR")
            assert app.stays_up()["status"] == "healthy"
            assert (table_counts(db), watermarks(db)) == before  # nothing half-written
            with db.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
            disk.free(db)
            freed = time.perf_counter()
            job = app.fetch()
            recovery = time.perf_counter() - freed
            assert job["status"] == "success"
            after = _assert_complete(engine=db, emu=emu)
            done = (f"DATA_DIR on a tmpfs of 8 MB, filled by a ballast file to {left // 1024} KB free, then the "
                    "ballast deleted" if disk.how == "tmpfs" else
                    f"not root/no tmpfs: SQLite's PRAGMA max_page_count capped the file at {left // 1024} KB more "
                    "(SQLITE_FULL, the same error as a full disk), then lifted")
            _figure("disk", f"SQLite ({disk.how})", done + "; a 600-mail burst to import",
                    reason + "; integrity_check ok", after, recovery)
        finally:
            app.close()
            db.dispose()


# ---------------------------------------------------------------------------------------------- DNS


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_dns_server_not_answering(engine: Engine, emulator) -> None:  # type: ignore[no-untyped-def]
    from mlv.dns import service
    from mlv.dns.service import run_dns_check_job
    from tests.dns.knot import DeadServer, Knot
    from tests.dns.zones import build_zones

    if shutil.which("knotd") is None:
        if REQUIRE_SERVERS:
            pytest.fail("knotd is not installed: apt-get install -y --no-install-recommends knot")
        pytest.skip("knotd is not installed")
    emu, handle = emulator
    dead, knot = DeadServer(), Knot.start(build_zones())
    app = App(engine, app_settings(dns_nameservers=dead.address), mailcow_url=handle.url, mailcow_key=emu.api_key)
    service._server_ips.clear()
    try:
        assert app.fetch()["status"] == "success"  # mailcow's domains, as the job reads them
        outcome: dict[str, Any] = {}

        def check() -> None:
            outcome["job"] = app.run_job("dns_check", lambda: run_dns_check_job(engine, app.settings,
                                                                                 _factory()))
        worker = threading.Thread(target=check, daemon=True)
        started = time.perf_counter()
        worker.start()
        worker.join(120)  # a guard against a hang, far above any timeout configured
        took = time.perf_counter() - started
        assert not worker.is_alive(), "the DNS check hangs"
        job = outcome["job"]
        assert job["status"] == "failed"
        reason = one_line_reason(job["error"], "no domain could be checked", "DNS timeout", dead.address)
        assert dead.received > 0
        domains = app.get("/api/domains/all")
        assert domains["total"] == 2
        for domain in domains["domains"]:
            spf = domain["dns_checks"]["spf"]
            assert spf["status"] == "error" and "DNS timeout" in spf["message"], spf
        card = one_line_reason(domains["domains"][0]["dns_checks"]["spf"]["message"], "DNS timeout")
        assert app.stays_up()["status"] == "healthy"

        app.set(dns_nameservers=[knot.address])  # the nameserver answers again
        fixed = time.perf_counter()
        job = app.run_job("dns_check", lambda: run_dns_check_job(engine, app.settings, _factory()))
        recovery = time.perf_counter() - fixed
        assert job["status"] == "success" and job["error"] is None
        assert job["details"]["domains_checked"] == 2 and job["details"]["errors"] == []
        checks = {d["domain_name"]: d["dns_checks"] for d in app.get("/api/domains/all")["domains"]}
        assert checks["example.org"]["spf"]["status"] == "success"
        assert checks["example.org"]["dkim"]["status"] == "success"
        _figure("dns", "SQLite", f"DNS_NAMESERVERS = a UDP socket that reads queries and never answers "
                f"({dead.received} queries swallowed; the failing run took {took:.1f} s, 5 s per query), then Knot",
                f"dns_check job: {reason} · domain card: {card}",
                "2 of 2 domains checked, SPF and DKIM of example.org success", recovery)
    finally:
        app.close()
        dead.stop()
        knot.stop()
        service._server_ips.clear()


def _factory():  # type: ignore[no-untyped-def]
    from mlv import app as mlv_app

    return mlv_app.mailcow_client


# ---------------------------------------------------------------------------------------------- IMAP


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Any]:
    from tests.dmarc.servers import Dovecot

    try:
        server = Dovecot.start()
    except Exception as exc:
        if REQUIRE_SERVERS:
            raise
        pytest.skip(f"Dovecot not available: {exc}")
    yield server
    server.stop()


def test_imap_connection_cut_mid_sync(engine: Engine, dovecot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from imap_tools import MailBoxUnencrypted

    from mlv.dmarc.jobs import run_imap_sync_job
    from tests.dmarc.reportgen import DAY, aggregate_xml, gz, report_email
    from tests.dmarc.servers import PASSWORD

    user = dovecot.add_user()
    day = int(time.time()) // DAY * DAY - DAY
    sent = [f"cut-{i:02d}" for i in range(30)]  # the ground truth: 30 reports, two fetch batches of the sync
    with MailBoxUnencrypted("127.0.0.1", dovecot.port).login(user, PASSWORD) as box:
        for report_id in sent:
            box.append(report_email(gz(aggregate_xml(4, seed=len(report_id) + int(report_id[-2:]),
                                                     report_id=report_id, begin=day))), "INBOX")
    proxy = CuttingProxy(dovecot.port)
    settings = app_settings(data_dir=tmp_path / "data", dmarc_imap_enabled=True, dmarc_imap_host="127.0.0.1",
                            dmarc_imap_port=proxy.port, dmarc_imap_use_ssl=False, dmarc_imap_use_starttls=False,
                            dmarc_imap_user=user, dmarc_imap_password=PASSWORD, dmarc_imap_timeout=10,
                            smtp_enabled=False)
    app = App(engine, settings)

    def stored() -> list[tuple[str, str]]:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text("SELECT org_name, report_id FROM dmarc_report")).all()]

    try:
        # the server's answer to the second batch FETCH is cut off after 3,000 bytes
        proxy.arm(b"BODY.PEEK[]", nth=2, after=3000)
        job = app.run_job("dmarc_imap_sync", lambda: run_imap_sync_job(engine, app.settings))
        assert proxy.cuts == 1
        assert job["status"] == "failed"
        reason = one_line_reason(job["error"], "closed the connection during the sync", "20 of 30 mails were imported")
        last = app.get("/api/dmarc/imap/history", limit=5)["data"][0]
        assert last["status"] == "error" and last["error_message"] == reason
        assert app.get("/api/dmarc/imap/status")["last_sync"]["status"] == "error"
        assert app.stays_up()["status"] == "healthy"
        kept = stored()
        assert len(kept) == len(set(kept)) == 20  # the first batch, each once; nothing of the cut one
        with MailBoxUnencrypted("127.0.0.1", dovecot.port).login(user, PASSWORD) as box:
            assert not any("\\Seen" in m.flags for m in box.fetch(mark_seen=False, headers_only=True))

        proxy.disarm()
        restored = time.perf_counter()
        job = app.run_job("dmarc_imap_sync", lambda: run_imap_sync_job(engine, app.settings))
        recovery = time.perf_counter() - restored
        assert job["status"] == "success" and job["error"] is None
        details = job["details"]
        assert (details["emails_found"], details["reports_created"], details["reports_duplicate"]) == (30, 10, 20)
        rows = stored()
        assert len(rows) == len(set(rows)) and sorted(r for _org, r in rows) == sent
        with MailBoxUnencrypted("127.0.0.1", dovecot.port).login(user, PASSWORD) as box:
            assert all("\\Seen" in m.flags for m in box.fetch(mark_seen=False, headers_only=True))
        again = app.run_job("dmarc_imap_sync", lambda: run_imap_sync_job(engine, app.settings))
        assert again["details"]["emails_found"] == 0 and len(stored()) == 30
        _figure("imap", _dialect(engine), "30 report mails; a TCP proxy in front of Dovecot cuts the connection "
                "3,000 bytes into its answer to the sync's second FETCH batch "
                f"({proxy.bytes_before_cut:,} bytes from the server in all)",
                f"sync history: error · {reason}",
                f"reports {len(rows)} = mailbox {len(sent)}; next sync: 10 created, 20 recognised as duplicates; "
                "doubles 0; all 30 mails marked read; a third sync finds nothing", recovery)
    finally:
        app.close()
        proxy.stop()

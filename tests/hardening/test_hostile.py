"""Hostile input against a running `mlv serve`: bad mailcow items, bad report files, bad requests.

Each is refused or skipped with a counted, readable reason; nothing bad is stored; the server
stays up and its memory stays bounded. The app runs as `main.py` in a child process on SQLite
and on PostgreSQL, fed by the mailcow emulator over HTTP, exactly as people run it.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import text

from mlv.db import make_engine
from mlv.mailcow.emulator import Emulator, EmulatorHandle, start_emulator_thread
from tests.dmarc.reportgen import aggregate_xml, gz
from tests.hardening.figures import record
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "admin", "hostile-Pa55word"
MiB = 1024 * 1024
ROWS: dict[str, list[str]] = {"items": [], "uploads": [], "memory": [], "requests": []}


# ---------------------------------------------------------------------------------------------- the server


@dataclass
class Served:
    """A running `mlv serve` child process and the emulator it imports from."""

    base: str
    proc: subprocess.Popen
    backend: str
    emulator: Emulator
    handle: EmulatorHandle
    http: httpx.Client
    db_url: str
    domain: str = "example.org"
    log: Path = field(default_factory=Path)

    def alive(self) -> bool:
        return self.proc.poll() is None and self.http.get("/api/health").status_code == 200

    def memory(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak since the last reset) of the server process, in bytes."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        values = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return {key: int(values[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM")}

    def reset_peak(self) -> None:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")

    def info(self) -> dict[str, Any]:
        r = self.http.get("/api/settings/info")
        assert r.status_code == 200, r.text
        return r.json()

    def wait_for_fetch(self) -> dict[str, Any]:
        """The first fetch run has finished (the app fetches once at start-up; FETCH_INTERVAL is a day)."""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            info = self.info()
            if all(v["last_fetch_run"] for v in info["import_status"].values()):
                return info
            time.sleep(0.3)
        raise AssertionError(f"the fetch job never ran: {self.log.read_text()[-3000:]}")

    def wait_for_messages(self, n: int) -> None:
        self.wait_for_fetch()
        total = self.http.get("/api/messages", params={"limit": 1}).json()["total"]
        assert total >= n, total


def _database(request: pytest.FixtureRequest, tmp: Path, backend: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'mlv.db'}"
    return request.getfixturevalue("pg_server").create_database(f"mlv_hostile_{os.getpid()}_{tmp.name}"[:60])


@contextmanager
def serve(request: pytest.FixtureRequest, tmp: Path, backend: str, *, emulator: Emulator | None = None,
          **env: str) -> Iterator[Served]:
    """`python main.py --port P` on a fresh database, importing once from an emulator over HTTP."""
    emu = emulator or Emulator(seed=17, rate=20.0, start=time.time() - 60, backfill_seconds=1800)
    handle = start_emulator_thread(emu)
    closed_port = free_port()  # nothing listens there: DNS checks fail at once instead of asking the internet
    skip = ("MAILCOW_", "AUTH_", "DATABASE_URL", "PYTEST", "NICEGUI", "DMARC_", "SMTP_", "APP_", "DNS_")
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    db_url = _database(request, tmp, backend)
    child_env.update({"DATA_DIR": str(tmp / "data"), "DATABASE_URL": db_url,
                      "MAILCOW_URL": handle.url, "MAILCOW_API_KEY": emu.api_key, "AUTH_USERNAME": USER,
                      "AUTH_PASSWORD": PASSWORD, "AUTH_MAX_FAILURES": "1000", "FETCH_INTERVAL": "86400",
                      "DNS_NAMESERVERS": f"127.0.0.1:{closed_port}", "DMARC_RDNS_ENABLED": "false",
                      "PYTHONUNBUFFERED": "1", **env})
    port = free_port()
    log = tmp / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "main.py", "--port", str(port)], cwd=ROOT, env=child_env,
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    http = httpx.Client(base_url=base, auth=(USER, PASSWORD), timeout=120)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if http.get("/api/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)
        yield Served(base, proc, backend, emu, handle, http, db_url, log=log)
    finally:
        http.close()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        handle.stop()
    text = log.read_text()
    assert "Traceback" not in text, text[-5000:]


@contextmanager
def releases_server() -> Iterator[str]:
    """A GitHub-style releases API on a local port: `/latest` and `/tags/v0.1.0`; anything else is 404."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            known = {"/releases/latest", "/releases/tags/v0.1.0"}
            body = json.dumps({"tag_name": "v0.1.0", "body": "First release."}).encode()
            status = 200 if self.path in known else 404
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body) if status == 200 else 2))
            self.end_headers()
            self.wfile.write(body if status == 200 else b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/releases"
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------------------------- mailcow items


def _item_corpus(emu: Emulator) -> tuple[dict[str, list[Any]], dict[str, list[str]], list[tuple[str, str, str]]]:
    """Bad items per log (newest last), the skip reasons they must be counted under, and good lines
    (with control characters, lone surrogates, odd numbers) that must be stored: (source, marker)."""
    t = int(emu.now) + 5
    pf = {"time": str(t), "priority": "info", "program": "postfix/smtpd", "message": "connect from x[192.0.2.1]"}
    real_rspamd = next(i for i in emu.buffer_items("rspamd-history") if i)
    rs = {**real_rspamd, "unix_time": t}
    nf = {"time": t, "priority": "warn", "message": "192.0.2.9 matched rule id 3 (warning: unknown[192.0.2.9]: "
                                                   "SASL LOGIN authentication failed: x)"}
    dv = {"time": str(t), "priority": "info", "program": "dovecot", "message": "imap-login: Disconnected"}
    deep: Any = "x"
    for _ in range(400):
        deep = [deep]
    not_object = ["item is not an object"]
    bad = {
        "postfix": [
            (None, "item is not an object"), ([], not_object[0]), ("a string", not_object[0]), (42, not_object[0]),
            (True, not_object[0]), ({}, "program missing or not a string"),
            ({**pf, "time": "soon"}, "time is not numeric"), ({**pf, "time": None}, "time is missing"),
            ({**pf, "time": [t]}, "time is not numeric"), ({**pf, "time": "-5"}, "time is negative"),
            ({**pf, "time": "9" * 40}, "time"), ({**pf, "time": "NaN"}, "time is not numeric"),
            ({k: v for k, v in pf.items() if k != "message"}, "message missing or not a string"),
            ({**pf, "message": 5}, "message missing or not a string"),
            ({**pf, "message": {"nested": deep}}, "message missing or not a string"),
            ({**pf, "message": "x" * (2 * MiB)}, "message too long"),
            ({**pf, "program": ["postfix/smtpd"]}, "program missing or not a string"),
            ({**pf, "priority": {"a": 1}}, "priority is not a string"),
        ],
        "rspamd": [
            (None, "not an object"), ("text", "not an object"), ({}, ""),
            ({**rs, "unix_time": "never"}, "not numeric"), ({**rs, "score": "high"}, "score is not numeric"),
            ({**rs, "score": None}, "score"), ({**rs, "unix_time": -1}, ""),
        ],
        "netfilter": [
            (None, "not an object"), (7, "not an object"), ({**nf, "time": "x"}, "time is not numeric"),
            ({**nf, "message": None}, "message"), ({"time": t}, "message"),
        ],
        "dovecot": [
            (None, "item is not an object"), ({**dv, "message": ["a"]}, "message missing or not a string"),
            ({**dv, "time": {}}, "time is not numeric"), ({**dv, "program": ""}, "program missing or not a string"),
        ],
    }
    good = [  # (log, item, marker, what the stored line must contain)
        ("postfix", {**pf, "message": "connect from ctl-marker\x00\x01\x1b[31m[192.0.2.2]"}, "ctl-marker",
         "ctl-marker\ufffd\x01\x1b[31m"),
        ("postfix", {**pf, "message": "connect from surrogate-marker\udcff\ud800[192.0.2.3]"}, "surrogate-marker",
         "surrogate-marker??["),
        ("postfix", {**pf, "program": "postfix/smtp", "message": "ABCDEF12345: to=<delay-marker@example.net>, "
                     "relay=x[192.0.2.4]:25, delay=1.2.3, delays=1/2/3/4, dsn=2.0.0, status=sent (ok)"},
         "delay-marker", "delay=1.2.3"),
        ("postfix", {**pf, "program": "postfix/qmgr", "message": "BCDEF123456: from=<size-marker@example.net>, "
                     f"size={'9' * 40}, nrcpt={'9' * 30} (queue active)"}, "size-marker", "9" * 40),
        ("postfix", {**pf, "message": "huge-marker " + "y" * 60000}, "huge-marker", "y" * 60000),
        ("postfix", {**pf, "message": "extra-keys-marker", "unexpected": {"a": [1, 2]}, "time": float(t)},
         "extra-keys-marker", "extra-keys-marker"),
        ("dovecot", {**dv, "message": "imap(dv-marker\x00@example.org): Logged out \udcff"}, "dv-marker",
         "dv-marker\ufffd@example.org): Logged out ?"),
    ]
    items: dict[str, list[Any]] = {s: [b for b, _ in rows] for s, rows in bad.items()}
    for source, item, _, _ in good:
        items[source].append(item)
    reasons = {s: [r for _, r in rows] for s, rows in bad.items()}
    return items, reasons, [(s, marker, want) for s, _, marker, want in good]


BUFFER = {"postfix": "postfix", "rspamd": "rspamd-history", "netfilter": "netfilter", "dovecot": "dovecot"}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_bad_mailcow_items_are_skipped_and_counted_with_reasons(request: pytest.FixtureRequest, backend: str,
                                                                 tmp_path: Path) -> None:
    emu = Emulator(seed=23, rate=10.0, start=time.time() - 60, backfill_seconds=600)
    items, reasons, good = _item_corpus(emu)
    for source, values in items.items():
        emu.inject_raw(BUFFER[source], values)
    with serve(request, tmp_path, backend, emulator=emu) as served:
        status = served.wait_for_fetch()["import_status"]
        for source, expected in reasons.items():
            got = status.get(source) or _fetch_state(served, source)  # the API lists no dovecot import
            assert got["skipped_last_fetch"] == len(expected), (source, got)
            assert sum(got["skip_reasons"].values()) == len(expected), got
            for reason in expected:
                assert any(reason in text for text in got["skip_reasons"]), (source, reason, got["skip_reasons"])
            assert all(len(text) <= 80 and text.isprintable() for text in got["skip_reasons"])
        for source, marker, want in good:
            stored = _rows(served, f"SELECT message FROM {source}_log WHERE message LIKE :m", m=f"%{marker}%")
            assert len(stored) == 1, (source, marker, stored)
            # NUL became U+FFFD, lone surrogates '?'; other control characters are kept as logged
            assert want in stored[0][0] and "\x00" not in stored[0][0], stored[0][0][:200]
            if source == "postfix":  # and people can find it
                r = served.http.get("/api/logs/postfix", params={"search": marker})
                assert r.status_code == 200 and r.json()["total"] == 1, (marker, r.text[:300])
        messages = served.http.get("/api/messages", params={"limit": 1}).json()["total"]
        assert messages > 0 and served.alive()
    for source, expected in reasons.items():
        summary = ", ".join(sorted({r or "(any reason)" for r in expected}))
        ROWS["items"].append(f"| {backend} | {source} | {len(expected)} bad | {len(expected)} skipped and counted "
                             f"| {summary} |")
    ROWS["items"].append(f"| {backend} | postfix, dovecot | {len(good)} odd but readable | stored (NUL and lone "
                         "surrogates replaced, broken or oversized numbers kept as text) | - |")


# ---------------------------------------------------------------------------------------------- reports


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(request, tmp_path_factory.mktemp(f"hostile-{request.param}"), request.param) as app:
        app.wait_for_messages(10)
        yield app


def _deflate_stream(size: int) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    chunk = b"\x00" * MiB
    return b"".join(comp.compress(chunk) for _ in range(size // MiB)) + comp.flush()


def _zip_bomb(size: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("report.xml", "w", force_zip64=True) as member:
            member.write(b"<feedback>")
            for _ in range(size // MiB):
                member.write(b" " * MiB)
    return buf.getvalue()


def _many_members(n: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        for index in range(n):
            archive.writestr(f"r{index}.xml", b"")
    return buf.getvalue()


def _many_parts(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.net", "dmarc@example.org", "Report domain: example.org"
    msg.set_content("parts")
    for index in range(n):
        msg.add_attachment(b"x", maintype="application", subtype="octet-stream", filename=f"p{index}.bin")
    return msg.as_bytes()


def _laughs() -> bytes:
    entities = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    return (f'<?xml version="1.0"?><!DOCTYPE feedback [<!ENTITY l0 "lol">{entities}]>'
            "<feedback><report_metadata><org_name>&l9;</org_name></report_metadata></feedback>").encode()


@contextmanager
def _listener() -> Iterator[tuple[int, list[bytes]]]:
    """A port that records whoever connects to it (an external entity must never be fetched)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.2)
    seen: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            seen.append(conn.recv(200))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1], seen
    finally:
        stop.set()
        thread.join(2)
        sock.close()


def _report_corpus(port: int) -> list[tuple[str, str, bytes, tuple[int, ...], str]]:
    """(what, filename, bytes, accepted statuses, a word the reason must contain), generated here."""
    xml = aggregate_xml(3, report_id="hostile")
    external = (f'<?xml version="1.0"?><!DOCTYPE feedback [<!ENTITY x SYSTEM "http://127.0.0.1:{port}/x">'
                f'<!ENTITY f SYSTEM "file:///etc/passwd">]><feedback><report_metadata><org_name>&x;&f;'
                "</org_name></report_metadata></feedback>").encode()
    dtd = f'<?xml version="1.0"?><!DOCTYPE feedback SYSTEM "http://127.0.0.1:{port}/d.dtd"><feedback/>'.encode()
    junk_20mb = b"<feedback>" + os.urandom(MiB) * 20
    return [
        ("gzip bomb (200 MiB of zeros, ~200 KB)", "bomb.xml.gz", _deflate_stream(200 * MiB), (400, 413), "ratio"),
        ("zip bomb (one 200 MiB member)", "bomb.zip", _zip_bomb(200 * MiB), (400, 413), ""),
        ("zip with 10,000 members", "many.zip", _many_members(10_000), (400, 413), "members"),
        ("e-mail with 1,000 MIME parts", "many.eml", _many_parts(1000), (400, 413), ""),
        ("billion laughs (entity expansion)", "laughs.xml", _laughs(), (400,), ""),
        ("external entities (http and file)", "xxe.xml", external, (400,), ""),
        ("external DTD", "dtd.xml", dtd, (400,), ""),
        ("XML nested 100,000 deep", "deep.xml", b"<feedback>" + b"<a>" * 100_000, (400,), ""),
        ("JSON nested 100,000 deep", "deep.json", b"[" * 100_000, (400,), ""),
        ("20 MB file", "big.xml", junk_20mb, (413,), "limit"),
        ("truncated gzip", "cut.xml.gz", gz(xml)[: len(gz(xml)) // 2], (400,), ""),
        ("100 concatenated gzip streams", "cat.gz", b"".join(gzip.compress(b"x") for _ in range(100)), (400, 413), ""),
        ("invalid UTF-8 and NUL in XML", "bad.xml", xml.replace(b"hostile", b"\xff\xfe\x00"), (400, 201), ""),
        ("random bytes", "random.bin", os.urandom(4096), (400,), ""),
        ("empty file", "empty.xml", b"", (400,), ""),
        ("HTML instead of a report", "page.xml", b"<html><body>hello</body></html>", (400,), ""),
        ("TLS report without policies", "t.json", b'{"organization-name": "x"}', (400,), ""),
    ]


def _readable(r: httpx.Response) -> str:
    body = r.json()
    assert isinstance(body.get("detail"), str) and body["detail"].strip() and len(body["detail"]) < 2000, r.text
    assert "Traceback" not in body["detail"] and "File \"" not in body["detail"]
    return body["detail"]


def _rows(served: Served, sql: str, **params: Any) -> list[tuple]:
    """Read the served app's database directly (what was stored, whatever the API shows)."""
    engine = make_engine(served.db_url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params).all()]
    finally:
        engine.dispose()


def _fetch_state(served: Served, source: str) -> dict[str, Any]:
    (value,), = _rows(served, "SELECT value FROM ingest_state WHERE name = :n", n=f"fetch:{source}")
    state = json.loads(value)
    return {"skipped_last_fetch": state["skipped"], "skip_reasons": state["skip_reasons"]}


def _stored_reports(served: Served) -> int:
    return sum(_rows(served, f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("dmarc_report", "dmarc_failure",
                                                                           "tls_report"))


def test_hostile_report_files_are_refused_over_http_within_bounded_memory(served: Served) -> None:
    with _listener() as (port, seen):
        corpus = _report_corpus(port)
        served.http.post("/api/dmarc/upload", files={"file": ("warm.xml", b"<feedback/>")})  # warm the route
        before = served.memory()
        stored_before = _stored_reports(served)
        served.reset_peak()
        peak = 0
        wrong, accepted = [], 0
        for what, name, data, statuses, word in corpus:
            r = served.http.post("/api/dmarc/upload", files={"file": (name, data)})
            if r.status_code not in statuses:
                wrong.append((what, r.status_code, r.text[:300]))
                continue
            accepted += r.status_code == 201
            detail = _readable(r) if r.status_code >= 400 else "stored (the bad bytes were repaired)"
            assert word.lower() in detail.lower(), (what, detail)
            peak = max(peak, served.memory()["VmHWM"])
            ROWS["uploads"].append(f"| {served.backend} | {what} | {len(data):,} | {r.status_code} | "
                                   f"{detail[:110].replace('|', '/')} |")
        assert wrong == []
        for what, body, headers in [
            ("not multipart", b"<feedback/>", {"Content-Type": "application/xml"}),
            ("multipart without the file field",
             b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--\r\n",
             {"Content-Type": "multipart/form-data; boundary=b"}),
            ("broken multipart", b"--b\r\ngarbage", {"Content-Type": "multipart/form-data; boundary=b"}),
        ]:
            r = served.http.post("/api/dmarc/upload", content=body, headers=headers)
            assert r.status_code == 400, (what, r.text)
            ROWS["uploads"].append(f"| {served.backend} | {what} | {len(body)} | 400 | {_readable(r)[:110]} |")
        after = served.memory()
        assert seen == [], f"an external entity or DTD was fetched: {seen}"
    assert _stored_reports(served) == stored_before + accepted, "a refused file left a report behind"
    growth = max(peak, after["VmHWM"]) - before["VmRSS"]
    ROWS["memory"].append(f"| {served.backend} | {before['VmRSS'] / MiB:.0f} MiB | {growth / MiB:.0f} MiB | "
                          f"{(after['VmRSS'] - before['VmRSS']) / MiB:+.0f} MiB |")
    # The largest upload is 20 MB; decompression is capped at 128 MiB per input (DMARC_MAX_DECOMPRESSED_BYTES).
    assert growth < 256 * MiB, f"peak RSS grew by {growth / MiB:.0f} MiB"
    assert served.alive()


# ---------------------------------------------------------------------------------------------- requests


def _raw(served: Served, request: bytes) -> tuple[int, bytes]:
    """Send bytes no HTTP client would, and read the status and body."""
    port = int(served.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        try:
            sock.sendall(request)
        except OSError:  # the server may close while a huge request is still being sent
            pass
        out = b""
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            out += data
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), out[:200]
    return int(head.split()[1]), body


AUTH = b"Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode())


def _get(target: bytes, headers: bytes = b"", auth: bytes | None = AUTH) -> bytes:
    line = b"Authorization: " + auth + b"\r\n" if auth is not None else b""
    return b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + line + headers + b"\r\n"


RAW_CASES: list[tuple[str, bytes, tuple[int, ...]]] = [
    ("raw 0xFF bytes in the query string", _get(b"/api/messages?search=\xff\xfe"), (400,)),
    ("raw NUL in the query string", _get(b"/api/messages?search=a\x00b"), (400,)),
    ("request line of 100 KB", _get(b"/api/messages?search=" + b"x" * 100_000), (400, 414)),
    ("request line of 10 KB", _get(b"/api/messages?search=" + b"x" * 10_000), (400,)),
    ("NUL in a header value", _get(b"/api/messages", b"X-Test: a\x00b\r\n"), (400,)),
    ("one header of 1 MB", _get(b"/api/messages", b"X-Test: " + b"y" * MiB + b"\r\n"), (400, 431)),
    ("headers totalling 8 MB", _get(b"/api/health", b"".join(b"X-%d: %s\r\n" % (i, b"z" * 8000)
                                                             for i in range(1000))), (400, 431)),
    ("header without a colon", _get(b"/api/messages", b"no colon here\r\n"), (400,)),
    ("unknown method", b"BREW /api/messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", (400, 401, 405)),
    ("Content-Length not a number",
     b"POST /api/dmarc/upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: abc\r\n\r\n", (400,)),
    ("Content-Length of 10^20",
     b"POST /api/dmarc/upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " + b"9" * 20
     + b"\r\nAuthorization: " + AUTH + b"\r\n\r\n", (400, 413)),
    ("bogus Authorization: not base64", _get(b"/api/messages", auth=b"Basic !!!"), (401,)),
    ("bogus Authorization: no colon", _get(b"/api/messages", auth=b"Basic " + base64.b64encode(b"admin")), (401,)),
    ("bogus Authorization: invalid UTF-8", _get(b"/api/messages", auth=b"Basic " + base64.b64encode(b"\xff:\xfe")),
     (401,)),
    ("bogus Authorization: raw 0xFF bytes", _get(b"/api/messages", auth=b"Basic \xff\xfe"), (401,)),
    ("bogus Authorization: Bearer", _get(b"/api/messages", auth=b"Bearer abc.def.ghi"), (401,)),
    ("bogus Authorization: 10 KB", _get(b"/api/messages", auth=b"Basic " + b"A" * 10_000), (401,)),
    ("bogus Authorization: empty", _get(b"/api/messages", auth=b""), (401,)),
    ("Authorization twice (bad one second)",
     _get(b"/api/messages", b"Authorization: Basic " + base64.b64encode(b"admin:wrong") + b"\r\n"), (400, 401)),
    ("no Authorization", _get(b"/api/messages", auth=None), (401,)),
    ("no Authorization on /openapi.json", _get(b"/openapi.json", auth=None), (401,)),
    ("0xFF bytes in Cookie", _get(b"/api/messages", b"Cookie: session=\xff\xfe; x\r\n", auth=None), (401,)),
    ("X-Forwarded-For garbage", _get(b"/api/messages", b"X-Forwarded-For: \xff, 999.1.1.1, ::::\r\n",
                                     auth=b"Basic !!"), (401,)),
    ("%FF%00 in a path parameter", _get(b"/api/message/%ff%00/details"), (400,)),
    ("NUL in a domain", _get(b"/api/dmarc/domains/a%00b/overview"), (400,)),
    ("control characters in a domain", b"POST" + _get(b"/api/domains/a%1b%07b/check-dns")[3:], (400, 404)),
]


@pytest.mark.parametrize(("what", "request_bytes", "statuses"), RAW_CASES, ids=[c[0] for c in RAW_CASES])
def test_malformed_requests_get_a_readable_4xx(served: Served, what: str, request_bytes: bytes,
                                               statuses: tuple[int, ...]) -> None:
    status, body = _raw(served, request_bytes)
    assert status in statuses, (what, status, body[:300])
    text = body.decode("utf-8", "replace").strip()
    assert text and "Traceback" not in text, (what, body[:300])
    if body.startswith(b"{"):
        text = json.loads(body)["detail"]
        assert isinstance(text, str) and text.strip()
    ROWS["requests"].append(f"| {served.backend} | {what} | {status} | {text[:90].replace('|', '/')} |")
    assert served.alive()


BAD_PARAMS = [
    ("/api/messages", {"page": "-1"}), ("/api/messages", {"page": "1e3"}), ("/api/messages", {"page": "1.5"}),
    ("/api/messages", {"page": "9" * 400}), ("/api/messages", {"limit": "-9223372036854775809"}),
    ("/api/messages", {"limit": "NaN"}), ("/api/messages", {"limit": "0x10"}),
    ("/api/messages", {"search": "x" * 5000}),
    ("/api/messages", {"start_date": "9" * 40}), ("/api/messages", {"start_date": "2026-02-30"}),
    ("/api/messages", {"end_date": "\x00"}), ("/api/logs/postfix", {"queue_id": "\x00"}),
    ("/api/logs/rspamd", {"min_score": "nan"}), ("/api/logs/rspamd", {"max_score": "-inf"}),
    ("/api/logs/rspamd", {"min_score": "1e999"}), ("/api/logs/netfilter", {"limit": "[]"}),
    ("/api/stats/timeline", {"hours": "-24"}), ("/api/stats/top-blocked-ips", {"limit": "10" * 20}),
    ("/api/mailbox-stats/all", {"page_size": "100000000"}), ("/api/mailbox-stats/all", {"page": "0"}),
    ("/api/dmarc/domains", {"days": "0"}), ("/api/dmarc/domains", {"days": "99999999999999999999999"}),
    ("/api/dmarc/domains/example.org/sources", {"offset": "99999999999999999999"}),
    ("/api/dmarc/domains/example.org/failures", {"offset": "-1"}),
    ("/api/dmarc/domains/example.org/tls-reports", {"offset": "99999999999999999999"}),
    ("/api/dmarc/domains/example.org/tls-reports/daily", {"page": "99999999999999999999"}),
    ("/api/dmarc/domains/example.org/tls-reports/2026-99-01/details", {}),
    ("/api/dmarc/imap/history", {"limit": "1000000"}),
    ("/api/export/messages/csv", {"end_date": "yesterday"}),
    ("/api/status/app-version/changelog/" + "9" * 100, {}),
]


def test_bad_parameters_get_a_readable_400(served: Served) -> None:
    for path, params in BAD_PARAMS:
        r = served.http.get(path, params=params)
        assert r.status_code in (400, 404, 422), (path, params, r.status_code, r.text[:300])
        assert r.status_code != 422, "validation errors are 400 with a sentence"
        detail = _readable(r)
        assert len(detail) < 600
    ROWS["requests"].append(f"| {served.backend} | {len(BAD_PARAMS)} bad query/path values (negative, 400 digits, "
                            "NaN, inf, hex, wrong types, impossible dates, huge offsets) | 400 | "
                            "`Invalid parameter value: <name>: ...` |")


def _string_params(schema: dict) -> list[tuple[str, str, str, str]]:
    """(method, path, where, name) of every string parameter in the app's OpenAPI schema."""
    out = []
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            for param in op.get("parameters", []):
                types = {param.get("schema", {}).get("type")} | {s.get("type") for s in
                                                                 param.get("schema", {}).get("anyOf", [])}
                if "string" in types:
                    out.append((method.upper(), path, param["in"], param["name"]))
    return out


def test_nul_and_control_characters_in_every_string_parameter(served: Served) -> None:
    """PostgreSQL refuses NUL in text: every string parameter must be refused or harmless, never a 500."""
    schema = served.http.get("/openapi.json").json()
    params = _string_params(schema)
    assert len(params) >= 20
    answers: dict[int, int] = {}
    for method, path, where, name in params:
        for value in ("a\x00b", "\x1b[31m\x07", "\ufffd\ud7ff"):
            url = path
            query = {}
            for other in (p for p in schema["paths"][path][method.lower()].get("parameters", []) if p["in"] == "path"):
                url = url.replace("{" + other["name"] + "}", quote(value) if other["name"] == name else "example.org")
            if where == "query":
                url = url.replace("{", "").replace("}", "")
                query[name] = value
            elif where != "path":
                continue
            r = served.http.request(method, url, params=query)
            answers[r.status_code] = answers.get(r.status_code, 0) + 1
            assert r.status_code < 500 or r.status_code in (502, 503), (method, path, name, repr(value), r.text[:300])
            if r.status_code >= 400:
                _readable(r)
    ROWS["requests"].append(f"| {served.backend} | NUL, control characters and odd Unicode in each of the "
                            f"{len(params)} string parameters | " + ", ".join(f"{n}× {s}" for s, n in
                                                                              sorted(answers.items()))
                            + " | never 500 |")
    assert served.alive()


@pytest.fixture(scope="module", autouse=True)
def _figures() -> Iterator[None]:
    yield
    rows = ["A running `mlv serve` (child process, SQLite and PostgreSQL) fed bad input over HTTP.", ""]
    if ROWS["items"]:
        rows += ["**Bad mailcow items** (served by the emulator through `inject_raw`, imported by the app's own "
                 "fetch job; the counts and reasons are read back from `GET /api/settings/info` "
                 "`import_status.<source>.skipped_last_fetch / skip_reasons`):", "",
                 "| backend | log | items | handled | reasons |", "|---|---|---|---|---|", *ROWS["items"], ""]
    if ROWS["uploads"]:
        rows += ["**Bad report files** through `POST /api/dmarc/upload` (generated by the test):", "",
                 "| backend | file | bytes | status | reason given |", "|---|---|---|---|---|", *ROWS["uploads"], ""]
    if ROWS["memory"]:
        rows += ["**Server memory** over that barrage (RSS of the server process before; peak RSS growth while "
                 "it ran, from VmHWM after a reset; RSS left over after it):", "",
                 "| backend | RSS before | peak growth | retained |", "|---|---|---|---|", *ROWS["memory"], ""]
    if ROWS["requests"]:
        rows += ["**Bad requests** (raw bytes on a socket where no client would send them):", "",
                 "| backend | request | status | reason given |", "|---|---|---|---|", *ROWS["requests"]]
    record("Hostile input", rows)

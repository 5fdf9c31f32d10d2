"""Fuzzing: every parser turns any input into a record or a counted skip; the REST API never answers 500.

Property tests (hypothesis) feed each parser arbitrary values and real lines with hostile edits; the
REST API is fuzzed by schemathesis against its own OpenAPI schema, over HTTP, with authentication on,
on a real `mlv serve` process (SQLite and PostgreSQL) filled from the mailcow emulator.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from mlv.dmarc.aggregate import parse_aggregate
from mlv.dmarc.extract import extract_reports
from mlv.dmarc.tlsrpt import parse_tlsrpt
from mlv.dmarc.types import ReportError
from mlv.ingest.dovecot import parse_dovecot
from mlv.ingest.netfilter import parse_netfilter
from mlv.ingest.pipeline import ingest_batch
from mlv.ingest.postfix import parse_postfix
from mlv.ingest.records import ParseError
from mlv.ingest.rspamd import parse_rspamd
from mlv.ingest.store import SOURCES, parse_items
from mlv.ingest.syslog import parse_syslog_line
from mlv.mailcow.emulator import Emulator
from tests.dmarc.reportgen import aggregate_xml, gz, report_email, zipped
from tests.hardening.figures import record
from tests.hardening.test_hostile import PASSWORD, USER, Served, releases_server, serve

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "dmarc"
BIGINT = 2**63 - 1
EXAMPLES = 300
FIGURES: dict[str, Counter] = {}
ROWS: list[str] = []

# ---------------------------------------------------------------------------------------------- inputs

_EMU = Emulator(seed=21, rate=30.0, start=1_785_571_200)
_EMU.advance(1800)
REAL = {source: [i for i in _EMU.buffer_items(name) if i is not None][:400]
        for source, name in {"postfix": "postfix", "rspamd": "rspamd-history", "netfilter": "netfilter",
                             "dovecot": "dovecot"}.items()}
# What hostile edits splice into real lines: numbers too big for any column, broken numbers, NUL,
# lone surrogates, the punctuation the parsers split on, non-ASCII digits, line breaks.
TOKENS = ["9" * 400, "9" * 5000, "\u00b2", "1.2.3", ".", "-1", "-9223372036854775809", "1e999", "NaN", "inf",
          "\x00", "\ud800", "\udcff", "<", ">", "<>", "[", "]", "[]", ",", ", ", "=", ": ", "/", "\u0663\u0664",
          "\n", "\r\n",
          "\x1b[31m", "\ufeff", "\u202e", " " * 70000, "status=", "to=<", "from=<", "relay=", "delay=",
          "size=", "nrcpt=", "queued as ", "message-id=<", "NOQUEUE: ", "ABCDEF12345: "]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)


@st.composite
def edited(draw: st.DrawFn, text: str) -> str:
    """`text` with up to four slices replaced by hostile tokens or random text."""
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 24)))
        text = text[:i] + draw(st.sampled_from(TOKENS) | st.text(max_size=12)) + text[j:]
    return text


@st.composite
def hostile_item(draw: st.DrawFn, source: str) -> Any:
    """A real item of `source` with hostile edits, or an arbitrary JSON value."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(json_values)
    item = dict(draw(st.sampled_from(REAL[source])))
    if choice <= 5 and isinstance(item.get("message"), str):
        item["message"] = draw(edited(item["message"]))
        return item
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(sorted(item)) | st.text(max_size=8))
        if draw(st.booleans()) and key in item:
            del item[key]
        elif isinstance(item.get(key), str) and draw(st.booleans()):
            item[key] = draw(edited(item[key]))
        else:
            item[key] = draw(json_values | st.sampled_from(TOKENS) | st.integers(-(2**70), 2**70))
    return item


# ---------------------------------------------------------------------------------------------- checks


def _storable(value: Any, where: str) -> None:
    """What a database column can hold: no NUL, valid Unicode, finite floats, 64-bit integers."""
    if isinstance(value, str):
        assert "\x00" not in value, f"{where}: NUL"
        value.encode("utf-8")  # raises on lone surrogates
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        assert -BIGINT - 1 <= value <= BIGINT, f"{where}: {value} does not fit a BIGINT"
    elif isinstance(value, float):
        assert math.isfinite(value), f"{where}: {value}"
    elif isinstance(value, dict):
        for key, inner in value.items():
            _storable(key, where)
            _storable(inner, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for inner in value:
            _storable(inner, where)
    elif is_dataclass(value):
        for f in fields(value):
            _storable(getattr(value, f.name), f"{where}.{f.name}")


def _outcome(name: str, parse: Callable[[Any], Any], value: Any, errors: tuple[type[Exception], ...]) -> None:
    """One input: a record (every field storable) or the documented error; anything else fails."""
    tally = FIGURES.setdefault(name, Counter())
    try:
        result = parse(value)
    except errors:
        tally["skipped (documented error)"] += 1
        return
    tally["record"] += 1
    _storable(result, name)


PARSERS = {"postfix": parse_postfix, "rspamd": parse_rspamd, "netfilter": parse_netfilter, "dovecot": parse_dovecot}
FAST = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("source", SOURCES)
def test_log_parsers_give_a_record_or_a_parse_error(source: str) -> None:
    @FAST
    @given(item=hostile_item(source))
    def run(item: Any) -> None:
        _outcome(f"parse_{source}", PARSERS[source], item, (ParseError,))

    run()
    assert FIGURES[f"parse_{source}"]["record"] > 0 and FIGURES[f"parse_{source}"]["skipped (documented error)"] > 0


@pytest.mark.parametrize("source", SOURCES)
def test_fetcher_item_step_counts_every_item(source: str) -> None:
    """parse_items (what the fetch runs per batch) never raises: each item is a record or a counted skip."""

    @FAST
    @given(items=st.lists(hostile_item(source), max_size=8))
    def run(items: list[Any]) -> None:
        parsed = parse_items(source, items)
        assert len(parsed.records) + parsed.skipped == len(items)
        assert sum(parsed.skip_reasons.values()) == parsed.skipped
        assert all(reason.strip() for reason in parsed.skip_reasons)
        assert len(set(parsed.hashes)) == len(parsed.hashes)
        tally = FIGURES.setdefault(f"parse_items({source})", Counter())
        tally["items"] += len(items)
        tally["skipped"] += parsed.skipped

    run()


def _syslog_lines() -> list[str]:
    out = []
    for source in ("postfix", "dovecot"):
        for item in REAL[source][:60]:
            out.append(f"Aug  1 08:00:00 mail {item['program']}[123]: {item['message']}")
            out.append(f"2026-08-01T08:00:00.123+02:00 mail {item['program']}[123]: {item['message']}")
    return out


SYSLOG = _syslog_lines()


def _syslog_then_parse(line: str) -> Any:
    item = parse_syslog_line(line, year=2026, tz="Europe/Berlin")
    if item is None:
        raise ParseError("not a mail line")
    return (parse_postfix if item["source"] == "postfix" else parse_dovecot)(item)


@FAST
@given(line=st.sampled_from(SYSLOG).flatmap(edited) | st.text(max_size=200))
def test_syslog_line_parser(line: str) -> None:
    _outcome("parse_syslog_line", _syslog_then_parse, line, (ParseError,))


def _seeds() -> list[tuple[str, bytes]]:
    files = [p for p in FIXTURES.rglob("*") if p.is_file() and p.suffix in (".xml", ".gz", ".zip", ".json", ".eml")]
    xml = aggregate_xml(4, report_id="fuzz")
    tls = (FIXTURES / "smtp_tls" / "rfc8460.json").read_bytes()
    return ([(p.name, p.read_bytes()) for p in sorted(files)] +
            [("r.xml", xml), ("r.xml.gz", gz(xml)), ("r.zip", zipped("r.xml", xml)), ("t.json", tls),
             ("t.json.gz", gz(tls)), ("m.eml", report_email(gz(xml)))])


SEEDS = _seeds()


@st.composite
def hostile_bytes(draw: st.DrawFn) -> tuple[str, bytes]:
    """A real report file (xml, gz, zip, json, eml) with bytes flipped, cut or inserted; or random bytes."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.sampled_from(["", "x.xml", "x.gz", "x.zip", "x.json", "x.eml"])), draw(st.binary(max_size=600))
    name, data = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(data)))
        kind = draw(st.integers(0, 2))
        if kind == 0:
            data = data[:i]
        elif kind == 1:
            data = data[:i] + draw(st.binary(min_size=1, max_size=8)) + data[i + 1:]
        else:
            data = data[:i] + draw(st.sampled_from([b"<!DOCTYPE a [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>",
                                                     b"&e;", b"<a>" * 50, b"\x00", b"\xff\xfe", b"]]>", b"{" * 40,
                                                     b"PK\x03\x04", b"\x1f\x8b\x08"])) + data[i:]
    return name, data


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=hostile_bytes())
def test_report_parsers(case: tuple[str, bytes]) -> None:
    name, data = case
    _outcome("extract_reports", lambda d: extract_reports(d, filename=name), data, (ReportError,))
    _outcome("parse_aggregate", parse_aggregate, data, (ReportError,))
    _outcome("parse_tlsrpt", parse_tlsrpt, data, (ReportError,))


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
def test_hostile_batches_are_stored_or_counted(engine: Engine, db_url: str) -> None:
    """Whole hostile batches through ingest_batch into a real database: one transaction each, never an error."""
    backend = db_url.split(":", 1)[0].split("+", 1)[0]

    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(batch=st.fixed_dictionaries({s: st.lists(hostile_item(s), max_size=12) for s in SOURCES}))
    def run(batch: dict[str, list[Any]]) -> None:
        with engine.begin() as conn:
            result = ingest_batch(conn, batch)
        tally = FIGURES.setdefault(f"ingest_batch ({backend})", Counter())
        for source, items in batch.items():
            if items:
                assert result.received[source] == len(items)
                assert result.stored[source] + result.skipped[source] <= len(items)
            tally["items"] += len(items)
            tally["stored"] += result.stored.get(source, 0)
            tally["skipped"] += result.skipped.get(source, 0)

    run()


# ---------------------------------------------------------------------------------------------- schemathesis


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzz_target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with releases_server() as releases:
        with serve(request, tmp_path_factory.mktemp(f"fuzz-{request.param}"), request.param,
                   APP_RELEASES_URL=releases, MAILCOW_RELEASES_URL=releases) as served:
            served.wait_for_messages(20)
            xml = aggregate_xml(30, report_id="fuzz-seed", domain=served.domain)
            r = served.http.post("/api/dmarc/upload", files={"file": ("seed.xml", xml)})
            assert r.status_code == 201, r.text
            yield served


def test_schemathesis_finds_no_server_error_and_no_schema_violation(fuzz_target: Served, tmp_path: Path) -> None:
    started = time.monotonic()
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "schemathesis.cli", "run", f"{fuzz_target.base}/openapi.json",
           "--auth", f"{USER}:{PASSWORD}", "--checks", "not_a_server_error,response_schema_conformance",
           "--max-examples", "12", "--workers", "2", "--seed", "20261125", "--request-timeout", "30",
           "--phases", "examples,coverage,fuzzing", "--report", "json", "--report-json-path", str(report),
           "--no-color"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert report.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(report.read_text())
    ops, cases = data["operations"], data["test_cases"]
    ROWS.append(f"| schemathesis ({fuzz_target.backend}) | {ops['tested']}/{ops['total']} operations | "
                f"{cases['generated']:,} cases | {cases['unique_failures']} failures, {len(data['errors'])} errors | "
                f"{elapsed:.0f} s |")
    assert data["failures"] == [] and data["errors"] == [], proc.stdout[-6000:]
    assert ops["tested"] == ops["total"] >= 45
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert fuzz_target.alive(), "the server died under fuzzing"


@pytest.fixture(scope="module", autouse=True)
def _figures() -> Iterator[None]:
    yield
    rows = ["Property tests (hypothesis, derandomized, `deadline=None`): real mailcow items, syslog lines and "
            "report files with hostile edits (numbers too big for a column, broken numbers, NUL, lone "
            "surrogates, control characters, entities, truncation) and arbitrary JSON values. Every input "
            "must give a record whose fields a database column can hold, or the documented "
            "`ParseError`/`ReportError`.", "",
            "| target | inputs | records | skipped (documented error) |", "|---|---|---|---|"]
    for name, tally in sorted(FIGURES.items()):
        if "items" in tally:
            stored = tally["stored"] if "stored" in tally else tally["items"] - tally["skipped"]
            rows.append(f"| {name} | {tally['items']:,} items | {stored:,} | {tally['skipped']:,} |")
        else:
            total = tally["record"] + tally["skipped (documented error)"]
            rows.append(f"| {name} | {total:,} | {tally['record']:,} | {tally['skipped (documented error)']:,} |")
    if ROWS:
        rows += ["", "schemathesis against `/openapi.json` of a running `mlv serve` (Basic auth on, every route, "
                 "checks `not_a_server_error` and `response_schema_conformance`, phases examples, coverage "
                 "and fuzzing, 12 examples per operation, 2 workers). Its database was filled from the mailcow "
                 "emulator by the app's own fetch job, plus one uploaded DMARC report. Nothing is excluded: "
                 "DNS checks ask a closed local port (DNS_NAMESERVERS), release checks a local releases "
                 "server, SMTP/IMAP tests have no server configured, so every route answers at once.", "",
                 "| run | operations | cases | failures | time |", "|---|---|---|---|---|", *ROWS]
    record("Fuzzing", rows)

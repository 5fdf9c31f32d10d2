"""Figures of the reliability tests: printed, and written into BENCHMARKS.md under "## Reliability".

Each test (or group of tests) owns one "### topic" subsection and replaces it on every run; the
file is locked while it is rewritten, so tests running side by side never lose each other's lines.
"""

from __future__ import annotations

import fcntl
import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "BENCHMARKS.md"
SECTION = "## Reliability"
INTRO = ("Written by the tests under `tests/hardening/` on every run of the suite: each subsection says what "
         "was done to mlv and what it measured.\n")


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def record(topic: str, rows: list[str]) -> None:
    """Print `rows` and make them the subsection `### topic` of the Reliability section."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = f"### {topic}\n\nMachine: {machine()}. Run: {stamp}.\n\n" + "\n".join(rows) + "\n"
    print(f"\n{body}")
    with open(PATH.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = PATH.read_text(encoding="utf-8") if PATH.exists() else "# Benchmarks\n"
        if SECTION not in text:
            text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{INTRO}\n"
        start = text.index(SECTION)
        end_match = re.compile(r"^## ", re.M).search(text, start + len(SECTION))
        end = end_match.start() if end_match else len(text)
        section = text[start:end]
        pattern = re.compile(rf"^### {re.escape(topic)}\n.*?(?=^### |\Z)", re.S | re.M)
        section = pattern.sub(lambda _m: body + "\n", section) if pattern.search(section) \
            else section.rstrip("\n") + "\n\n" + body + "\n"
        text = text[:start] + section.rstrip("\n") + "\n" + ("\n" + text[end:] if end < len(text) else "")
        tmp = PATH.with_suffix(".md.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(PATH)


def module_figures(topic: str):  # type: ignore[no-untyped-def]
    """(rows by key, fixture): a module's tests fill the dict; the module-wide fixture, bound to a name
    in that module, records its rows (sorted by key) as `### topic` once the module's tests are done."""
    rows: dict[str, list[str]] = {}

    @pytest.fixture(scope="module", autouse=True)
    def figures():  # type: ignore[no-untyped-def]
        yield
        if rows:
            record(topic, [row for key in sorted(rows) for row in rows[key]])

    return rows, figures

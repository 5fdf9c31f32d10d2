"""Writing benchmark figures into BENCHMARKS.md, one section per benchmark."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

PATH = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = "# Benchmarks\n\nFigures written by the scripts in `bench/`; each section says where and when it ran.\n"


def write_section(title: str, rows: list[str], *, machine: str) -> None:
    """Replace (or add) the section `## title` of BENCHMARKS.md."""
    text = PATH.read_text(encoding="utf-8") if PATH.exists() else HEADER
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = f"## {title}\n\nMachine: {machine}. Run: {stamp}.\n\n" + "\n".join(rows) + "\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(body + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + body
    PATH.write_text(text, encoding="utf-8")

"""`mlv serve` as a newcomer runs it: the emulator, the import job, the guard, the first page."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    skip = ("MAILCOW_", "AUTH_", "DATABASE_URL", "PYTEST", "NICEGUI")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env.update({"DATA_DIR": str(tmp_path / "data"), "EMULATOR_BACKFILL_HOURS": "0.5", "FETCH_INTERVAL": "5",
                "PYTHONUNBUFFERED": "1", **extra})
    return env


def test_serve_demo_imports_from_the_emulator_behind_auth(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "main.py", "--port", str(port)], cwd=ROOT, env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        health = httpx.get(f"{base}/api/health", timeout=5).json()
        assert health["status"] == "healthy" and health["config"]["auth_enabled"] is True
        password = (tmp_path / "data" / "admin-password").read_text().strip()
        assert len(password) >= 16
        assert (tmp_path / "data" / "admin-password").stat().st_mode & 0o777 == 0o600
        assert httpx.get(f"{base}/", timeout=5).status_code == 401
        assert httpx.get(f"{base}/", auth=("admin", "wrong"), timeout=5).status_code == 401
        page = httpx.get(f"{base}/", auth=("admin", password), timeout=10)
        assert page.status_code == 200 and "nicegui" in page.text.lower()
        db = tmp_path / "data" / "mlv.db"
        messages = 0
        while time.monotonic() < deadline and messages < 20:
            time.sleep(1)
            with sqlite3.connect(db) as conn:
                messages = conn.execute("SELECT COUNT(*) FROM message").fetchone()[0]
        assert messages >= 20, "the fetch job imported nothing from the built-in emulator"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/" in out and password in out
    assert "Traceback" not in out, out[-3000:]


def test_bad_setting_stops_start_up_with_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=_env(tmp_path, FETCH_INTERVAL="soon"),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "mlv: invalid value for FETCH_INTERVAL: Input should be a valid integer, unable to parse string as an integer"
    ]

"""`mlv serve` in a child process and Debian's headless Chromium driven by Playwright, for the UI tests
and bench/ui.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("MLV_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
PASSWORD = "correct horse battery staple"


@dataclass
class AppServer:
    base: str
    process: subprocess.Popen
    data_dir: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()


@contextmanager
def app_server(data_dir: Path, *, db: Path | None = None, **settings: str) -> Iterator[AppServer]:
    """`python main.py` on a free port with `settings` as environment; stopped on exit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if db is not None:
        shutil.copy(db, data_dir / "mlv.db")
    with child_server(["main.py"], data_dir, name="mlv serve", **settings) as server:
        yield server


@contextmanager
def child_server(args: list[str], data_dir: Path, *, name: str, timeout: float = 60,
                 **settings: str) -> Iterator[AppServer]:
    """`python ARGS --port P` (the app) in a child process with a clean environment plus `settings`,
    waited for until /api/health answers; stopped on exit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MAILCOW_", "AUTH_", "DATABASE_URL", "POSTGRES_", "PYTEST", "NICEGUI", "SMTP_",
                                "DMARC_"))}
    env.update({"DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", "AUTH_PASSWORD": PASSWORD, **settings})
    log_path = data_dir / "server.log"
    with open(log_path, "wb") as out:
        process = subprocess.Popen([sys.executable, *args, "--port", str(port)], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    server = AppServer(f"http://127.0.0.1:{port}", process, data_dir, log_path, env)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited: {server.log()[-3000:]}")
            try:
                if httpx.get(f"{server.base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer in {timeout:.0f} s: {server.log()[-3000:]}")
            time.sleep(0.2)
        yield server
    finally:
        server.stop()


def launch(playwright):  # type: ignore[no-untyped-def]
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def log_in(page, base: str, *, next_path: str = "/", password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}{next_path}")
    page.wait_for_url("**/login?next=*")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()

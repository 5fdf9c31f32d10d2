"""UI test fixtures: one emulator + filled database per session; each test gets its own copy of it.

Page-logic tests use NiceGUI's `user` fixture (imported below; the app runs from
tests/ui/app_main.py with settings from the environment set here). Browser tests start `mlv serve`
in a child process and drive Debian's Chromium with Playwright.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nicegui.testing import User
from nicegui.testing.general_fixtures import pytest_configure  # noqa: F401  (NiceGUI's test storage, marker)
from nicegui.testing.user_simulation import user_simulation

from mlv.jobs import registry
from mlv.mailcow.objects import dkim_keys
from tests.ui.data import DemoServer, start_demo

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
SERVER_IP = "203.0.113.10"


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    server = start_demo(tmp_path_factory.mktemp("ui-demo"))
    yield server
    server.handle.stop()


@pytest.fixture(scope="session")
def dns_server() -> Iterator[str | None]:
    """Knot serving the emulator's domains: example.org done right, example.net with weak spots."""
    try:
        from tests.dns.knot import Knot, txt, zone_text
    except ImportError:
        yield None
        return
    keys = dkim_keys()

    def dkim(key: str) -> str:
        return txt("v=DKIM1; k=rsa; ", f"p={key[:200]}", key[200:])

    zones = {
        "example.org": zone_text([("example.org", "MX", "10 mail.example.org."),
                                  ("mail.example.org", "A", SERVER_IP),
                                  ("example.org", "TXT", txt(f"v=spf1 ip4:{SERVER_IP} -all")),
                                  ("dkim._domainkey.example.org", "TXT", dkim(keys["example.org"])),
                                  ("_dmarc.example.org", "TXT", txt("v=DMARC1; p=reject; rua=mailto:d@example.org"))]),
        "example.net": zone_text([("example.net", "MX", "10 mail.example.org."),
                                  ("example.net", "TXT", txt("v=spf1 mx ?all")),
                                  ("_dmarc.example.net", "TXT", txt("v=DMARC1; p=none"))]),
    }
    try:
        knot = Knot.start(zones)
    except RuntimeError:
        yield None
        return
    yield knot.address
    knot.stop()


@pytest.fixture
def ui_env(demo: DemoServer, dns_server: str | None, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Environment for tests/ui/app_main.py: a copy of the demo database, the emulator, no jobs, no auth."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(demo.db_path, data / "mlv.db")
    for name in ("DATABASE_URL", "POSTGRES_HOST", "AUTH_PASSWORD", "SMTP_HOST", "DMARC_IMAP_HOST"):
        monkeypatch.delenv(name, raising=False)
    env = {"DATA_DIR": str(data), "MAILCOW_URL": demo.url, "MAILCOW_API_KEY": demo.api_key,
           "SCHEDULER_ENABLED": "false", "AUTH_ENABLED": "false", "TZ": "Europe/Berlin",
           "MAIL_SERVER_IP": SERVER_IP, "DNS_NAMESERVERS": dns_server or "127.0.0.1:9",
           "SMTP_PASSWORD": "hunter2", "SMTP_USER": "mlv"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    saved = copy.deepcopy(registry.jobs)
    yield data
    registry.jobs = saved


@pytest.fixture
async def user(ui_env: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[User]:
    """NiceGUI's simulated user on the app of tests/ui/app_main.py, set up after ui_env."""
    async with user_simulation(main_file=ROOT / "tests" / "ui" / "app_main.py") as simulated:
        yield simulated
    errors = [r for r in caplog.get_records("call") if r.levelname == "ERROR"]
    assert not errors, [r.getMessage() for r in errors]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS

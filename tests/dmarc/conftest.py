"""Fixtures of the DMARC tests: the real reports, settings, an API client, Dovecot, aiosmtpd, mmdb files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlv.config import Settings, load_settings
from tests.dmarc.mmdb import asn_record, city_record, write_mmdb
from tests.dmarc.servers import PASSWORD, Dovecot, SmtpServer, make_cert

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dmarc"


def fixture(name: str) -> bytes:
    """A real report from tests/fixtures/dmarc (aggregate/, failure/, smtp_tls/)."""
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings with DATA_DIR in tmp_path, no reverse DNS, and any overrides."""
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"data_dir": tmp_path / "data", "dmarc_rdns_enabled": False,
                                  "auth_enabled": False, "scheduler_enabled": False}
        values.update(overrides)
        return load_settings(**values)
    return build


@pytest.fixture
def api(engine: Any, make_settings: Callable[..., Settings]) -> Callable[..., Any]:
    """A TestClient over the DMARC routes on the test database: api(**settings_overrides)."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from mlv.api.dmarc import router
    from mlv.api.dmarc_deps import engine_dep, settings_dep

    clients: list[TestClient] = []

    def build(**overrides: Any) -> TestClient:
        app = FastAPI()
        app.include_router(router, prefix="/api")
        settings = make_settings(**overrides)
        app.dependency_overrides[engine_dep] = lambda: engine
        app.dependency_overrides[settings_dep] = lambda: settings
        client = TestClient(app)
        client.settings = settings  # type: ignore[attr-defined]
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    try:
        server = Dovecot.start()
    except Exception as exc:
        pytest.skip(f"Dovecot not available: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_server(tls_files: tuple[Path, Path]) -> Iterator[SmtpServer]:
    server = SmtpServer(*tls_files)
    yield server
    server.stop()


@pytest.fixture
def imap_settings(dovecot: Dovecot, smtp_server: SmtpServer, make_settings: Callable[..., Settings],
                  tls_files: tuple[Path, Path]) -> Callable[..., Settings]:
    """Settings for a new empty Dovecot mailbox (plain IMAP by default) and the test SMTP server."""
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "dmarc_imap_enabled": True, "dmarc_imap_host": "127.0.0.1", "dmarc_imap_port": dovecot.port,
            "dmarc_imap_use_ssl": False, "dmarc_imap_use_starttls": False, "dmarc_imap_user": dovecot.add_user(),
            "dmarc_imap_password": PASSWORD, "dmarc_imap_ca_file": str(dovecot.cert), "dmarc_imap_timeout": 10,
            "smtp_enabled": True, "smtp_host": "127.0.0.1", "smtp_port": smtp_server.port, "smtp_use_tls": True,
            "smtp_user": "mailer", "smtp_password": PASSWORD, "smtp_from": "mlv@example.test",
            "smtp_ca_file": str(tls_files[0]), "admin_email": "admin@example.test", "smtp_timeout": 10}
        values.update(overrides)
        return make_settings(**values)
    return build


@pytest.fixture(scope="session")
def geoip_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A City and an ASN database in the real MaxMind DB format."""
    folder = tmp_path_factory.mktemp("geoip")
    city = write_mmdb(folder / "GeoLite2-City.mmdb", [
        ("209.85.128.0/17", city_record("US", "United States", "Mountain View")),
        ("212.199.0.0/16", city_record("IL", "Israel", "Tel Aviv")),
        ("100.24.0.0/13", city_record("US", "United States", "Ashburn")),
        ("2001:db8::/32", city_record("DE", "Germany")),
    ], database_type="GeoLite2-City")
    asn = write_mmdb(folder / "GeoLite2-ASN.mmdb", [
        ("209.85.128.0/17", asn_record(15169, "Google LLC")),
        ("54.240.0.0/18", asn_record(16509, "Amazon.com, Inc.")),
        ("212.199.0.0/16", asn_record(8551, "Bezeq International Ltd.")),
    ], database_type="GeoLite2-ASN")
    return city, asn

"""The one settings object, read from environment variables and `.env`.

Names follow the API contract and the original tool (MAILCOW_URL, FETCH_INTERVAL, ...).
A bad value stops start-up with one line naming the variable (see :func:`load_settings`).
"""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ConfigError(SystemExit):
    """A setting has a bad value; carries one readable line."""


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      case_sensitive=False)

    mailcow_url: str = ""
    mailcow_api_key: str = ""
    mailcow_api_timeout: float = Field(30.0, gt=0, le=600)
    mailcow_api_verify_ssl: bool = True
    local_domains: CommaList = []

    fetch_interval: int = Field(60, ge=5, le=86400)
    fetch_count_postfix: int = Field(2000, ge=10, le=100000)
    fetch_count_rspamd: int = Field(500, ge=10, le=100000)
    fetch_count_netfilter: int = Field(500, ge=10, le=100000)
    retention_days: int = Field(7, ge=1, le=3650)

    tz: str = "UTC"
    app_title: str = "mlv — mailcow log viewer"
    app_logo_url: str = ""
    blacklist_emails: CommaList = []
    max_search_results: int = Field(1000, ge=1, le=1000000)
    csv_export_limit: int = Field(10000, ge=1, le=10000000)
    scheduler_workers: int = Field(4, ge=1, le=64)
    log_level: str = "WARNING"

    auth_enabled: bool = True
    auth_username: str = "admin"
    auth_password: str = ""
    # Peers whose X-Forwarded-For header is believed (IPs or CIDR networks of reverse proxies).
    trusted_proxies: CommaList = []
    # Failed logins from one client before it is slowed down, and the window they count in.
    auth_max_failures: int = Field(5, ge=1, le=1000)
    auth_failure_window: int = Field(300, ge=10, le=86400)

    # Update checks: a GitHub-style "releases" API URL (empty = no check), timeout, cache.
    app_releases_url: str = ""
    mailcow_releases_url: str = ""
    version_check_timeout: float = Field(10.0, gt=0, le=120)
    version_check_cache: int = Field(21600, ge=0, le=7 * 86400)

    database_url: str = ""
    postgres_host: str = ""
    postgres_port: int = 5432
    postgres_user: str = "mlv"
    postgres_password: str = ""
    postgres_db: str = "mlv"

    data_dir: Path = Path("./data")
    dns_nameservers: CommaList = []
    mail_server_ip: str = ""

    # Demo mode: the built-in emulator when no MAILCOW_URL is configured.
    emulator_seed: int = 1
    emulator_rate: float = Field(6.0, gt=0, le=10000)
    emulator_backfill_hours: float = Field(2.0, ge=0, le=24 * 14)
    scheduler_enabled: bool = True
    server_id: int = Field(1, ge=1)

    # ---- DMARC / TLS-RPT reports, GeoIP, IMAP auto-import, SMTP notifications (issue 6) ----
    dmarc_manual_upload_enabled: bool = True
    dmarc_retention_days: int = Field(365, ge=1, le=36500)
    # Untrusted report limits: a 100,000-record aggregate report is ~40 MB of XML, gzipped ~65:1.
    dmarc_max_file_bytes: int = Field(10 * 1024 * 1024, ge=1024)          # an uploaded / attached file
    dmarc_max_email_bytes: int = Field(25 * 1024 * 1024, ge=1024)         # a whole report e-mail
    dmarc_max_decompressed_bytes: int = Field(128 * 1024 * 1024, ge=1024)  # all layers of one input
    dmarc_max_compression_ratio: int = Field(200, ge=2)                   # checked past the first MiB
    dmarc_max_archive_members: int = Field(20, ge=1, le=10000)
    dmarc_rdns_enabled: bool = True
    dmarc_rdns_timeout: float = Field(2.0, gt=0, le=30)
    dmarc_imap_enabled: bool = False
    dmarc_imap_host: str = ""
    dmarc_imap_port: int = Field(993, ge=1, le=65535)
    dmarc_imap_use_ssl: bool = True
    dmarc_imap_use_starttls: bool = False
    dmarc_imap_user: str = ""
    dmarc_imap_password: SecretStr = SecretStr("")
    dmarc_imap_folder: str = "INBOX"
    dmarc_imap_interval: int = Field(3600, ge=30, le=7 * 86400)
    dmarc_imap_delete_after: bool = False
    dmarc_imap_move_to: str = ""            # move processed mails to this folder (instead of deleting)
    dmarc_imap_timeout: float = Field(30.0, gt=0, le=600)
    dmarc_imap_verify_ssl: bool = True
    dmarc_imap_ca_file: str = ""            # extra CA bundle (self-signed mail servers)
    dmarc_error_email: str = ""             # where failed-sync notices go (default: ADMIN_EMAIL)
    smtp_enabled: bool = False
    smtp_host: str = ""
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_use_tls: bool = True               # STARTTLS
    smtp_use_ssl: bool = False              # implicit TLS (port 465)
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_from: str = ""
    smtp_relay_mode: bool = False           # no AUTH (local relay)
    smtp_timeout: float = Field(30.0, gt=0, le=600)
    smtp_verify_ssl: bool = True
    smtp_ca_file: str = ""
    admin_email: str = ""
    maxmind_account_id: str = ""
    maxmind_license_key: SecretStr = SecretStr("")
    maxmind_download_url: str = "https://download.maxmind.com/geoip/databases/{edition}/download?suffix=tar.gz"
    geoip_city_path: Path | None = None     # default DATA_DIR/geoip/GeoLite2-City.mmdb
    geoip_asn_path: Path | None = None      # default DATA_DIR/geoip/GeoLite2-ASN.mmdb
    # ---- end of issue 6 block ----

    # ---- UI (issue 7) ----
    native_window: bool = False             # `mlv serve` opens a native desktop window (like --native)
    native_window_size: str = Field("1400x900", pattern=r"^\d{3,5}x\d{3,5}$")
    # ---- end of issue 7 block ----

    @field_validator("local_domains", "blacklist_emails", "dns_nameservers", "trusted_proxies", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("local_domains", "blacklist_emails")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [v.lower() for v in value]

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"{item!r} is not an IP address or network") from exc
        return value

    @field_validator("mailcow_url", "app_releases_url", "mailcow_releases_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value

    @field_validator("tz")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        value = value.strip()
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix):]
        if value and not value.startswith(("sqlite://", "postgresql+psycopg://")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _postgres_parts(self) -> Settings:
        if not self.database_url and self.postgres_host:
            from sqlalchemy.engine import URL

            self.database_url = URL.create(
                "postgresql+psycopg", username=self.postgres_user, password=self.postgres_password or None,
                host=self.postgres_host, port=self.postgres_port, database=self.postgres_db,
            ).render_as_string(hide_password=False)
        return self

    @property
    def native_window_size_tuple(self) -> tuple[int, int]:
        width, height = self.native_window_size.split("x")
        return int(width), int(height)

    @property
    def demo_mode(self) -> bool:
        """No mailcow configured: the built-in emulator is the data source."""
        return not self.mailcow_url

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'mlv.db').as_posix()}"

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def effective_password(self) -> str:
        """AUTH_PASSWORD, or a random one generated once and kept in DATA_DIR (mode 0600)."""
        if self.auth_password:
            return self.auth_password
        path = self.data_dir / "admin-password"
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(18)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(password + "\n")
        return password


def load_settings(**overrides: object) -> Settings:
    """Read the settings; a bad value raises ConfigError with one line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first.get("loc") else "setting"
        raise ConfigError(f"mlv: invalid value for {name}: {first['msg']}") from None


_settings: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def set_settings(settings: Settings | None) -> None:
    """Replace the process-wide settings (tests, CLI flags)."""
    global _settings
    _settings = settings

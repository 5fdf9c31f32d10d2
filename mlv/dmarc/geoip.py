"""GeoIP enrichment of source IPs: country, city, ASN and organisation.

Reads MaxMind GeoLite2/GeoIP2 City, Country, ASN and ISP databases through geoip2's readers, and
any other MaxMind DB file with a compatible layout (DB-IP lite, IPinfo lite, ...) through
maxminddb. Without a database every field is None and the flag is 🌍. Readers are reopened when a
file changes (the update job replaces files atomically), never closed under a running lookup.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geoip2.database
import geoip2.errors
import maxminddb

GLOBE = "🌍"


@dataclass(frozen=True, slots=True)
class GeoInfo:
    country_code: str | None = None
    country_name: str | None = None
    city: str | None = None
    asn: str | None = None        # "AS15169"
    asn_org: str | None = None


def flag_emoji(code: str | None) -> str:
    """🇺🇸 for "US"; 🌍 when the country is unknown."""
    if not code or len(code) != 2 or not code.isascii() or not code.isalpha():
        return GLOBE
    return "".join(chr(0x1F1E6 + ord(c) - ord("A")) for c in code.upper())


def _asn(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip().upper()
    return (text if text.startswith("AS") else f"AS{text}")[:16]


def _code(value: Any) -> str | None:
    return value.upper() if isinstance(value, str) and len(value) == 2 and value.isalpha() else None


def _from_raw(data: Any) -> dict[str, Any]:
    """GeoIP2-style nested records, or flat ones (country_code / asn / as_name)."""
    if not isinstance(data, dict):
        return {}
    out: dict[str, Any] = {}
    country = data.get("country") or data.get("registered_country")
    if isinstance(country, dict):
        out["country_code"] = _code(country.get("iso_code"))
        out["country_name"] = (country.get("names") or {}).get("en")
    else:
        out["country_code"] = _code(data.get("country_code"))
        out["country_name"] = country if isinstance(country, str) else data.get("country_name")
    city = data.get("city")
    out["city"] = (city.get("names") or {}).get("en") if isinstance(city, dict) else city if isinstance(city, str) \
        else None
    out["asn"] = _asn(data.get("autonomous_system_number") or data.get("asn"))
    out["asn_org"] = data.get("autonomous_system_organization") or data.get("as_name") or data.get("isp") \
        or data.get("organization")
    return out


def _kind(database_type: str) -> str:
    for marker, kind in (("City", "city"), ("Country", "country"), ("ASN", "asn"), ("ISP", "isp")):
        if marker in database_type:
            return kind
    return "raw"


class GeoIP:
    """Lookups over every configured database; the first one that knows a field wins."""

    def __init__(self, paths: list[Path]) -> None:
        self.readers: list[tuple[str, Any]] = []
        self.errors: dict[str, str] = {}
        for path in paths:
            if not path.is_file():
                continue
            try:
                reader = geoip2.database.Reader(str(path))
                kind = _kind(reader.metadata().database_type)
                if kind == "raw":
                    reader = maxminddb.open_database(str(path))
                self.readers.append((kind, reader))
            except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
                self.errors[str(path)] = f"{type(exc).__name__}: {exc}"

    @property
    def available(self) -> bool:
        return bool(self.readers)

    def lookup(self, ip: str) -> GeoInfo:
        values: dict[str, Any] = {}
        for kind, reader in self.readers:
            try:
                part = self._read(kind, reader, ip)
            except (geoip2.errors.AddressNotFoundError, ValueError, TypeError):
                continue
            for key, value in part.items():
                if value and not values.get(key):
                    values[key] = str(value)
        return GeoInfo(**values)

    @staticmethod
    def _read(kind: str, reader: Any, ip: str) -> dict[str, Any]:
        if kind in ("city", "country"):
            found = reader.city(ip) if kind == "city" else reader.country(ip)
            country = found.country if found.country.iso_code else found.registered_country
            return {"country_code": _code(country.iso_code), "country_name": country.name,
                    "city": found.city.name if kind == "city" else None}
        if kind in ("asn", "isp"):
            found = reader.asn(ip) if kind == "asn" else reader.isp(ip)
            return {"asn": _asn(found.autonomous_system_number), "asn_org": found.autonomous_system_organization}
        return _from_raw(reader.get(ip))


def database_paths(settings: Any) -> list[Path]:
    """GEOIP_CITY_PATH and GEOIP_ASN_PATH, or the files the update job writes in DATA_DIR/geoip."""
    folder = Path(settings.data_dir) / "geoip"
    return [Path(settings.geoip_city_path or folder / "GeoLite2-City.mmdb"),
            Path(settings.geoip_asn_path or folder / "GeoLite2-ASN.mmdb")]


_lock = threading.Lock()
_cache: dict[tuple[Any, ...], GeoIP] = {}


def get_geoip(settings: Any) -> GeoIP:
    """The GeoIP for the configured files, reopened when a file appears, changes or goes."""
    paths = database_paths(settings)
    key = tuple((str(p), p.stat().st_mtime_ns if p.is_file() else None) for p in paths)
    with _lock:
        geo = _cache.get(key)
        if geo is None:
            _cache.clear()
            geo = _cache[key] = GeoIP(paths)
        return geo


def maxmind_status(settings: Any) -> dict[str, Any]:
    """For GET /api/settings/info: credentials configured, databases readable, or why not."""
    configured = bool(settings.maxmind_account_id and settings.maxmind_license_key.get_secret_value())
    geo = get_geoip(settings)
    missing = [p.name for p in database_paths(settings) if not p.is_file()]
    error = "; ".join(geo.errors.values()) or (f"missing: {', '.join(missing)}" if missing else None)
    return {"configured": configured, "valid": geo.available and not geo.errors, "error": error}

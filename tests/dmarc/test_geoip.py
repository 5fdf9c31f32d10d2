"""GeoIP from real .mmdb files, the MaxMind download (local HTTP server), reverse DNS (local DNS server)."""

from __future__ import annotations

import base64
import io
import socket
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dns.message
import dns.rdatatype
import dns.rrset
import pytest
from sqlalchemy import text

from mlv.dmarc.enrich import refresh_geo, resolve_pending
from mlv.dmarc.geoip import GLOBE, GeoIP, flag_emoji, get_geoip, maxmind_status
from mlv.dmarc.geoip_update import GeoIPUpdateError, update_databases
from mlv.dmarc.service import import_bytes
from tests.dmarc.conftest import fixture
from tests.dmarc.mmdb import city_record, write_mmdb
from tests.servers import free_port


def test_flags() -> None:
    assert (flag_emoji("US"), flag_emoji("il"), flag_emoji(None), flag_emoji("XYZ")) == ("🇺🇸", "🇮🇱", GLOBE, GLOBE)


def test_city_and_asn_lookups(geoip_files: tuple[Path, Path]) -> None:
    geo = GeoIP(list(geoip_files))
    assert [kind for kind, _ in geo.readers] == ["city", "asn"]
    info = geo.lookup("209.85.220.41")
    assert (info.country_code, info.country_name, info.city, info.asn, info.asn_org) == \
        ("US", "United States", "Mountain View", "AS15169", "Google LLC")
    assert geo.lookup("54.240.8.31").country_code is None and geo.lookup("54.240.8.31").asn == "AS16509"
    assert geo.lookup("2001:db8::1").country_name == "Germany"
    assert geo.lookup("192.0.2.1") == type(info)()


def test_other_compatible_mmdb_layout(tmp_path: Path) -> None:
    flat = write_mmdb(tmp_path / "ipinfo_lite.mmdb", [("8.8.8.0/24", {
        "country": "United States", "country_code": "US", "asn": "AS15169", "as_name": "Google LLC"})],
        database_type="ipinfo ip_to_country_asn.mmdb")
    info = GeoIP([flat]).lookup("8.8.8.8")
    assert (info.country_code, info.country_name, info.asn, info.asn_org) == ("US", "United States", "AS15169",
                                                                               "Google LLC")


def test_broken_database_file_is_reported(tmp_path: Path, make_settings: Any) -> None:
    (tmp_path / "bad.mmdb").write_bytes(b"not a database")
    settings = make_settings(geoip_city_path=tmp_path / "bad.mmdb", geoip_asn_path=tmp_path / "none.mmdb")
    status = maxmind_status(settings)
    assert status["valid"] is False and "bad.mmdb" in status["error"]
    assert get_geoip(settings).lookup("8.8.8.8").country_code is None


def test_import_enriches_sources(api: Any, engine: Any, geoip_files: tuple[Path, Path]) -> None:
    client = api(geoip_city_path=geoip_files[0], geoip_asn_path=geoip_files[1])
    day = int(time.time()) // 86400 * 86400 - 86400
    xml = fixture("aggregate/nice-input.xml").replace(b"1718236800", str(day).encode()) \
        .replace(b"1718323199", str(day + 86399).encode())
    assert client.post("/api/dmarc/upload", files={"file": ("g.xml", xml)}).status_code == 201
    sources = {s["source_ip"]: s for s in client.get("/api/dmarc/domains/example.com/sources").json()["sources"]}
    google = sources["209.85.220.69"]
    assert (google["country_code"], google["country_name"], google["country_emoji"], google["city"],
            google["asn"], google["asn_org"]) == ("US", "United States", "🇺🇸", "Mountain View", "AS15169",
                                                  "Google LLC")
    assert (google["first_seen"], google["last_seen"]) == (day, day + 86399)
    amazon = sources["54.240.48.90"]
    assert (amazon["country_code"], amazon["country_emoji"], amazon["asn"]) == (None, "🌍", "AS16509")


def test_ips_imported_without_database_are_filled_later(engine: Any, geoip_files: tuple[Path, Path]) -> None:
    import_bytes(engine, fixture("aggregate/nice-input.xml"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM dmarc_ip WHERE geo_checked_at IS NULL")).scalar_one() > 0
    assert refresh_geo(engine, GeoIP(list(geoip_files))) > 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT asn FROM dmarc_ip WHERE ip = '209.85.220.41'")).scalar_one() == "AS15169"
        assert conn.execute(text("SELECT COUNT(*) FROM dmarc_ip WHERE geo_checked_at IS NULL")).scalar_one() == 0


# ---- the weekly download, against a local HTTP server ----

def _tarball(mmdb: bytes, edition: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in ((f"{edition}_20260101/COPYRIGHT.txt", b"(c)"), (f"{edition}_20260101/{edition}.mmdb", mmdb)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class _MaxMind:
    """Serves /<edition>.tar.gz to account 42 / key "k3y"; `broken` editions get HTTP 500 or junk."""

    def __init__(self, tmp: Path) -> None:
        self.files = {
            "GeoLite2-City": _tarball(write_mmdb(tmp / "c.mmdb", [("203.0.113.0/24", city_record("FR", "France"))],
                                                 database_type="GeoLite2-City").read_bytes(), "GeoLite2-City"),
            "GeoLite2-ASN": _tarball(write_mmdb(tmp / "a.mmdb", [("203.0.113.0/24", {
                "autonomous_system_number": 64500, "autonomous_system_organization": "Example AS"})],
                database_type="GeoLite2-ASN").read_bytes(), "GeoLite2-ASN"),
        }
        self.broken: dict[str, str] = {}
        self.auth_seen: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.auth_seen.append(self.headers.get("Authorization", ""))
                edition = self.path.strip("/").split(".")[0]
                if self.headers.get("Authorization") != "Basic " + base64.b64encode(b"42:k3y").decode():
                    self.send_response(401)
                    self.end_headers()
                    return
                mode = outer.broken.get(edition)
                if mode == "500" or edition not in outer.files:
                    self.send_response(500)
                    self.end_headers()
                    return
                body = b"\x1f\x8bjunk" * 100 if mode == "junk" else outer.files[edition]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/{{edition}}.tar.gz"


@pytest.fixture
def maxmind(tmp_path: Path) -> Iterator[_MaxMind]:
    server = _MaxMind(tmp_path)
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_download_installs_both_databases_with_progress(maxmind: _MaxMind, make_settings: Any) -> None:
    settings = make_settings(maxmind_account_id="42", maxmind_license_key="k3y", maxmind_download_url=maxmind.url)
    progress: list[tuple[str, int, int | None]] = []
    result = update_databases(settings, progress=lambda *p: progress.append(p))
    assert result == {"GeoLite2-City": "updated", "GeoLite2-ASN": "updated"}
    assert {p[0] for p in progress} == {"GeoLite2-City", "GeoLite2-ASN"} and all(p[1] == p[2] for p in progress)
    info = get_geoip(settings).lookup("203.0.113.9")
    assert (info.country_code, info.asn, info.asn_org) == ("FR", "AS64500", "Example AS")
    assert maxmind_status(settings) == {"configured": True, "valid": True, "error": None}
    assert update_databases(settings) == {"GeoLite2-City": "up to date", "GeoLite2-ASN": "up to date"}
    folder = Path(settings.data_dir) / "geoip"
    assert sorted(p.name for p in folder.iterdir()) == ["GeoLite2-ASN.mmdb", "GeoLite2-City.mmdb"]


@pytest.mark.parametrize("mode", ["500", "junk"])
def test_failed_download_keeps_the_old_file(maxmind: _MaxMind, make_settings: Any, mode: str) -> None:
    settings = make_settings(maxmind_account_id="42", maxmind_license_key="k3y", maxmind_download_url=maxmind.url)
    update_databases(settings)
    city = Path(settings.data_dir) / "geoip" / "GeoLite2-City.mmdb"
    before = city.read_bytes()
    maxmind.broken["GeoLite2-City"] = mode
    with pytest.raises(GeoIPUpdateError, match="GeoLite2-City"):
        update_databases(settings, force=True)
    assert city.read_bytes() == before
    assert sorted(p.name for p in city.parent.iterdir()) == ["GeoLite2-ASN.mmdb", "GeoLite2-City.mmdb"]
    assert get_geoip(settings).lookup("203.0.113.9").country_code == "FR"


def test_wrong_key_fails_without_leaking_it(maxmind: _MaxMind, make_settings: Any) -> None:
    settings = make_settings(maxmind_account_id="42", maxmind_license_key="wrong-secret",
                             maxmind_download_url=maxmind.url)
    with pytest.raises(GeoIPUpdateError) as info:
        update_databases(settings, force=True)
    assert "HTTP 401" in str(info.value) and "wrong-secret" not in str(info.value)
    assert update_databases(make_settings())["skipped"].startswith("MAXMIND_ACCOUNT_ID")


# ---- reverse DNS, against a local DNS server ----

class _PtrServer:
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.queries = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.running = True
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while self.running:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                continue
            self.queries += 1
            query = dns.message.from_wire(data)
            reply = dns.message.make_response(query)
            name = query.question[0].name.to_text()
            if name in self.names:
                reply.answer.append(dns.rrset.from_text(name, 300, "IN", "PTR", self.names[name]))
            else:
                reply.set_rcode(3)
            self.sock.sendto(reply.to_wire(), peer)

    def stop(self) -> None:
        self.running = False
        self.sock.close()


def test_reverse_dns_resolved_once_and_cached(engine: Any) -> None:
    import_bytes(engine, fixture("aggregate/protection.outlook.com!example.com!1711756800!1711843200.xml"))
    import_bytes(engine, fixture("aggregate/example.net!example.com!1529366400!1529452799.xml"))
    server = _PtrServer({"149.188.24.100.in-addr.arpa.": "ec2-100-24-188-149.compute-1.amazonaws.com."})
    try:
        servers = [f"127.0.0.1:{server.port}"]
        assert resolve_pending(engine, nameservers=servers, timeout=2) == 2
        with engine.connect() as conn:
            names = dict(conn.execute(text("SELECT ip, hostname FROM dmarc_ip")).all())
        assert names == {"100.24.188.149": "ec2-100-24-188-149.compute-1.amazonaws.com", "199.230.200.36": None}
        asked = server.queries
        assert resolve_pending(engine, nameservers=servers, timeout=2) == 0 and server.queries == asked
        assert resolve_pending(engine, nameservers=servers, timeout=2, now=time.time() + 8 * 86400) == 2
    finally:
        server.stop()

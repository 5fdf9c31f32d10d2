"""Queue, quarantine and status (the emulator over real HTTP), version checks, settings, info."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlv.releases import checker
from tests.servers import free_port


async def test_queue_and_quarantine_live_from_mailcow(api, world) -> None:
    queue = (await api.get("/api/queue")).json()
    assert queue["total"] == len(queue["data"]) == len(world.emulator.mailq())
    q = queue["data"][0]
    assert set(q) == {"queue_name", "queue_id", "arrival_time", "message_size", "forced_expire", "sender",
                      "recipients"}
    assert isinstance(q["arrival_time"], int) and isinstance(q["recipients"], list)
    quarantine = (await api.get("/api/quarantine")).json()
    assert quarantine["total"] == len(world.emulator.quarantine) > 0
    item = quarantine["data"][0]
    assert {"id", "subject", "sender", "recipients", "created", "reason"} <= set(item)
    assert item["created"].endswith("Z") and item["reason"]


async def test_status_routes(api, world) -> None:
    containers = (await api.get("/api/status/containers")).json()
    assert containers["summary"]["total"] == len(containers["containers"]) == 18
    pf = containers["containers"]["postfix-mailcow"]
    assert pf["name"] == "postfix" and pf["state"] == "running" and pf["started_at"].endswith("Z")
    storage = (await api.get("/api/status/storage")).json()
    assert set(storage) == {"disk", "used", "total", "used_percent"} and storage["used_percent"].endswith("%")
    version = (await api.get("/api/status/version")).json()
    assert version["current_version"] and version["latest_version"] is None and version["check_error"]
    conn = (await api.get("/api/status/mailcow-connection")).json()
    assert conn["connected"] is True and conn["timestamp"].endswith("Z")
    info = (await api.get("/api/status/mailcow-info")).json()
    assert info == {"domains": {"total": 2, "active": 2}, "mailboxes": {"total": 8, "active": 8},
                    "aliases": {"total": 5, "active": 5}}
    summary = (await api.get("/api/status/summary")).json()
    assert summary["containers"]["total"] == 18 and summary["system"] == {"domains": 2, "mailboxes": 8, "aliases": 5}


async def test_mailcow_unreachable_is_a_readable_503(api, runtime) -> None:
    runtime.mailcow_url = f"http://127.0.0.1:{free_port()}"
    for path in ("/api/queue", "/api/quarantine", "/api/status/containers", "/api/status/summary"):
        r = await api.get(path)
        assert r.status_code == 503 and "cannot connect to mailcow" in r.json()["detail"], path
    conn = (await api.get("/api/status/mailcow-connection")).json()
    assert conn["connected"] is False and "cannot connect" in conn["error"]


async def test_mailcow_refusing_the_key_is_a_502(api, runtime) -> None:
    runtime.mailcow_key = "WRONG-KEY"
    r = await api.get("/api/queue")
    assert r.status_code == 502 and r.json()["detail"].startswith("mailcow:")
    assert "WRONG-KEY" not in r.text


class _Releases(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes = {"/releases/latest": {"tag_name": "v9.1.0", "body": "### Added\n- everything"},
                  "/releases/tags/v0.0.9": {"tag_name": "v0.0.9", "body": "old notes"}}
        body = routes.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body or {"message": "Not Found"}).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def releases():  # type: ignore[no-untyped-def]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Releases)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    checker.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}/releases"
    server.shutdown()
    checker.clear()


async def test_app_version_and_changelog_from_a_releases_url(api, runtime, releases) -> None:
    runtime.settings = runtime.settings.model_copy(update={"app_releases_url": releases})
    body = (await api.get("/api/status/app-version")).json()
    assert body["latest_version"] == "9.1.0" and body["update_available"] is True
    assert body["changelog"].startswith("### Added") and body["last_checked"].endswith("Z")
    assert body["check_error"] is None
    log = (await api.get("/api/status/app-version/changelog/0.0.9")).json()
    assert log == {"version": "0.0.9", "changelog": "old notes"}
    assert (await api.get("/api/status/app-version/changelog/v0.0.9")).json()["changelog"] == "old notes"
    assert (await api.get("/api/status/app-version/changelog/7.7.7")).status_code == 404


async def test_unreachable_releases_url(api, runtime) -> None:
    checker.clear()
    runtime.settings = runtime.settings.model_copy(
        update={"app_releases_url": f"http://127.0.0.1:{free_port()}/releases", "version_check_timeout": 2})
    body = (await api.get("/api/status/app-version", params={"force": "true"})).json()
    assert body["latest_version"] is None and body["update_available"] is False
    assert "could not be reached" in body["check_error"]
    r = await api.get("/api/status/app-version/changelog/1.0.0")
    assert r.status_code == 503 and "cannot be fetched" in r.json()["detail"]
    checker.clear()


async def test_settings_info_masks_secrets(api, runtime, world) -> None:
    runtime.settings = runtime.settings.model_copy(update={
        "mailcow_url": "https://apiuser:hunter2pass@mail.example.org", "mailcow_api_key": "KEY-123456-SECRET"})
    r = await api.get("/api/settings/info")
    body = r.json()
    for secret in ("hunter2pass", "KEY-123456-SECRET", runtime.settings.auth_password):
        assert secret not in r.text
    cfg = body["configuration"]
    assert cfg["mailcow_url"] == "https://***@mail.example.org" and cfg["auth_username"] == "admin"
    assert cfg["csv_export_limit"] == 10000 and cfg["maxmind_status"]["configured"] is False
    imp = body["import_status"]
    assert set(imp) == {"postfix", "rspamd", "netfilter"}
    assert imp["postfix"]["total_entries"] > 0 and imp["postfix"]["last_import"].endswith("Z")
    assert imp["postfix"]["oldest_entry"].endswith("Z")
    cs = body["correlation_status"]
    assert cs["total"] == cs["complete"] + cs["incomplete"] and 0 < cs["completion_rate"] <= 100
    jobs = body["background_jobs"]
    assert set(jobs) >= {"fetch_logs", "complete_correlations", "update_final_status", "expire_correlations",
                         "cleanup_logs", "check_app_version", "dns_check", "update_geoip"}
    assert jobs["cleanup_logs"]["schedule"] and jobs["cleanup_logs"]["retention"] == "7 days"
    assert "pending_items" in jobs["complete_correlations"] and jobs["fetch_logs"]["status"]
    inc = body["recent_incomplete_correlations"]
    assert inc and {"message_id", "queue_id", "sender", "recipient", "created_at", "age_minutes"} == set(inc[0])


async def test_settings_health_and_info(api) -> None:
    health = (await api.get("/api/settings/health")).json()
    assert health["status"] == "healthy" and health["database"]["status"] == "connected"
    assert health["database"]["response_time_ms"] >= 0
    assert set(health["recent_activity"]["last_5_minutes"]) == {"postfix_imported", "rspamd_imported",
                                                                 "correlations_created"}
    info = (await api.get("/api/info")).json()
    assert set(info) == {"name", "version", "mailcow_url", "local_domains", "fetch_interval", "retention_days",
                         "timezone", "app_title", "app_logo_url", "blacklist_count", "auth_enabled"}
    assert "example.org" in info["local_domains"] and info["auth_enabled"] is True


async def test_settings_info_lists_import_gaps(api, world) -> None:
    from sqlalchemy import text

    assert (await api.get("/api/settings/info")).json()["import_gaps"] == []
    with world.engine.begin() as conn:
        conn.execute(text("INSERT INTO import_gap (server_id, source, detected_at, newest_missing_before, last_known, "
                          "note) VALUES (1, 'postfix', 1700000300, 1700000200, 1700000100, 'buffer wrapped')"))
    try:
        gaps = (await api.get("/api/settings/info")).json()["import_gaps"]
        assert gaps == [{"source": "postfix", "detected_at": "2023-11-14T22:18:20Z",
                         "last_known": "2023-11-14T22:15:00Z", "newest_missing_before": "2023-11-14T22:16:40Z",
                         "note": "buffer wrapped"}]
    finally:
        with world.engine.begin() as conn:
            conn.execute(text("DELETE FROM import_gap WHERE note = 'buffer wrapped'"))

"""The guard: deny by default on every route and websocket, Basic or session, rate limiting, proxies."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlv.api.auth import AuthConfig, AuthGuard, FailureLimiter
from tests.api.conftest import PASSWORD, USER, build_app, client_for
from tests.api.route_table import route_table, walk_in_child

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = {("/api/health", "GET"), ("/login", "GET"), ("/login", "POST")}


async def test_every_route_of_the_app_needs_credentials(runtime) -> None:
    app = build_app(runtime.settings)
    routes = route_table(app)
    assert len(routes) > 40 and ("/api/messages", "GET") in routes and ("/docs", "GET") in routes
    async with client_for(app, auth=False) as client:
        for path, method in routes:
            r = await client.request(method, path)
            if (path, method) in PUBLIC:  # reaches its route (POST /login with no form: "wrong password")
                assert r.headers["content-type"].startswith(("text/html", "application/json")), path
                assert r.status_code == 200 or "Wrong username" in r.text, path
                continue
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.json() == {"detail": "Authentication required"}
            assert "www-authenticate" not in r.headers
        # also paths that no route has, and spellings that routes do not match
        for path in ("/api/nothing", "/API/health", "/api/health/", "//api/messages", "/api/health/../messages"):
            assert (await client.get(path)).status_code == 401, path


def test_every_route_of_the_real_nicegui_app_needs_credentials(tmp_path) -> None:
    """The NiceGUI app as `mlv serve` builds it (pages, socket.io mount, docs), walked in a child process."""
    result = walk_in_child(tmp_path, PASSWORD)
    assert result["checked"] > 40 and "/_nicegui_ws/x" in result["paths"] and "/" in result["paths"]
    assert result["failures"] == [], result["failures"]
    assert result["websocket"] == "websocket.close"


async def test_websockets_are_closed_without_credentials() -> None:
    reached = []

    async def inner(scope, receive, send):  # type: ignore[no-untyped-def]
        reached.append(scope["path"])

    guard = AuthGuard(inner, config=AuthConfig.build(enabled=True, username=USER, password=PASSWORD))
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "websocket.connect"}

    scope = {"type": "websocket", "path": "/_nicegui_ws/socket.io/", "headers": [], "client": ("1.2.3.4", 5)}
    await guard(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}] and reached == []
    import base64

    token = base64.b64encode(f"{USER}:{PASSWORD}".encode())
    await guard({**scope, "headers": [(b"authorization", b"Basic " + token)]}, receive, send)
    assert reached == ["/_nicegui_ws/socket.io/"]


async def test_basic_credentials(runtime) -> None:
    app = build_app(runtime.settings)
    async with client_for(app) as good:
        assert (await good.get("/api/info")).status_code == 200
        assert (await good.get("/openapi.json")).status_code == 200
    async with client_for(app, auth=False) as anon:
        assert (await anon.get("/api/health")).status_code == 200
        bad = await anon.get("/api/info", auth=(USER, "wrong"))
        assert bad.status_code == 401 and "www-authenticate" not in bad.headers
        assert (await anon.get("/api/info", headers={"Authorization": "Basic !!!notbase64"})).status_code == 401
        assert (await anon.get("/api/info", headers={"Authorization": "Bearer abc"})).status_code == 401


async def test_authentication_off(runtime) -> None:
    app = build_app(runtime.settings, enabled=False)
    async with client_for(app, auth=False) as client:
        assert (await client.get("/api/info")).status_code == 200
        r = await client.get("/login", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"


async def test_failed_logins_are_slowed_down_per_client(runtime) -> None:
    app = build_app(runtime.settings)  # AUTH_MAX_FAILURES=3 in the test settings
    async with client_for(app, auth=False, peer="198.51.100.7") as attacker, \
            client_for(app, auth=False, peer="198.51.100.8") as other:
        for _ in range(5):  # no credentials at all: not counted
            assert (await attacker.get("/api/info")).status_code == 401
        for _ in range(3):
            assert (await attacker.get("/api/info", auth=(USER, "guess"))).status_code == 401
        blocked = await attacker.get("/api/info", auth=(USER, PASSWORD))
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
        assert "try again" in blocked.json()["detail"]
        # spoofing X-Forwarded-For from an untrusted peer changes nothing
        spoofed = await attacker.get("/api/info", auth=(USER, PASSWORD), headers={"X-Forwarded-For": "192.0.2.1"})
        assert spoofed.status_code == 429
        assert (await other.get("/api/info", auth=(USER, PASSWORD))).status_code == 200


async def test_forwarded_for_is_believed_only_from_trusted_proxies(runtime) -> None:
    app = build_app(runtime.settings)  # TRUSTED_PROXIES=10.0.0.1
    async with client_for(app, auth=False, peer="10.0.0.1") as proxy:
        for _ in range(3):
            r = await proxy.get("/api/info", auth=(USER, "guess"), headers={"X-Forwarded-For": "203.0.113.5"})
            assert r.status_code == 401
        r = await proxy.get("/api/info", auth=(USER, PASSWORD), headers={"X-Forwarded-For": "203.0.113.5"})
        assert r.status_code == 429  # that client is slowed down ...
        r = await proxy.get("/api/info", auth=(USER, PASSWORD), headers={"X-Forwarded-For": "203.0.113.6"})
        assert r.status_code == 200  # ... not everyone behind the proxy
        # a client-supplied first hop does not help: the proxy appends the real address
        r = await proxy.get("/api/info", auth=(USER, PASSWORD), headers={"X-Forwarded-For": "1.1.1.1, 203.0.113.5"})
        assert r.status_code == 429


def test_limiter_delay_grows_and_expires() -> None:
    lim = FailureLimiter(max_failures=2, window=60)
    lim.failed("a", now=0)
    assert lim.wait("a", now=0) == 0
    lim.failed("a", now=1)
    first = lim.wait("a", now=1)
    lim.failed("a", now=1)
    assert lim.wait("a", now=1) > first > 0
    for i in range(40):
        lim.failed("a", now=2 + i)
    assert lim.wait("a", now=42) <= 900
    assert lim.wait("a", now=2000) == 0
    lim.succeeded("a")
    assert lim.wait("a") == 0
    small = FailureLimiter(max_failures=1, window=1, max_keys=100)
    for i in range(1000):
        small.failed(f"k{i}", now=i)
    assert len(small._state) <= 101


async def test_session_login_flow(runtime) -> None:
    app = build_app(runtime.settings)
    async with client_for(app, auth=False) as browser:
        page = await browser.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login?next=%2F"
        form = await browser.get("/login", params={"next": "/messages"})
        assert form.status_code == 200 and 'name="password"' in form.text and 'value="/messages"' in form.text
        wrong = await browser.post("/login", data={"username": USER, "password": "nope", "next": "/messages"})
        assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
        ok = await browser.post("/login", data={"username": USER, "password": PASSWORD, "next": "//evil.example"},
                                follow_redirects=False)
        assert ok.status_code == 303 and ok.headers["location"] == "/"  # no open redirect
        assert (await browser.get("/api/info")).status_code == 200  # the session cookie alone
        assert (await browser.get("/login", follow_redirects=False)).status_code == 303
        await browser.get("/logout")
        assert (await browser.get("/api/info")).status_code == 401


async def test_a_password_change_ends_sessions(runtime) -> None:
    app = build_app(runtime.settings)
    async with client_for(app, auth=False) as browser:
        await browser.post("/login", data={"username": USER, "password": PASSWORD})
        cookies = browser.cookies
    changed = build_app(runtime.settings.model_copy(update={"auth_password": "another-password"}))
    async with client_for(changed, auth=False) as browser:
        browser.cookies = cookies
        assert (await browser.get("/api/info")).status_code == 401


async def test_openapi_lists_every_route_with_parameters(api) -> None:
    spec = (await api.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in ("/api/messages", "/api/message/{correlation_key}/details", "/api/logs/postfix",
                 "/api/logs/postfix/by-queue/{queue_id}", "/api/logs/rspamd", "/api/logs/netfilter", "/api/queue",
                 "/api/quarantine", "/api/stats/dashboard", "/api/stats/timeline", "/api/stats/top-spam-triggers",
                 "/api/stats/top-blocked-ips", "/api/stats/recent-activity", "/api/status/containers",
                 "/api/status/storage", "/api/status/version", "/api/status/app-version",
                 "/api/status/app-version/changelog/{version}", "/api/status/mailcow-connection",
                 "/api/status/mailcow-info", "/api/status/summary", "/api/settings/info", "/api/settings/health",
                 "/api/export/postfix/csv", "/api/export/rspamd/csv", "/api/export/netfilter/csv",
                 "/api/export/messages/csv", "/api/mailbox-stats/summary", "/api/mailbox-stats/all",
                 "/api/mailbox-stats/domains", "/api/health", "/api/info", "/login"):
        assert path in paths, path
    names = {p["name"] for p in paths["/api/messages"]["get"]["parameters"]}
    assert names == {"page", "limit", "search", "sender", "recipient", "direction", "status", "user", "ip",
                     "start_date", "end_date"}
    assert (await api.get("/docs")).status_code == 200


@pytest.mark.parametrize("password", ["", None])
async def test_no_password_means_no_way_in(runtime, password) -> None:
    guard_config = AuthConfig.build(enabled=True, username=USER, password=password or "")
    assert not guard_config.credentials_ok(USER, "")

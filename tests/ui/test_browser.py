"""The real thing: `mlv serve` behind its login, in Debian's headless Chromium. Every page is opened,
filtered, paged and photographed (tests/artifacts/*.png)."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.browser import AppServer, app_server, launch, log_in
from tests.ui.data import EVIL_SUBJECT, DemoServer, aggregate_report, tls_report

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium")

PAGES = [  # path, screenshot name, text that only shows once the page has its data
    ("/", "dashboard", "Top blocked IPs"),
    ("/messages", "messages", "1-50 of"),
    ("/logs", "logs-postfix", "1-50 of"),
    ("/logs?tab=rspamd", "logs-rspamd", "1-50 of"),
    ("/logs?tab=netfilter&action=banned", "logs-netfilter", "banned"),
    ("/queue", "queue", "deferred"),
    ("/domains", "domains", "example.org"),
    ("/mailboxes", "mailboxes", "alice@example.org"),
    ("/dmarc", "dmarc", "Upload reports"),
    ("/status", "status", "Connected"),
    ("/settings", "settings", "Connection tests"),
]


@pytest.fixture(scope="module")
def server(demo: DemoServer, dns_server: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    with app_server(tmp_path_factory.mktemp("browser") / "data", db=demo.db_path, MAILCOW_URL=demo.url,
                    MAILCOW_API_KEY=demo.api_key, FETCH_INTERVAL="5", TZ="Europe/Berlin",
                    MAIL_SERVER_IP="203.0.113.10", DNS_NAMESERVERS=dns_server or "127.0.0.1:9",
                    APP_TITLE="mlv demo") as srv:
        yield srv
    assert "Traceback" not in srv.log(), srv.log()[-4000:]


@pytest.fixture(scope="module")
def browser() -> Iterator:  # type: ignore[type-arg]
    with sync_api.sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, server: AppServer):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.errors = []  # browser console errors and uncaught exceptions, checked by the tests
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    log_in(pg, server.base)
    pg.wait_for_url(f"{server.base}/")
    yield pg
    context.close()


def test_login_keeps_the_target_and_refuses_wrong_passwords(browser, server: AppServer, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    pg = context.new_page()
    log_in(pg, server.base, next_path="/messages?status=bounced", password="wrong")
    sync_api.expect(pg.get_by_text("Wrong username or password.")).to_be_visible()
    pg.screenshot(path=str(artifacts / "login.png"))
    pg.get_by_label("Password").fill("correct horse battery staple")
    pg.get_by_role("button", name="Log in").click()
    pg.wait_for_url(f"{server.base}/messages?status=bounced")
    sync_api.expect(pg.get_by_text("bounced").first).to_be_visible()
    assert pg.context.request.get(f"{server.base}/api/info").status == 200  # the session also opens /api
    pg.goto(f"{server.base}/logout")
    pg.wait_for_url("**/login")
    context.close()


@pytest.mark.parametrize(("path", "name", "content"), PAGES, ids=[p[1] for p in PAGES])
def test_every_page_opens_with_its_data(page, server: AppServer, artifacts: Path, path: str, name: str,  # type: ignore[no-untyped-def]
                                        content: str) -> None:
    page.errors.clear()
    started = time.perf_counter()
    page.goto(f"{server.base}{path}")
    page.get_by_text(content).first.wait_for(timeout=10000)
    elapsed = time.perf_counter() - started
    page.wait_for_timeout(600)  # charts and late parts settle for the picture
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
    page.screenshot(path=str(artifacts / f"{name}-top.png"))  # the first screen, as in docs/
    assert not page.errors, page.errors
    assert elapsed < 5, f"{path} took {elapsed:.1f} s to show its content"


def test_messages_filter_page_detail_and_markup(page, server: AppServer, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server.base}/messages")
    page.get_by_text("1-50 of").wait_for()
    page.get_by_label("Search (sender, recipient, subject, IDs)").fill("example.net")
    page.wait_for_url(re.compile(r".*search=example\.net.*"))
    rows = page.locator(".q-table tbody tr")
    sync_api.expect(rows.first).to_contain_text("example.net")
    page.get_by_role("button", name="Next page").click()  # Quasar's pager
    sync_api.expect(page.get_by_text(re.compile(r"51-100 of"))).to_be_visible()
    rows.first.click()
    dialog = page.locator(".q-dialog")
    sync_api.expect(dialog.get_by_text("Postfix timeline")).to_be_visible()
    page.wait_for_timeout(500)  # the dialog's fade-in
    page.screenshot(path=str(artifacts / "message-detail.png"))
    dialog.get_by_role("tab", name="Postfix timeline").click()
    sync_api.expect(dialog.get_by_text(re.compile(r"postfix/\w+")).first).to_be_visible()
    page.keyboard.press("Escape")
    page.goto(f"{server.base}/messages?search=onerror")
    cell = page.locator(".q-table tbody tr").first
    sync_api.expect(cell).to_contain_text("<script>window.__xss=2</script>")
    cell.click()
    sync_api.expect(page.locator(".q-dialog").get_by_text(EVIL_SUBJECT)).to_be_visible()
    assert page.evaluate("window.__xss === undefined"), "markup in a subject was run as HTML"
    assert page.locator(".q-dialog img[src='x']").count() == 0 and page.locator("b:text('bold')").count() == 0
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts / "message-markup.png"))


def test_csv_export_has_the_filter_of_the_page(page, server: AppServer) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server.base}/messages?status=bounced")
    page.get_by_text("bounced").first.wait_for()
    href = page.locator("a[download]").get_attribute("href")
    assert href and "status=bounced" in href
    answer = page.context.request.get(f"{server.base}{href}")
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text())))
    assert rows and {r["Status"] for r in rows} == {"bounced"}


def test_upload_reports_and_open_the_domain(page, server: AppServer, artifacts: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = {"google.xml.gz": aggregate_report(gz=True), "microsoft.xml": aggregate_report(
        org="microsoft.com", report_id="m-1", days_ago=2, n_pass=120, n_fail=9), "tls.json": tls_report()}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    page.goto(f"{server.base}/dmarc")
    page.get_by_text("Upload reports").wait_for()
    page.locator(".q-uploader input[type=file]").set_input_files([str(tmp_path / n) for n in files])
    for name in files:
        sync_api.expect(page.locator(".q-card").get_by_text(name, exact=True).last).to_be_visible(timeout=15000)
    sync_api.expect(page.get_by_text("success", exact=True)).to_have_count(3, timeout=15000)
    page.locator(".q-table tbody tr").filter(has_text="example.org").first.click()
    page.wait_for_url(re.compile(r".*domain=example\.org.*"))
    sync_api.expect(page.get_by_text("DMARC pass").first).to_be_visible()
    page.wait_for_timeout(800)
    page.screenshot(path=str(artifacts / "dmarc-domain.png"), full_page=True)
    page.get_by_role("tab", name="TLS-RPT").click()
    sync_api.expect(page.get_by_text("Google Inc.").first).to_be_visible()


def test_dashboard_refreshes_without_reloading(page, server: AppServer, demo: DemoServer) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server.base}/")
    value = page.locator(".q-card").filter(has_text="Messages (24 h)").locator(".text-2xl")
    before = int(value.inner_text().replace(",", ""))
    page.evaluate("window.__still_the_same_page = true")
    demo.emulator.burst(40)
    sync_api.expect(value).not_to_have_text(f"{before:,}", timeout=20000)
    assert int(value.inner_text().replace(",", "")) > before
    assert page.evaluate("window.__still_the_same_page === true")


def test_domain_dns_check_now(page, server: AppServer, artifacts: Path, dns_server: str | None) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server.base}/domains")
    page.get_by_text("example.org", exact=True).click()
    page.get_by_role("button", name="Check now").click()
    sync_api.expect(page.get_by_text("DNS checked for example.org")).to_be_visible(timeout=30000)
    if dns_server is not None:
        sync_api.expect(page.get_by_text("SPF configured").first).to_be_visible()
    page.locator(".q-notification").wait_for(state="hidden", timeout=10000)  # the toast, for a clean picture
    page.screenshot(path=str(artifacts / "domains-dns.png"), full_page=True)


def test_dark_mode_is_remembered(page, server: AppServer, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server.base}/status")
    page.get_by_text("Connected").wait_for()
    assert not page.evaluate("document.body.classList.contains('body--dark')")
    page.locator("header button").filter(has_text="dark_mode").click()
    page.wait_for_function("document.body.classList.contains('body--dark')")
    page.wait_for_timeout(300)  # the preference is written to the server's storage
    page.goto(f"{server.base}/messages")
    page.wait_for_function("document.body.classList.contains('body--dark')")
    page.get_by_text(re.compile(r"^1-50 of")).wait_for()
    page.screenshot(path=str(artifacts / "messages-dark.png"))
    assert (server.data_dir / "nicegui").is_dir() and any((server.data_dir / "nicegui").glob("storage-user-*.json"))
    page.locator("header button").filter(has_text="dark_mode").click()
    page.wait_for_function("!document.body.classList.contains('body--dark')")


def test_plain_form_login_and_basic_auth_still_work(server: AppServer) -> None:
    import httpx

    from tests.ui.browser import PASSWORD

    with httpx.Client(base_url=server.base, timeout=10) as client:
        assert client.get("/api/info").status_code == 401
        assert client.get("/api/info", auth=("admin", PASSWORD)).status_code == 200
        form = client.post("/login", data={"username": "admin", "password": PASSWORD, "next": "/logs"})
        assert form.status_code == 303 and form.headers["location"] == "/logs"
        assert client.get("/api/info").status_code == 200  # the session cookie
        assert client.get("/logs", headers={"accept": "text/html"}).status_code == 200
        client.get("/logout")
        assert client.get("/api/info").status_code == 401

"""Storage, the service, the dns_check job and the /api/domains routes, against the mailcow emulator,
Knot, and both databases."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from mlv import app as mlv_app
from mlv.api import domains
from mlv.config import load_settings
from mlv.dns import service
from mlv.dns.service import run_checks, run_dns_check_job
from mlv.dns.store import load_results, save_results
from mlv.mailcow.emulator import Emulator, start_emulator_thread
from mlv.mailcow.objects import dkim_keys
from tests.dns.zones import EMU_V4


@pytest.fixture(scope="module")
def emulator() -> Iterator:
    emu = Emulator(seed=5, rate=1.0)
    handle = start_emulator_thread(emu)
    yield handle
    handle.stop()


@pytest.fixture
def runtime(engine, emulator, ns: list[str]) -> Iterator[mlv_app.Runtime]:  # type: ignore[no-untyped-def]
    settings = load_settings(_env_file=None, dns_nameservers=",".join(ns), auth_enabled=False)
    rt = mlv_app.Runtime(settings=settings, engine=engine, mailcow_url=emulator.url,
                         mailcow_key=emulator.emulator.api_key)
    old, mlv_app.runtime = mlv_app.runtime, rt
    service._server_ips.clear()
    yield rt
    mlv_app.runtime = old


@pytest.fixture
async def api(runtime: mlv_app.Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(domains.router, prefix="/api")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


def test_store_upserts_and_only_full_runs_set_last_check(engine) -> None:  # type: ignore[no-untyped-def]
    first = {"spf": {"status": "error"}, "dkim": {}, "dmarc": {}, "mx": {"status": "success"},
             "checked_at": "2026-01-08T01:34:08Z"}
    save_results(engine, {"a.test": first}, full=False)
    results, last = load_results(engine)
    assert last is None and results["a.test"]["checked_at"] == "2026-01-08T01:34:08Z"
    assert results["a.test"]["mx"] == {"status": "success"} and results["a.test"]["is_full_check"] is False
    second = {**first, "spf": {"status": "success", "warnings": ["❌ ünïcode"]}, "checked_at": "2026-01-09T00:00:00Z"}
    save_results(engine, {"a.test": second, "b.test": first}, full=True, errors=["b.test: DNS timeout"])
    results, last = load_results(engine)
    assert set(results) == {"a.test", "b.test"} and last is not None
    assert results["a.test"]["spf"] == {"status": "success", "warnings": ["❌ ünïcode"]}
    assert results["a.test"]["is_full_check"] is True


async def test_domains_before_any_check(api: httpx.AsyncClient) -> None:
    body = (await api.get("/api/domains/all")).json()
    assert (body["total"], body["active"], body["last_dns_check"]) == (2, 2, None)
    org = next(d for d in body["domains"] if d["domain_name"] == "example.org")
    assert org["active"] is True and org["backupmx"] is False and isinstance(org["bytes_total"], int)
    assert org["created"] == "2025-11-03T10:22:33Z" and isinstance(org["quota_used_in_domain"], str)
    assert org["dns_checks"]["spf"]["status"] == "unknown" and org["dns_checks"]["checked_at"] is None


async def test_check_all_then_list(api: httpx.AsyncClient) -> None:
    summary = (await api.post("/api/domains/check-all-dns")).json()
    assert summary == {"status": "success", "message": "Checked 2 domains", "domains_checked": 2, "errors": []}
    body = (await api.get("/api/domains/all")).json()
    assert body["last_dns_check"] is not None
    checks = {d["domain_name"]: d["dns_checks"] for d in body["domains"]}
    org, net = checks["example.org"], checks["example.net"]
    assert org["spf"]["message"] == ("SPF configured correctly with strict -all policy. "
                                     "Server IP authorized via mx")  # server IP from mailcow's status/host/ip
    assert org["dkim"]["status"] == "success" and org["dkim"]["match"] is True
    assert org["dkim"]["expected_record"] == f"v=DKIM1;k=rsa;t=s;s=email;p={dkim_keys()['example.org']}"
    assert org["dkim"]["info"] == ["DKIM record is published as 3 strings (joined without spaces, as verifiers do)",
                                   "DKIM uses strict subdomain mode (t=s)"]
    assert org["dmarc"]["status"] == "success" and org["mx"]["records"][0]["points_to_server"] is True
    assert org["reverse_dns"]["status"] == "error" and "2001:db8:42::10" in org["reverse_dns"]["message"]
    assert net["spf"]["message"] == f"Server IP {EMU_V4} is NOT authorized in SPF record"
    assert net["dkim"]["match"] is False and net["dkim"]["status"] == "error"
    assert set(org) == {"spf", "dkim", "dmarc", "mx", "reverse_dns", "mta_sts", "tls_rpt", "bimi", "checked_at"}


async def test_check_one_domain(api: httpx.AsyncClient, runtime: mlv_app.Runtime) -> None:
    response = await api.post("/api/domains/EXAMPLE.org/check-dns")
    body = response.json()
    assert response.status_code == 200
    assert (body["status"], body["message"]) == ("success", "DNS checked for example.org")
    assert body["data"]["domain"] == "example.org" and body["data"]["dkim"]["match"] is True
    assert body["data"]["checked_at"].endswith("Z")
    results, last = load_results(runtime.engine)
    assert last is None and results["example.org"]["is_full_check"] is False and "example.net" not in results
    assert (await api.post("/api/domains/unknown.test/check-dns")).status_code == 404


async def test_dead_dns_server_gives_a_partial_run(runtime: mlv_app.Runtime, dead) -> None:  # type: ignore[no-untyped-def]
    settings = runtime.settings.model_copy(update={"dns_nameservers": [dead.address]})
    summary = await run_checks(runtime.engine, settings, mlv_app.mailcow_client, timeout=0.3)
    assert summary["status"] == "partial" and summary["domains_checked"] == 0
    assert sorted(e.split(":")[0] for e in summary["errors"]) == ["example.net", "example.org"]
    assert all("DNS timeout" in e for e in summary["errors"])
    assert summary["results"]["example.org"]["spf"]["status"] == "error"
    _, last = load_results(runtime.engine)
    assert last is not None  # a full run, even a partial one, is the last check


def test_the_job_reads_domains_from_the_database(runtime: mlv_app.Runtime) -> None:
    from sqlalchemy import text

    with runtime.engine.begin() as conn:  # what the importer stores: one domain, inactive ones skipped
        for name, active in (("example.org", 1), ("example.net", 0)):
            data = json.dumps({"domain_name": name, "active": active, "active_int": active})
            conn.execute(text("INSERT INTO mailcow_object (server_id, kind, key, active, data, fetched_at) "
                              "VALUES (1, 'domain', :k, :a, :d, 0)"), {"k": name, "a": bool(active), "d": data})
    summary = run_dns_check_job(runtime.engine, runtime.settings, mlv_app.mailcow_client)
    assert summary == {"status": "success", "message": "Checked 1 domains", "domains_checked": 1, "errors": []}
    results, last = load_results(runtime.engine)
    assert set(results) == {"example.org"} and last is not None


def test_mail_server_ip_setting_wins(runtime: mlv_app.Runtime) -> None:
    settings = runtime.settings.model_copy(update={"mail_server_ip": "192.0.2.9, 2001:db8::9"})
    assert service.server_ips(settings, mlv_app.mailcow_client) == (["192.0.2.9", "2001:db8::9"], None)
    assert service.server_ips(runtime.settings, mlv_app.mailcow_client) == ([EMU_V4, "2001:db8:42::10"], None)

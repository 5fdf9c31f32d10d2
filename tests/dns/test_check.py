"""Many domains in one run: concurrency, shared queries, and one domain's dead DNS not stopping the others."""

from __future__ import annotations

import ipaddress

from mlv.dns.check import CHECKS, DomainTarget, check_domains, normalize_domain, unknown_checks
from tests.dns.knot import DroppingProxy, Knot
from tests.dns.zones import SERVER_V4, SERVER_V6


async def test_one_domains_dead_dns_leaves_the_others(knot: Knot) -> None:
    proxy = DroppingProxy(knot.port, lambda name, _type: name == "void.test" or name.endswith(".void.test"))
    try:
        run = await check_domains(["good.test", DomainTarget("void.test"), "viainclude.test"],
                                  server_ips=[SERVER_V4], nameservers=[proxy.address], timeout=0.5, retries=0)
    finally:
        proxy.stop()
    assert run.failed == {"void.test"}
    assert len(run.errors) == 1 and run.errors[0].startswith("void.test: DNS timeout")
    assert run.results["void.test"]["spf"]["status"] == "error"
    assert run.results["good.test"]["spf"]["status"] == "success"
    assert run.results["viainclude.test"]["dmarc"]["status"] == "success"
    assert proxy.dropped > 0


async def test_shared_queries_go_out_once_per_run(ns: list[str]) -> None:
    alone = 0
    for name in ("viainclude.test", "redirect.test"):
        alone += (await check_domains([name], server_ips=[SERVER_V4, SERVER_V6], nameservers=ns)).queries
    together = await check_domains(["viainclude.test", "redirect.test"], server_ips=[SERVER_V4, SERVER_V6],
                                   nameservers=ns)
    # once instead of twice: the provider's include, the server's two PTRs, mail.good.test's A and AAAA
    # (the MX host and the PTR name: looked up for MX, rDNS and SPF alike)
    assert together.queries == alone - 5
    assert set(together.results) == {"viainclude.test", "redirect.test"}


async def test_every_card_has_every_check(ns: list[str]) -> None:
    run = await check_domains(["Good.Test.", "nope.good.test"], nameservers=ns)
    assert list(run.results) == ["good.test", "nope.good.test"]
    for checks in run.results.values():
        assert list(checks) == [*CHECKS, "checked_at"]
        assert all(checks[name]["status"] in ("success", "warning", "error", "unknown") for name in CHECKS)
    assert run.results["nope.good.test"]["mx"]["message"] == "Domain nope.good.test does not exist (NXDOMAIN)"
    assert run.errors == []  # NXDOMAIN is an answer, not a failure


def test_helpers() -> None:
    assert normalize_domain("Bücher.Example.") == "xn--bcher-kva.example"
    assert set(unknown_checks()) == {*CHECKS, "checked_at"}
    assert ipaddress.ip_address(SERVER_V6)


async def test_dead_include_makes_the_run_partial(knot: Knot) -> None:
    proxy = DroppingProxy(knot.port, lambda name, _type: name == "_spf.provider.test")
    try:
        run = await check_domains(["viainclude.test"], server_ips=[SERVER_V4], nameservers=[proxy.address],
                                  timeout=0.4, retries=0)
    finally:
        proxy.stop()
    spf = run.results["viainclude.test"]["spf"]
    assert spf["status"] == "error"
    assert spf["message"].startswith(f"Could not check whether server IP {SERVER_V4} is authorized: DNS timeout")
    assert any(w.startswith("include:_spf.provider.test: DNS timeout") for w in spf["warnings"])
    assert run.failed == {"viainclude.test"} and "_dns_failure" not in spf

"""MX, reverse DNS/FCrDNS, MTA-STS (with a real HTTPS policy server), TLS-RPT and BIMI."""

from __future__ import annotations

import pytest

from mlv.dns.bimi import check_bimi
from mlv.dns.mta_sts import check_mta_sts, mx_matches, parse_policy
from mlv.dns.mx import check_mx
from mlv.dns.rdns import check_reverse_dns
from mlv.dns.tlsrpt import check_tlsrpt
from tests.dns.zones import SERVER_V4, SERVER_V6


async def test_mx_with_addresses_pointing_to_the_server(ns: list[str]) -> None:
    got = await check_mx("good.test", server_ips=[SERVER_V4], nameservers=ns)
    assert got["status"] == "success" and got["message"] == "MX records found: mail.good.test (10)"
    assert got["records"] == [{"host": "mail.good.test", "preference": 10, "ipv4": [SERVER_V4], "ipv6": [SERVER_V6],
                               "points_to_server": True}]


@pytest.mark.parametrize(("domain", "status", "needle"), [
    ("nomx.test", "error", "No MX record found"),
    ("nullmx.test", "error", "Null MX (RFC 7505)"),
    ("mxnoaddr.test", "error", "MX bad-ptr.good.test has no A or AAAA record"),
    ("mxother.test", "warning", "MX records found: mx1.provider.test (10)"),
    ("nope.good.test", "error", "does not exist (NXDOMAIN)"),
])
async def test_mx_problems(ns: list[str], domain: str, status: str, needle: str) -> None:
    got = await check_mx(domain, server_ips=[SERVER_V4], nameservers=ns)
    assert got["status"] == status and needle in got["message"]


async def test_mx_not_pointing_to_the_server_is_said(ns: list[str]) -> None:
    got = await check_mx("mxother.test", server_ips=[SERVER_V4], nameservers=ns)
    assert any(w.startswith("No MX host points to the mail server (192.0.2.25)") for w in got["warnings"])


async def test_reverse_dns_forward_confirmed(ns: list[str]) -> None:
    got = await check_reverse_dns("good.test", server_ips=[SERVER_V4, SERVER_V6], mx_hosts=["mail.good.test"],
                                  nameservers=ns)
    assert got["status"] == "success"
    assert [(a["ip"], a["ptr"], a["forward_confirmed"]) for a in got["addresses"]] == [
        (SERVER_V4, ["mail.good.test"], True), (SERVER_V6, ["mail.good.test"], True)]
    assert got["info"] == []


@pytest.mark.parametrize(("ip", "needle"), [
    ("192.0.2.26", "does not resolve back to 192.0.2.26 (FCrDNS fails)"),
    ("192.0.2.27", "No reverse DNS (PTR) for 192.0.2.27"),
])
async def test_reverse_dns_problems(ns: list[str], ip: str, needle: str) -> None:
    got = await check_reverse_dns("good.test", server_ips=[SERVER_V4, ip], nameservers=ns)
    assert got["status"] == "error" and needle in got["message"]


async def test_reverse_dns_without_server_ip() -> None:
    assert (await check_reverse_dns("good.test"))["status"] == "unknown"


async def test_reverse_dns_notes_a_ptr_that_is_not_an_mx(ns: list[str]) -> None:
    got = await check_reverse_dns("mxother.test", server_ips=[SERVER_V4], mx_hosts=["mx1.provider.test"],
                                  nameservers=ns)
    assert got["status"] == "success" and "is not an MX host of mxother.test" in got["info"][0]


async def sts(domain: str, ns: list[str], policy_server) -> dict:  # type: ignore[no-untyped-def]
    return await check_mta_sts(domain, nameservers=ns, timeout=3, https_port=policy_server.port,
                               verify=policy_server.client_context)


async def test_mta_sts_enforce(ns: list[str], policy_server) -> None:  # type: ignore[no-untyped-def]
    got = await sts("good.test", ns, policy_server)
    assert got["status"] == "success" and got["message"] == "MTA-STS policy in enforce mode"
    assert got["record"] == "v=STSv1; id=20240101"
    assert got["policy"] == {"version": "STSv1", "mode": "enforce", "mx": ["mail.good.test"], "max_age": 604800}


async def test_mta_sts_testing_mode_short_max_age_uncovered_mx(ns: list[str], policy_server) -> None:  # type: ignore[no-untyped-def]
    got = await sts("sts-testing.test", ns, policy_server)
    assert got["status"] == "warning" and got["message"] == "MTA-STS policy in testing mode"
    assert "MTA-STS policy does not cover MX mail.good.test" in got["warnings"]
    assert any(w.startswith("max_age=3600 is short") for w in got["warnings"])


@pytest.mark.parametrize(("domain", "needle"), [
    ("sts-404.test", "answered HTTP 404 (must be 200)"),
    ("sts-badcert.test", "its TLS certificate is not valid for mta-sts.sts-badcert.test"),
    ("sts-badid.test", "invalid id=''"),
    ("sts-badpolicy.test", "Invalid MTA-STS policy: policy version is 'STSv2', must be STSv1"),
])
async def test_mta_sts_problems(ns: list[str], policy_server, domain: str, needle: str) -> None:  # type: ignore[no-untyped-def]
    got = await sts(domain, ns, policy_server)
    assert got["status"] == "error" and needle in got["message"], got["message"]


async def test_mta_sts_policy_server_down(ns: list[str]) -> None:
    from tests.servers import free_port

    got = await check_mta_sts("good.test", nameservers=ns, timeout=2, https_port=free_port())
    assert got["status"] == "error" and got["message"].startswith("MTA-STS policy cannot be fetched")


async def test_mta_sts_absent(ns: list[str]) -> None:
    got = await check_mta_sts("viainclude.test", nameservers=ns)
    assert got["status"] == "warning" and got["record"] is None


def test_mta_sts_pure_helpers() -> None:
    policy, errors = parse_policy("version: STSv1\r\nmode: enforce\r\nmx: *.Example.net\r\nmx: mx.example.org.\r\n"
                                  "max_age: 86400\r\n")
    assert policy["mx"] == ["*.example.net", "mx.example.org"] and errors == []
    assert mx_matches("mx1.example.net", "*.example.net") and not mx_matches("a.b.example.net", "*.example.net")
    assert not mx_matches("example.net", "*.example.net") and mx_matches("MX.example.org.", "mx.example.org")
    assert parse_policy("version: STSv1\nmode: enforce\nmax_age: 99999999999\n")[1] == [
        "max_age is '99999999999', must be seconds up to 31557600", "policy lists no mx: pattern"]


async def test_tls_rpt(ns: list[str]) -> None:
    good = await check_tlsrpt("good.test", nameservers=ns)
    assert good["status"] == "success" and good["rua"] == ["mailto:tls@good.test"]
    bad = await check_tlsrpt("tlsrpt-bad.test", nameservers=ns)
    assert bad["status"] == "error" and "'tls@tlsrpt-bad.test' is not a mailto: address" in bad["message"]
    absent = await check_tlsrpt("viainclude.test", nameservers=ns)
    assert absent["status"] == "warning" and absent["record"] is None


async def test_bimi(ns: list[str]) -> None:
    good = await check_bimi("good.test", dmarc={"is_strong": True}, nameservers=ns)
    assert good["status"] == "success" and good["logo"] == "https://good.test/logo.svg"
    weak = await check_bimi("bimi-weak.test", dmarc={"is_strong": False}, nameservers=ns)
    assert weak["status"] == "warning" and "p=quarantine or p=reject" in weak["warnings"][0]
    bad = await check_bimi("bimi-bad.test", nameservers=ns)
    assert bad["status"] == "error" and "must be an https:// URL of an SVG file" in bad["message"]
    absent = await check_bimi("viainclude.test", nameservers=ns)
    assert absent["status"] == "unknown"

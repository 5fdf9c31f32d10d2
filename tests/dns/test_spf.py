"""The API's `spf` object, record by record, against Knot."""

from __future__ import annotations

import pytest

from mlv.dns.spf import check_spf, parse_spf
from mlv.dns.spf_macro import SpfSyntaxError
from tests.dns.zones import SERVER_V4, SERVER_V6

IPS = [SERVER_V4]


async def spf(domain: str, ns: list[str], ips: list[str] = IPS) -> dict:
    return await check_spf(domain, server_ips=ips, nameservers=ns, timeout=2)


async def test_strict_all_authorized_through_mx(ns: list[str]) -> None:
    got = await spf("good.test", ns)
    assert got == {"status": "success",
                   "message": "SPF configured correctly with strict -all policy. Server IP authorized via mx",
                   "record": "v=spf1 mx include:_spf.provider.test -all", "has_strict_all": True,
                   "includes_mx": True, "includes": ["_spf.provider.test"], "warnings": [], "info": [],
                   "dns_lookups": 2}


async def test_authorized_through_an_include_names_the_chain(ns: list[str]) -> None:
    got = await spf("viainclude.test", ns)
    assert got["status"] == "success"
    assert got["message"].endswith("Server IP authorized via include:_spf.provider.test (ip4:192.0.2.0/24)")
    assert got["includes"] == ["_spf.provider.test"] and got["dns_lookups"] == 1


async def test_redirect_takes_the_policy_of_its_target(ns: list[str]) -> None:
    got = await spf("redirect.test", ns)
    assert got["status"] == "success" and got["has_strict_all"] is True
    assert "via redirect=_spf.provider.test (ip4:192.0.2.0/24)" in got["message"]


@pytest.mark.parametrize(("domain", "status", "message"), [
    ("softfail.test", "success", "SPF configured correctly with soft fail ~all policy. Server IP authorized via "
                                 "ip4:192.0.2.25"),
    ("neutral.test", "warning", "SPF configured with neutral ?all policy. Server IP authorized via ip4:192.0.2.25"),
    ("passall.test", "error", "SPF uses +all: it provides no protection"),
    ("noall.test", "error", "SPF record has no 'all' mechanism: no policy defined"),
])
async def test_all_policies(ns: list[str], domain: str, status: str, message: str) -> None:
    got = await spf(domain, ns)
    assert (got["status"], got["message"]) == (status, message)
    assert got["has_strict_all"] is False


async def test_server_ip_not_authorized(ns: list[str]) -> None:
    got = await spf("notauth.test", ns)
    assert got["status"] == "error"
    assert got["message"] == f"Server IP {SERVER_V4} is NOT authorized in SPF record"
    assert got["warnings"] == ["Mail server IP not found in SPF record"]
    assert got["has_strict_all"] is True and got["dns_lookups"] == 0


async def test_unauthorized_ipv6_is_a_warning(ns: list[str]) -> None:
    got = await spf("ipv6miss.test", ns, [SERVER_V4, SERVER_V6])
    assert got["status"] == "warning"
    assert any(w.startswith(f"Server IP {SERVER_V6} is NOT authorized") for w in got["warnings"])
    assert (await spf("softfail.test", ns, [SERVER_V4, SERVER_V6]))["status"] == "success"


async def test_more_than_ten_lookups_counted_through_includes(ns: list[str]) -> None:
    got = await spf("toomany.test", ns)
    assert got["status"] == "error"
    assert got["message"] == "SPF has too many DNS lookups (11). Maximum is 10"
    assert got["warnings"][:2] == ["SPF record exceeds the 10 DNS lookup limit with 11 lookups",
                                   "This will cause SPF validation to fail"]
    assert got["dns_lookups"] == 11


async def test_include_loop(ns: list[str]) -> None:
    got = await spf("loopa.test", ns)
    assert got["status"] == "error"
    assert "loopa.test -> loopb.test -> loopa.test" in got["message"]


async def test_void_lookup_limit(ns: list[str]) -> None:
    got = await spf("void.test", ns)
    assert got["status"] == "error" and "more than 2 void DNS lookups" in got["message"]


async def test_include_without_spf_record(ns: list[str]) -> None:
    got = await spf("includenone.test", ns)
    assert got["status"] == "error" and "include:nothing.provider.test" in got["message"]
    assert any("has no SPF record" in w for w in got["warnings"])


async def test_multiple_records(ns: list[str]) -> None:
    got = await spf("multi.test", ns)
    assert got["status"] == "error"
    assert got["message"] == "Multiple SPF records found (2). Only one is allowed"
    assert got["warnings"] == ["Multiple SPF records invalidate ALL records"]
    assert sorted(got["record"].split("; ")) == ["v=spf1 ip4:192.0.2.25 -all", "v=spf1 mx -all"]


async def test_missing_space_after_version(ns: list[str]) -> None:
    got = await spf("nospace.test", ns)
    assert got["status"] == "error" and "'v=spf1 ' (with a space)" in got["message"]


async def test_invalid_mechanism(ns: list[str]) -> None:
    got = await spf("badmech.test", ns)
    assert got["status"] == "error" and "unknown mechanism 'foo:bar'" in got["message"]


async def test_split_record_is_joined(ns: list[str]) -> None:
    got = await spf("split.test", ns)
    assert got["status"] == "success" and got["record"] == "v=spf1 ip4:192.0.2.25 -all"
    assert any("2 strings" in i for i in got["info"])


async def test_ptr_is_deprecated(ns: list[str]) -> None:
    got = await spf("ptr.test", ns)
    assert any("ptr mechanism is deprecated" in w for w in got["warnings"])


async def test_no_record_and_no_domain(ns: list[str]) -> None:
    assert (await spf("provider.test", ns))["message"] == "No SPF record found"
    assert (await spf("nope.good.test", ns))["warnings"] == ["No SPF record (domain does not exist)"]


async def test_unknown_server_ip_is_said(ns: list[str]) -> None:
    got = await spf("good.test", ns, [])
    assert got["status"] == "success" and "server IP not checked" in got["message"]


async def test_dead_nameserver_is_an_error_status(dead) -> None:  # type: ignore[no-untyped-def]
    got = await check_spf("good.test", server_ips=IPS, nameservers=[dead.address], timeout=0.3, retries=0)
    assert got["status"] == "error" and "DNS timeout" in got["message"]


def test_parse_reads_every_term() -> None:
    record = parse_spf("v=spf1 +a/24//64 mx:%{d}.example.com ~ip4:192.0.2.0/24 ip6:2001:db8::/32 exists:%{i}.x.test "
                       "include:_spf.example.net ptr redirect=other.test exp=exp.%{d} foo=bar -all")
    assert [m.name for m in record.mechanisms] == ["a", "mx", "ip4", "ip6", "exists", "include", "ptr", "all"]
    assert (record.mechanisms[0].cidr4, record.mechanisms[0].cidr6) == (24, 64)
    assert record.mechanisms[2].result == "softfail"
    assert record.redirect == "other.test" and record.exp == "exp.%{d}"
    assert record.unknown_modifiers == (("foo", "bar"),)
    assert record.dns_terms == 5  # redirect does not count while an "all" is there


@pytest.mark.parametrize("text", ["v=spf1 ip4:192.0.2.300", "v=spf1 a/33", "v=spf1 mx//129", "v=spf1 include",
                                  "v=spf1 -all.", "v=spf1 redirect=a.test redirect=b.test", "v=spf1 a:foo.123",
                                  "v=spf1 exists:%{z}.test", "v=spf1 ip4:192.0.2.1/024", "v=spf1 a:x.test\tmx"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(SpfSyntaxError):
        parse_spf(text)

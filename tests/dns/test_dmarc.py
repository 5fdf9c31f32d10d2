"""The API's `dmarc` object against Knot."""

from __future__ import annotations

import pytest

from mlv.dns.dmarc import check_dmarc, parse_dmarc


async def dmarc(domain: str, ns: list[str]) -> dict:
    return await check_dmarc(domain, nameservers=ns, timeout=2)


async def test_reject(ns: list[str]) -> None:
    got = await dmarc("good.test", ns)
    assert {k: got[k] for k in ("status", "message", "record", "policy", "subdomain_policy", "pct", "is_strong",
                                "warnings")} == {
        "status": "success", "message": "DMARC configured with strict policy",
        "record": "v=DMARC1; p=reject; rua=mailto:dmarc@good.test; adkim=s", "policy": "reject",
        "subdomain_policy": None, "pct": "100", "is_strong": True, "warnings": []}
    assert got["info"] == ["Strict DKIM alignment (adkim=s)"]


@pytest.mark.parametrize(("domain", "status", "policy", "message"), [
    ("dmarc-quarantine.test", "warning", "quarantine", "DMARC configured with quarantine policy"),
    ("dmarc-none.test", "warning", "none", "DMARC policy is none (monitoring only): no protection"),
])
async def test_weaker_policies(ns: list[str], domain: str, status: str, policy: str, message: str) -> None:
    got = await dmarc(domain, ns)
    assert (got["status"], got["policy"], got["message"]) == (status, policy, message)
    assert any("p=reject" in w for w in got["warnings"])


async def test_partial_pct_and_weak_subdomain_policy(ns: list[str]) -> None:
    got = await dmarc("dmarc-pct.test", ns)
    assert got["status"] == "warning" and got["pct"] == "50" and got["subdomain_policy"] == "none"
    assert got["is_strong"] is False
    assert "pct=50: the policy applies to only 50% of failing mail" in got["warnings"]
    assert any(w.startswith("Subdomain policy sp=none is weaker") for w in got["warnings"])


@pytest.mark.parametrize(("domain", "needle"), [
    ("dmarc-dup.test", "Duplicate tag p="),
    ("dmarc-badtag.test", "Invalid adkim=x"),
    ("dmarc-baduri.test", "is not a mailto: address"),
    ("dmarc-multi.test", "Multiple DMARC records found (2). Only one is allowed"),
    ("dmarc-spf.test", "An SPF record was found at _dmarc.dmarc-spf.test"),
    ("dmarc-missing.test", "No DMARC record found"),
])
async def test_broken_records(ns: list[str], domain: str, needle: str) -> None:
    got = await dmarc(domain, ns)
    assert got["status"] == "error" and needle in got["message"]
    assert got["is_strong"] is False


async def test_every_bad_tag_is_listed(ns: list[str]) -> None:
    got = await dmarc("dmarc-badtag.test", ns)
    assert "Invalid fo=2 (colon-separated 0, 1, d, s)" in got["warnings"]
    assert "Invalid ri=soon (seconds)" in got["warnings"]
    assert "Unknown tag foo= (ignored by receivers)" in got["warnings"]


async def test_external_report_address(ns: list[str]) -> None:
    allowed = await dmarc("dmarc-ext.test", ns)
    assert allowed["status"] == "success" and allowed["warnings"] == []
    missing = await dmarc("dmarc-extmissing.test", ns)
    assert missing["status"] == "warning"
    assert any("Reports to elsewhere.test will be dropped" in w and
               "dmarc-extmissing.test._report._dmarc.elsewhere.test" in w for w in missing["warnings"])


async def test_no_rua(ns: list[str]) -> None:
    got = await dmarc("dmarc-norua.test", ns)
    assert got["status"] == "warning" and any(w.startswith("No rua= address") for w in got["warnings"])


def test_parse_is_pure() -> None:
    tags, errors, warnings = parse_dmarc("v=DMARC1; p=Reject; pct=101; rua=mailto:a@b.test!10m, "
                                         "https://r.test/x; ruf=mailto:bad")
    assert tags["p"] == "reject"
    assert errors == ["Invalid pct=101 (a whole number from 0 to 100)", "ruf: 'mailto:bad' is not a valid mailto: "
                                                                         "address"]
    assert warnings == ["rua=https://r.test/x: few report senders support anything but mailto:"]
    assert parse_dmarc("p=reject; v=DMARC1")[1] == []  # order is the caller's concern (record selection)

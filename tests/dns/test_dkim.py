"""The API's `dkim` object: mailcow's expected record against what Knot serves."""

from __future__ import annotations

import pytest

from mlv.dns.dkim import check_dkim, key_size, normalize_dkim, parse_dkim
from tests.dns.zones import KEY_1024, KEY_2048, OTHER_2048

MAILCOW = {"pubkey": KEY_2048, "length": "2048", "dkim_txt": f"v=DKIM1;k=rsa;p={KEY_2048}",
           "dkim_selector": "dkim", "privkey": ""}


async def dkim(domain: str, ns: list[str], mailcow: dict | None = None, selector: str | None = None) -> dict:
    return await check_dkim(domain, selector=selector, mailcow=mailcow, nameservers=ns, timeout=2)


async def test_matches_mailcow_across_split_strings_and_spaces(ns: list[str]) -> None:
    got = await dkim("good.test", ns, MAILCOW)
    assert got["status"] == "success" and got["message"] == "DKIM configured correctly"
    assert got["match"] is True
    assert got["selector"] == "dkim" and got["dkim_domain"] == "dkim._domainkey.good.test"
    assert got["expected_record"] == f"v=DKIM1;k=rsa;p={KEY_2048}"
    assert got["actual_record"] == f"v=DKIM1; k=rsa; p={KEY_2048}"
    assert got["parameters"] == {"v": "DKIM1", "k": "rsa", "p": KEY_2048}
    assert (got["key_type"], got["key_bits"]) == ("RSA", 2048)
    assert got["warnings"] == []


async def test_mailcow_split_dkim_txt_is_normalised(ns: list[str]) -> None:
    quoted = {**MAILCOW, "dkim_txt": f'"v=DKIM1;k=rsa;p={KEY_2048[:200]}" "{KEY_2048[200:]}"'}
    assert (await dkim("good.test", ns, quoted))["match"] is True


async def test_other_key_in_dns_is_a_mismatch(ns: list[str]) -> None:
    got = await dkim("dkim-mismatch.test", ns, MAILCOW)
    assert got["status"] == "error" and got["match"] is False
    assert got["message"] == "DKIM record in DNS does not match the key in mailcow"
    assert got["parameters"]["p"] == OTHER_2048


async def test_same_key_other_tags_is_a_warning(ns: list[str]) -> None:
    got = await dkim("dkim-strict.test", ns, MAILCOW)
    assert got["status"] == "warning" and got["match"] is False
    assert any("differs from mailcow's in t=" in w for w in got["warnings"])


async def test_testing_mode_is_critical(ns: list[str]) -> None:
    got = await dkim("dkim-testing.test", ns)
    assert got["status"] == "error"
    assert got["message"] == ("DKIM is in TESTING mode (t=y) - Emails will pass validation even with invalid "
                              "signatures. Remove t=y for production!")
    assert got["parameters"]["t"] == "y" and got["match"] is None and got["expected_record"] is None


async def test_strict_subdomain_mode_is_information(ns: list[str]) -> None:
    got = await dkim("dkim-strict.test", ns)
    assert got["status"] == "success" and "DKIM uses strict subdomain mode (t=s)" in got["info"]
    assert got["warnings"] == []


async def test_sha1(ns: list[str]) -> None:
    got = await dkim("dkim-sha1.test", ns)
    assert (got["status"], got["message"]) == ("warning", "DKIM configured but has warnings")
    assert got["warnings"] == ["⚠️ DKIM uses SHA1 hash algorithm (h=sha1)"]
    both = await dkim("dkim-both.test", ns)
    assert both["status"] == "warning" and "DKIM uses strict subdomain mode (t=s)" in both["info"]


async def test_revoked_key(ns: list[str]) -> None:
    got = await dkim("dkim-revoked.test", ns)
    assert got["status"] == "error" and got["message"] == "DKIM key is revoked (p= is empty)"
    assert got["warnings"] == ["❌ DKIM key is revoked (p= is empty)"]
    assert got["parameters"] == {"v": "DKIM1", "k": "rsa", "p": ""}


@pytest.mark.parametrize(("domain", "status", "needle", "bits"), [
    ("dkim-unknownk.test", "warning", "Unknown DKIM key type (k=dsa)", None),
    ("dkim-1024.test", "warning", "1024 bits: 2048 bits are recommended", 1024),
    ("dkim-512.test", "error", "RSA key is too short (512 bits)", 512),
    ("dkim-badb64.test", "error", "not valid base64", None),
])
async def test_key_problems(ns: list[str], domain: str, status: str, needle: str, bits: int | None) -> None:
    got = await dkim(domain, ns)
    assert got["status"] == status
    assert any(needle in w for w in got["warnings"])
    assert got["key_bits"] == bits


async def test_ed25519(ns: list[str]) -> None:
    got = await dkim("dkim-ed25519.test", ns)
    assert got["status"] == "success" and (got["key_type"], got["key_bits"]) == ("Ed25519", 256)


async def test_missing_and_multiple_records(ns: list[str]) -> None:
    missing = await dkim("dkim-none.test", ns, MAILCOW)
    assert missing["status"] == "error"
    assert missing["message"] == "DKIM record not found at dkim._domainkey.dkim-none.test"
    multiple = await dkim("dkim-multi.test", ns)
    assert multiple["status"] == "error" and multiple["message"].startswith("Multiple DKIM records")


async def test_mailcow_without_key(ns: list[str]) -> None:
    got = await dkim("good.test", ns, {})
    assert got["status"] == "error" and got["message"] == "No DKIM key configured in mailcow for this domain"


async def test_selector_from_mailcow_and_override(ns: list[str]) -> None:
    got = await dkim("good.test", ns, {**MAILCOW, "dkim_selector": "s2024"})
    assert got["dkim_domain"] == "s2024._domainkey.good.test" and got["status"] == "error"
    assert (await dkim("good.test", ns, selector="dkim"))["status"] == "success"


async def test_dead_nameserver(dead) -> None:  # type: ignore[no-untyped-def]
    got = await check_dkim("good.test", nameservers=[dead.address], timeout=0.3, retries=0)
    assert got["status"] == "error" and got["message"].startswith("DKIM lookup failed: DNS timeout")


def test_pure_helpers() -> None:
    assert normalize_dkim('"v=DKIM1; k=rsa; " "p=AB CD"') == "v=DKIM1;k=rsa;p=ABCD"
    tags, problems = parse_dkim("v=DKIM1; k=rsa; k=ed25519; p=AB\r\n CD; junk")
    assert tags == {"v": "DKIM1", "k": "rsa", "p": "ABCD"}
    assert problems == ["duplicate tag k=", "malformed tag 'junk'"]
    assert key_size("rsa", KEY_1024)[:2] == ("RSA", 1024)
    assert key_size("rsa", "AAAA")[2] == "the RSA public key cannot be read"

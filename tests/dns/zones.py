"""The zones the DNS tests serve through Knot: one small zone per case, named after it."""

from __future__ import annotations

from mlv.mailcow.objects import dkim_keys
from tests.dns.knot import txt, zone_text

SERVER_V4 = "192.0.2.25"
SERVER_V6 = "2001:db8::25"
KEY_2048 = dkim_keys()["example.org"]
OTHER_2048 = dkim_keys()["example.net"]
STALE_2048 = dkim_keys()["example.com"]  # published for example.net: not the key mailcow signs with
KEY_1024 = ("MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCkyFaqFpc7Of87G9py/1eFiPZEfPxk8yHx9yUWg/AqCw7+Mhn2xJEo88wCI7Q8BF4dL"
            "bzPjbBmYwPLpVHvCY/knuDwYnjJPYOE/K8tsd5+bAfHiOtf2/ANoB4+2ZishAaZj/8UBsCkBF61JZmdIJyPl7PvXWCKvmLXIoA8wgY4WQIDAQAB")
KEY_512 = ("MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAK/uXsSaVRMY5qE9mfJMMmwkAR6QTD3Ca7ATx2ulEOKpCjcAQ/zv2VtInxgv/ktwqQHhfSJQ8"
           "Ffb4sFqtvQ36OUCAwEAAQ==")
KEY_ED25519 = "bK9Bi4Z/pCm7+cg57IU0mUb9u6MHIZLClB19O1UwMJs="
BIG_TXT = [("x" * 200).encode()] * 25  # 5000 bytes: more than fits in a UDP answer

# Emulated mailcow (mlv.mailcow.emulator): server 203.0.113.10 / 2001:db8:42::10, selector "dkim".
EMU_V4, EMU_V6 = "203.0.113.10", "2001:db8:42::10"


def _chunks(text: str, size: int = 200) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def _dkim(key: str, tags: str = "") -> str:
    return txt(f"v=DKIM1; k=rsa; {tags}", f"p={key[:200]}", key[200:])


def _mail_domain(apex: str, spf: str, *, dkim: str | None = None, dmarc: str | None = None,
                 mx: str = "mail.good.test", extra: list[tuple[str, str, str]] | None = None,
                 ) -> list[tuple[str, str, str]]:
    rows = [(apex, "TXT", txt(spf)), (apex, "MX", f"10 {mx}.")]
    dmarc = f"v=DMARC1; p=reject; rua=mailto:dmarc@{apex}" if dmarc is None else dmarc
    if dkim is not None:
        rows.append((f"dkim._domainkey.{apex}", "TXT", dkim))
    if dmarc:
        rows.append((f"_dmarc.{apex}", "TXT", txt(dmarc)))
    return rows + (extra or [])


def build_zones() -> dict[str, str]:
    zones: dict[str, list[tuple[str, str, str]]] = {}
    good = _mail_domain("good.test", "v=spf1 mx include:_spf.provider.test -all", dkim=_dkim(KEY_2048),
                        dmarc="v=DMARC1; p=reject; rua=mailto:dmarc@good.test; adkim=s")
    good += [("mail.good.test", "A", SERVER_V4), ("mail.good.test", "AAAA", SERVER_V6),
             ("_mta-sts.good.test", "TXT", txt("v=STSv1; id=20240101")), ("mta-sts.good.test", "A", "127.0.0.1"),
             ("_smtp._tls.good.test", "TXT", txt("v=TLSRPTv1; rua=mailto:tls@good.test")),
             ("default._bimi.good.test", "TXT", txt("v=BIMI1; l=https://good.test/logo.svg; "
                                                    "a=https://good.test/vmc.pem")),
             ("big.good.test", "TXT", txt(*BIG_TXT)), ("cname.good.test", "CNAME", "mail.good.test."),
             ("bad-ptr.good.test", "TXT", txt("no address here")), ("other.good.test", "A", "198.51.100.7")]
    zones["good.test"] = good
    zones["provider.test"] = [
        ("_spf.provider.test", "TXT", txt("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/64 -all")),
        ("dmarc-ext.test._report._dmarc.provider.test", "TXT", txt("v=DMARC1")),
        ("mx1.provider.test", "A", "198.51.100.25")]
    spf_cases = {
        "viainclude": "v=spf1 include:_spf.provider.test -all",
        "softfail": "v=spf1 ip4:192.0.2.25 ip6:2001:db8::25 ~all",
        "neutral": "v=spf1 ip4:192.0.2.25 ?all",
        "passall": "v=spf1 +all",
        "noall": "v=spf1 ip4:192.0.2.25",
        "notauth": "v=spf1 ip4:198.51.100.1 -all",
        "redirect": "v=spf1 redirect=_spf.provider.test",
        "ipv6miss": "v=spf1 ip4:192.0.2.25 -all",
        "toomany": "v=spf1 ip4:192.0.2.25 include:l1.toomany.test -all",
        "loopa": "v=spf1 include:loopb.test ip4:192.0.2.25 -all",
        "loopb": "v=spf1 include:loopa.test -all",
        "void": "v=spf1 a:nx1.void.test a:nx2.void.test a:nx3.void.test ip4:192.0.2.25 -all",
        "nospace": "v=spf1mx -all",
        "badmech": "v=spf1 ip4:192.0.2.25 foo:bar -all",
        "ptr": "v=spf1 ptr ip4:192.0.2.25 -all",
        "includenone": "v=spf1 ip4:192.0.2.25 include:nothing.provider.test -all",
    }
    for name, spf in spf_cases.items():
        zones[f"{name}.test"] = _mail_domain(f"{name}.test", spf)
    zones["toomany.test"] += [("l1.toomany.test", "TXT", txt("v=spf1 a mx exists:x.toomany.test "
                                                             "include:l2.toomany.test -all")),
                              ("l2.toomany.test", "TXT", txt("v=spf1 a mx a mx a mx -all"))]
    zones["multi.test"] = _mail_domain("multi.test", "v=spf1 mx -all", extra=[
        ("multi.test", "TXT", txt("v=spf1 ip4:192.0.2.25 -all"))])
    zones["split.test"] = [("split.test", "TXT", txt("v=spf1 ip4:192.0.2.25 ", "-all")),
                           ("split.test", "TXT", txt("google-site-verification=abc"))]
    dkim_cases = {
        "dkim-testing": _dkim(KEY_2048, "t=y; "), "dkim-strict": _dkim(KEY_2048, "t=s; "),
        "dkim-sha1": _dkim(KEY_2048, "h=sha1; "), "dkim-both": _dkim(KEY_2048, "t=s; h=sha1; "),
        "dkim-revoked": txt("v=DKIM1; k=rsa; p="), "dkim-unknownk": txt(f"v=DKIM1; k=dsa; p={KEY_1024}"),
        "dkim-1024": txt(f"v=DKIM1; k=rsa; p={KEY_1024}"), "dkim-512": txt(f"v=DKIM1; k=rsa; p={KEY_512}"),
        "dkim-ed25519": txt(f"v=DKIM1; k=ed25519; p={KEY_ED25519}"), "dkim-mismatch": _dkim(OTHER_2048),
        "dkim-badb64": txt("v=DKIM1; k=rsa; p=not*base64!"), "dkim-none": None,
    }
    for name, record in dkim_cases.items():
        zones[f"{name}.test"] = _mail_domain(f"{name}.test", "v=spf1 ip4:192.0.2.25 -all", dkim=record)
    zones["dkim-multi.test"] = _mail_domain("dkim-multi.test", "v=spf1 -all", dkim=_dkim(KEY_2048), extra=[
        ("dkim._domainkey.dkim-multi.test", "TXT", txt(f"v=DKIM1; p={KEY_1024}"))])
    dmarc_cases = {
        "dmarc-quarantine": "v=DMARC1; p=quarantine; rua=mailto:d@dmarc-quarantine.test",
        "dmarc-none": "v=DMARC1; p=none; rua=mailto:d@dmarc-none.test",
        "dmarc-pct": "v=DMARC1; p=reject; pct=50; sp=none; rua=mailto:d@dmarc-pct.test",
        "dmarc-dup": "v=DMARC1; p=reject; p=none",
        "dmarc-badtag": "v=DMARC1; p=reject; adkim=x; fo=2; ri=soon; foo=bar",
        "dmarc-baduri": "v=DMARC1; p=reject; rua=dmarc@dmarc-baduri.test",
        "dmarc-ext": "v=DMARC1; p=reject; rua=mailto:reports@provider.test",
        "dmarc-extmissing": "v=DMARC1; p=reject; rua=mailto:reports@elsewhere.test",
        "dmarc-norua": "v=DMARC1; p=reject",
        "dmarc-missing": "",
    }
    for name, record in dmarc_cases.items():
        zones[f"{name}.test"] = _mail_domain(f"{name}.test", "v=spf1 -all", dmarc=record)
    zones["dmarc-multi.test"] = _mail_domain("dmarc-multi.test", "v=spf1 -all", extra=[
        ("_dmarc.dmarc-multi.test", "TXT", txt("v=DMARC1; p=none"))])
    zones["dmarc-spf.test"] = _mail_domain("dmarc-spf.test", "v=spf1 -all", dmarc="v=spf1 -all")
    zones["elsewhere.test"] = [("www.elsewhere.test", "A", "198.51.100.80")]
    zones["nomx.test"] = [("nomx.test", "TXT", txt("v=spf1 -all")), ("nomx.test", "A", "198.51.100.9")]
    zones["nullmx.test"] = [("nullmx.test", "MX", "0 ."), ("nullmx.test", "TXT", txt("v=spf1 -all"))]
    zones["mxnoaddr.test"] = _mail_domain("mxnoaddr.test", "v=spf1 -all", mx="bad-ptr.good.test")
    zones["mxother.test"] = _mail_domain("mxother.test", "v=spf1 -all", mx="mx1.provider.test")
    zones["sts-testing.test"] = _mail_domain("sts-testing.test", "v=spf1 -all", extra=[
        ("_mta-sts.sts-testing.test", "TXT", txt("v=STSv1; id=abc123")),
        ("mta-sts.sts-testing.test", "A", "127.0.0.1")])
    for name, sts in (("sts-404", "v=STSv1; id=1"), ("sts-badcert", "v=STSv1; id=1"), ("sts-badid", "v=STSv1; id="),
                      ("sts-badpolicy", "v=STSv1; id=2")):
        zones[f"{name}.test"] = _mail_domain(f"{name}.test", "v=spf1 -all", extra=[
            (f"_mta-sts.{name}.test", "TXT", txt(sts)), (f"mta-sts.{name}.test", "A", "127.0.0.1")])
    zones["tlsrpt-bad.test"] = _mail_domain("tlsrpt-bad.test", "v=spf1 -all", extra=[
        ("_smtp._tls.tlsrpt-bad.test", "TXT", txt("v=TLSRPTv1; rua=tls@tlsrpt-bad.test"))])
    zones["bimi-weak.test"] = _mail_domain("bimi-weak.test", "v=spf1 -all", dmarc="v=DMARC1; p=none", extra=[
        ("default._bimi.bimi-weak.test", "TXT", txt("v=BIMI1; l=https://bimi-weak.test/logo.svg"))])
    zones["bimi-bad.test"] = _mail_domain("bimi-bad.test", "v=spf1 -all", extra=[
        ("default._bimi.bimi-bad.test", "TXT", txt("v=BIMI1; l=http://bimi-bad.test/logo.png"))])
    zones["2.0.192.in-addr.arpa"] = [("25.2.0.192.in-addr.arpa", "PTR", "mail.good.test."),
                                     ("26.2.0.192.in-addr.arpa", "PTR", "bad-ptr.good.test.")]
    v6 = ".".join(reversed("20010db8000000000000000000000025"))
    zones["8.b.d.0.1.0.0.2.ip6.arpa"] = [(f"{v6}.ip6.arpa", "PTR", "mail.good.test.")]
    # the emulated mailcow's domains
    zones["example.org"] = [
        ("example.org", "TXT", txt("v=spf1 mx -all")), ("example.org", "MX", "10 mail.example.org."),
        ("mail.example.org", "A", EMU_V4), ("mail.example.org", "AAAA", EMU_V6),
        ("dkim._domainkey.example.org", "TXT", txt(*_chunks(f"v=DKIM1;k=rsa;t=s;s=email;p={KEY_2048}"))),
        ("_dmarc.example.org", "TXT", txt("v=DMARC1; p=reject; rua=mailto:dmarc@example.org"))]
    zones["example.net"] = [
        ("example.net", "TXT", txt("v=spf1 ip4:198.51.100.1 -all")), ("example.net", "MX", "10 mail.example.org."),
        ("dkim._domainkey.example.net", "TXT", txt(*_chunks(f"v=DKIM1;k=rsa;t=s;s=email;p={STALE_2048}"))),
        ("_dmarc.example.net", "TXT", txt("v=DMARC1; p=none"))]
    zones["113.0.203.in-addr.arpa"] = [("10.113.0.203.in-addr.arpa", "PTR", "mail.example.org.")]
    zones["2.4.0.0.8.b.d.0.1.0.0.2.ip6.arpa"] = []  # the emulated server's IPv6 has no PTR
    return {apex: zone_text(rows) for apex, rows in zones.items()}

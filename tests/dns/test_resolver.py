"""The resolver layer against Knot: statuses, CNAMEs, TCP fallback, de-duplication, dead servers."""

from __future__ import annotations

import asyncio
import time

from mlv.dns.resolver import Resolver, make_name, parse_nameserver
from tests.dns.zones import BIG_TXT, SERVER_V4, SERVER_V6


def test_parse_nameserver_forms() -> None:
    assert parse_nameserver("192.0.2.1") == ("192.0.2.1", 53)
    assert parse_nameserver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_nameserver("2001:db8::1") == ("2001:db8::1", 53)
    assert parse_nameserver("[2001:db8::1]:5353") == ("2001:db8::1", 5353)


def test_make_name_rejects_bad_names() -> None:
    for bad in ("", "a..b", "x" * 64 + ".test", ".".join(["abcdefghi"] * 30)):
        try:
            make_name(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")
    assert make_name("Mail.Good.Test.").to_text() == "Mail.Good.Test."


async def test_answers_and_statuses(ns: list[str]) -> None:
    async with Resolver(ns, timeout=2) as r:
        a, aaaa, mx, nx, nodata, refused, invalid = await asyncio.gather(
            r.query("mail.good.test", "A"), r.query("mail.good.test", "AAAA"), r.query("good.test", "MX"),
            r.query("nope.good.test", "TXT"), r.query("mail.good.test", "TXT"), r.query("not-served.example", "A"),
            r.query("a..b", "A"))
    assert (a.status, a.records) == ("ok", (SERVER_V4,))
    assert aaaa.records == (SERVER_V6,)
    assert mx.records == ((10, "mail.good.test"),)
    assert nx.status == "nxdomain" and nx.void and "does not exist" in nx.error
    assert nodata.status == "nodata" and nodata.void and "no TXT record" in nodata.error
    assert refused.status == "refused" and refused.failed and "REFUSED" in refused.error
    assert invalid.status == "invalid" and not invalid.failed


async def test_split_txt_is_kept_as_strings_and_joined(ns: list[str]) -> None:
    async with Resolver(ns) as r:
        answer = await r.query("split.test", "TXT")
    assert ("v=spf1 ip4:192.0.2.25 -all" in answer.texts())
    assert (b"v=spf1 ip4:192.0.2.25 ", b"-all") in answer.records


async def test_cname_is_followed(ns: list[str]) -> None:
    async with Resolver(ns) as r:
        answer = await r.query("cname.good.test", "A")
    assert answer.records == (SERVER_V4,)


async def test_truncated_answer_falls_back_to_tcp(ns: list[str]) -> None:
    async with Resolver(ns) as r:
        answer = await r.query("big.good.test", "TXT")
    assert answer.ok and answer.records == (tuple(BIG_TXT),)


async def test_same_question_goes_out_once(ns: list[str]) -> None:
    async with Resolver(ns) as r:
        answers = await asyncio.gather(*(r.query("good.test", "TXT") for _ in range(20)),
                                       r.query("GOOD.test.", "TXT"))
        assert len({a.records for a in answers}) == 1
        assert r.queries == 1 and r.cache_hits == 20
        await r.query("good.test", "MX")
        assert r.queries == 2


async def test_dead_server_is_a_timeout_status(dead) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    async with Resolver([dead.address], timeout=0.4, retries=1) as r:
        answer = await r.query("good.test", "TXT")
    elapsed = time.monotonic() - started
    assert answer.status == "timeout" and answer.failed
    assert "DNS timeout" in answer.error and "good.test TXT" in answer.error
    assert 0.35 < elapsed < 1.5
    assert dead.received >= 2  # the retry was sent


async def test_failover_to_the_next_nameserver(dead, ns: list[str]) -> None:  # type: ignore[no-untyped-def]
    async with Resolver([dead.address, *ns], timeout=1.0, retries=1) as r:
        answer = await r.query("mail.good.test", "A")
    assert answer.records == (SERVER_V4,)

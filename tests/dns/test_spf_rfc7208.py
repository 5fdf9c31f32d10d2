"""The RFC 7208 test suite (203 tests) against check_host(), each scenario served by its own knotd."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mlv.dns.resolver import Resolver
from mlv.dns.spf_eval import check_host
from tests.dns.rfc7208 import ScenarioServer, load_suite, sender_and_domain

SUITE = load_suite()
CASES = [(index, name) for index, doc in enumerate(SUITE) for name in doc["tests"]]


def test_the_whole_suite_is_here() -> None:
    assert len(CASES) == 203


@pytest.fixture(scope="module")
def scenario_servers() -> Iterator[dict[int, ScenarioServer]]:
    servers: dict[int, ScenarioServer] = {}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.mark.parametrize(("scenario", "name"), CASES, ids=[f"{SUITE[i]['description']}:{n}" for i, n in CASES])
async def test_rfc7208(scenario: int, name: str, scenario_servers: dict[int, ScenarioServer]) -> None:
    doc = SUITE[scenario]
    if scenario not in scenario_servers:
        scenario_servers[scenario] = ScenarioServer(doc.get("zonedata") or {})
    case = doc["tests"][name]
    sender, domain = sender_and_domain(case)
    async with Resolver([scenario_servers[scenario].address], timeout=0.3, retries=0) as resolver:
        got = await check_host(case["host"], domain, sender, resolver=resolver, helo=case.get("helo") or "")
    expected = case["result"] if isinstance(case["result"], list) else [case["result"]]
    assert got.result in expected, f"{case.get('description', '')} ({got.error})"
    if "explanation" in case:
        if case["explanation"] == "DEFAULT":
            assert got.explanation is None
        else:
            assert got.explanation == case["explanation"]

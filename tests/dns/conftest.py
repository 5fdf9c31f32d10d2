"""Real servers for the DNS tests: Knot on 127.0.0.1 serving tests/dns/zones.py, a nameserver that
never answers, and an HTTPS server for MTA-STS policies."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.dns.https import PolicyServer
from tests.dns.knot import DeadServer, Knot
from tests.dns.zones import build_zones


@pytest.fixture(scope="session")
def knot() -> Iterator[Knot]:
    if shutil.which("knotd") is None:
        pytest.fail("knotd is not installed: apt-get install -y --no-install-recommends knot")
    server = Knot.start(build_zones())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ns(knot: Knot) -> list[str]:
    """DNS_NAMESERVERS-style list aiming at the test Knot server."""
    return [knot.address]


@pytest.fixture(scope="session")
def dead() -> Iterator[DeadServer]:
    server = DeadServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def policy_server() -> Iterator[PolicyServer]:
    server = PolicyServer()
    yield server
    server.stop()

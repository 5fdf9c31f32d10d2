"""`mlv check-dns`: the same objects as the API's dns_checks, against Knot."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mlv.cli import main
from tests.dns.zones import SERVER_V4


def test_json_output(ns: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DNS_NAMESERVERS", ns[0])
    monkeypatch.delenv("MAIL_SERVER_IP", raising=False)
    code = main(["check-dns", "good.test", "viainclude.test", "--json", "--server-ip", SERVER_V4, "--timeout", "2"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1  # good.test's MTA-STS policy server is not running here: an error status
    assert list(data) == ["good.test", "viainclude.test"]
    good = data["good.test"]
    assert good["spf"]["message"].endswith("Server IP authorized via mx")
    assert good["dkim"]["status"] == "success" and good["dkim"]["match"] is None  # no mailcow: record judged alone
    assert good["dmarc"]["policy"] == "reject" and good["checked_at"].endswith("Z")
    assert set(good) == {"spf", "dkim", "dmarc", "mx", "reverse_dns", "mta_sts", "tls_rpt", "bimi", "checked_at"}


def test_text_output_and_exit_status(ns: list[str]) -> None:
    env = {**os.environ, "DNS_NAMESERVERS": ns[0], "MAIL_SERVER_IP": SERVER_V4}
    done = subprocess.run([sys.executable, "-m", "mlv.cli", "check-dns", "dkim-testing.test", "--selector", "dkim"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "dkim-testing.test"
    assert any(line.split()[:2] == ["DKIM", "error"] and "TESTING mode" in line for line in lines)
    assert any(line.split()[:2] == ["SPF", "success"] for line in lines)
    assert "1 domains" in done.stderr


def test_dead_nameserver_does_not_crash(dead, capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DNS_NAMESERVERS", dead.address)
    code = main(["check-dns", "good.test", "--json", "--timeout", "0.3"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and "DNS timeout" in data["good.test"]["spf"]["message"]

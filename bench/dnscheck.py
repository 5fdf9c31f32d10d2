"""DNS check benchmark: full checks of 200 domains against a local Knot server, mlv next to checkdmarc.

In one run on this machine:
- 200 zones like a mailcow server's domains (SPF with a provider include, MX to the shared mail
  host, DKIM 2048-bit split in two strings, DMARC, TLS-RPT on half, BIMI on a quarter) served by
  knotd on 127.0.0.1;
- mlv: `check_domains` of all 200 (SPF with check_host() for the server's IPv4 and IPv6, DKIM,
  DMARC with report-address checks, MX + A/AAAA, PTR + FCrDNS, MTA-STS, TLS-RPT, BIMI): wall time,
  CPU time and DNS queries per domain, each run with a fresh resolver (no cache);
- checkdmarc (PyPI), installed in its own venv under /tmp by this script, pointed at the same Knot
  server: the same 200 domains in a fresh process per run, after a warm-up domain;
- runs of the two interleaved (the machine is shared), medians reported.
Prints the figures and writes them to BENCHMARKS.md (section "DNS checks").

    python bench/dnscheck.py [--domains 200] [--runs 5] [--no-checkdmarc]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402
from mlv.dns.check import check_domains  # noqa: E402
from mlv.mailcow.objects import dkim_keys  # noqa: E402
from tests.dns.knot import Knot, owner, txt  # noqa: E402

VENV = Path("/tmp/mlv-bench-checkdmarc")
SERVER_V4, SERVER_V6 = "192.0.2.10", "2001:db8::10"
DRIVER = r'''
import json, sys, time
import dns.nameserver, dns.query
sent = [0]
def counted(real):
    def query(*args, **kwargs):
        sent[0] += 1
        return real(*args, **kwargs)
    return query
dns.query.udp, dns.query.tcp = counted(dns.query.udp), counted(dns.query.tcp)
import checkdmarc
port, domains = int(sys.argv[1]), sys.argv[2].split(",")
ns = [dns.nameserver.Do53Nameserver("127.0.0.1", port)]
checkdmarc.check_domains(["warmup.test"], nameservers=ns, timeout=5.0)
sent[0] = 0
started, cpu = time.perf_counter(), time.process_time()
results = checkdmarc.check_domains(domains, nameservers=ns, timeout=5.0)
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
print(json.dumps({"elapsed": elapsed, "cpu": cpu, "queries": sent[0], "domains": len(results),
                  "spf_valid": sum(1 for r in results if r["spf"].get("valid")),
                  "dmarc_valid": sum(1 for r in results if r["dmarc"].get("valid"))}))
'''


def _soa(apex: str) -> str:
    return (f"{owner(apex)} 300 IN SOA ns1.mailhost.test. hostmaster.mailhost.test. 1 3600 600 86400 300\n"
            f"{owner(apex)} 300 IN NS ns1.mailhost.test.\n")


def _rows(rows: list[tuple[str, str, str]]) -> str:
    return "".join(f"{owner(name)} 300 IN {rtype} {rdata}\n" for name, rtype, rdata in rows)


def build_zones(count: int) -> tuple[dict[str, str], list[str]]:
    keys = list(dkim_keys().values())
    zones = {"mailhost.test": _soa("mailhost.test") + _rows([
        ("ns1.mailhost.test", "A", "127.0.0.1"), ("mx.mailhost.test", "A", SERVER_V4),
        ("mx.mailhost.test", "AAAA", SERVER_V6),
        ("_spf.mailhost.test", "TXT", txt("v=spf1 ip4:192.0.2.0/25 ip6:2001:db8::/64 include:_spf2.mailhost.test "
                                          "-all")),
        ("_spf2.mailhost.test", "TXT", txt("v=spf1 ip4:198.51.100.0/24 ip4:203.0.113.0/24 -all"))])}
    zones["2.0.192.in-addr.arpa"] = _soa("2.0.192.in-addr.arpa") + _rows([
        ("10.2.0.192.in-addr.arpa", "PTR", "mx.mailhost.test.")])
    v6 = ".".join(reversed("20010db8000000000000000000000010")) + ".ip6.arpa"
    zones["8.b.d.0.1.0.0.2.ip6.arpa"] = _soa("8.b.d.0.1.0.0.2.ip6.arpa") + _rows([(v6, "PTR", "mx.mailhost.test.")])
    zones["warmup.test"] = _soa("warmup.test") + _rows([("warmup.test", "TXT", txt("v=spf1 -all"))])
    names = []
    for i in range(count):
        apex = f"shop{i:03d}.test"
        names.append(apex)
        key = keys[i % len(keys)]
        rows = [(apex, "A", f"198.51.100.{i % 250 + 1}"), (apex, "AAAA", f"2001:db8:1::{i + 1:x}"),
                (apex, "MX", "10 mx.mailhost.test."),
                (apex, "TXT", txt(f"v=spf1 mx a include:_spf.mailhost.test {'-' if i % 3 else '~'}all")),
                (apex, "TXT", txt(f"google-site-verification=shop{i:03d}-token")),
                (f"dkim._domainkey.{apex}", "TXT", txt(f"v=DKIM1;k=rsa;t=s;s=email;p={key[:200]}", key[200:])),
                (f"_dmarc.{apex}", "TXT", txt(f"v=DMARC1; p={'reject' if i % 2 else 'quarantine'}; "
                                              f"rua=mailto:dmarc@{apex}; fo=1"))]
        if i % 2 == 0:
            rows.append((f"_smtp._tls.{apex}", "TXT", txt(f"v=TLSRPTv1; rua=mailto:tls@{apex}")))
        if i % 4 == 0:
            rows.append((f"default._bimi.{apex}", "TXT", txt(f"v=BIMI1; l=https://{apex}/logo.svg")))
        zones[apex] = _soa(apex) + _rows(rows)
    return zones, names


def run_mlv(names: list[str], address: str) -> dict:
    """One run of mlv's checks on all domains, with a fresh resolver."""
    started, cpu = time.perf_counter(), time.process_time()
    result = asyncio.run(check_domains(names, server_ips=[SERVER_V4, SERVER_V6], nameservers=[address]))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    checks = result.results.values()
    return {"elapsed": elapsed, "cpu": cpu, "queries": result.queries, "domains": len(result.results),
            "spf_ok": sum(c["spf"]["status"] == "success" for c in checks),
            "dkim_ok": sum(c["dkim"]["status"] == "success" for c in checks)}


def ensure_checkdmarc() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if subprocess.run([str(python), "-c", "import checkdmarc"], capture_output=True).returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "checkdmarc"],
                       check=True)
    (VENV / "driver.py").write_text(DRIVER)
    return python


def run_checkdmarc(python: Path, names: list[str], port: int) -> dict:
    """One run of checkdmarc on all domains, in a fresh process (its time measured inside it)."""
    done = subprocess.run([str(python), str(VENV / "driver.py"), str(port), ",".join(names)],
                          capture_output=True, text=True, check=True, timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(runs: list[dict]) -> dict:
    return {**runs[-1], "median": statistics.median(r["elapsed"] for r in runs),
            "best": min(r["elapsed"] for r in runs), "cpu": statistics.median(r["cpu"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-checkdmarc", action="store_true")
    args = parser.parse_args()
    python = None if args.no_checkdmarc else ensure_checkdmarc()
    zones, names = build_zones(args.domains)
    knot = Knot.start(zones)
    mine: list[dict] = []
    theirs: list[dict] = []
    try:
        asyncio.run(check_domains(["warmup.test"], nameservers=[knot.address]))
        for _ in range(args.runs):  # interleaved, so both see the same load on a shared machine
            mine.append(run_mlv(names, knot.address))
            if python is not None:
                theirs.append(run_checkdmarc(python, names, knot.port))
    finally:
        knot.stop()
    mlv, other = summary(mine), summary(theirs) if theirs else None
    version = subprocess.run([str(python), "-c", "import checkdmarc; print(checkdmarc.__version__)"],
                             capture_output=True, text=True).stdout.strip() if python else ""
    n = args.domains
    print(f"mlv: {mlv['median']:.3f} s median ({mlv['best']:.3f} best, {mlv['cpu']:.3f} s CPU) for {n} domains, "
          f"{mlv['queries'] / n:.1f} queries/domain, SPF ok {mlv['spf_ok']}, DKIM ok {mlv['dkim_ok']}")
    rows = ["| tool | wall time, median | best | CPU time, median | DNS queries per domain | what it checks |",
            "|---|---|---|---|---|---|",
            f"| mlv `check_domains` | {mlv['median']:.3f} s | {mlv['best']:.3f} s | {mlv['cpu']:.3f} s | "
            f"{mlv['queries'] / n:.1f} | SPF (+ check_host for IPv4 and IPv6), DKIM, DMARC (+ report "
            "authorisation), MX + A/AAAA, PTR + FCrDNS, MTA-STS, TLS-RPT, BIMI |"]
    if other:
        print(f"checkdmarc {version}: {other['median']:.3f} s median ({other['best']:.3f} best, {other['cpu']:.3f} s "
              f"CPU), {other['queries'] / n:.1f} queries/domain, SPF valid {other['spf_valid']}, "
              f"DMARC valid {other['dmarc_valid']}")
        rows.append(f"| checkdmarc {version} | {other['median']:.3f} s | {other['best']:.3f} s | "
                    f"{other['cpu']:.3f} s | {other['queries'] / n:.1f} | SPF, DMARC, MX + A/AAAA, NS, SOA, "
                    "DNSSEC, MTA-STS, TLS-RPT, BIMI (no DKIM, no check_host, no PTR) |")
        rows += ["", f"{n} domains, full checks: mlv is **{other['median'] / mlv['median']:.1f}×** faster than "
                 f"checkdmarc in wall time, **{other['cpu'] / mlv['cpu']:.1f}×** in CPU time (medians)."]
    rows += ["", f"{n} zones on knotd (127.0.0.1), one provider include with a nested include, every domain's MX on "
             f"the shared mail host; {args.runs} runs of each, interleaved. mlv: in one process, a fresh resolver "
             "(no cache) per run; checkdmarc: a fresh process per run after a warm-up domain, its DNS cache on, MX "
             "TLS tests off (its default). Queries: UDP/TCP queries sent (mlv's de-duplication within a run "
             "included). CPU time is the checking process's only (knotd's is not counted for either)."]
    write_section("DNS checks", rows, machine=f"{platform.machine()}, {os.cpu_count()} cores (shared), Python "
                                               f"{platform.python_version()}")


if __name__ == "__main__":
    main()

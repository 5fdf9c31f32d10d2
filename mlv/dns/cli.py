"""`mlv check-dns DOMAIN... [--json] [--server-ip IP] [--selector SEL]`: the domain checks from a shell.

Without mailcow, DKIM is judged from the published record alone (match is null). The exit status is
1 when any check of any domain has status "error", so scripts can alert on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from mlv.config import load_settings
from mlv.dns.check import CHECKS, DomainTarget, check_domains

LABELS = {"spf": "SPF", "dkim": "DKIM", "dmarc": "DMARC", "mx": "MX", "reverse_dns": "rDNS",
          "mta_sts": "MTA-STS", "tls_rpt": "TLS-RPT", "bimi": "BIMI"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("check-dns", help="check SPF, DKIM, DMARC, MX, reverse DNS, MTA-STS, TLS-RPT, BIMI",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("domains", nargs="+", metavar="DOMAIN")
    parser.add_argument("--json", action="store_true", help="print {domain: dns_checks} as the API returns them")
    parser.add_argument("--server-ip", action="append", default=[], metavar="IP",
                        help="the mail server's address (repeat for IPv4 and IPv6; default MAIL_SERVER_IP)")
    parser.add_argument("--selector", default=None, help="DKIM selector (default: dkim)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per DNS query (default 5)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    ips = [ip.strip() for value in args.server_ip or [settings.mail_server_ip] for ip in value.split(",")
           if ip.strip()]
    targets = [DomainTarget(name, None, args.selector) for name in args.domains]
    outcome = asyncio.run(check_domains(targets, server_ips=ips, nameservers=settings.dns_nameservers or None,
                                        timeout=args.timeout))
    if args.json:
        json.dump(outcome.results, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        for domain, checks in outcome.results.items():
            print(domain)
            for name in CHECKS:
                check = checks[name]
                print(f"  {LABELS[name]:<8} {check['status']:<8} {check['message']}")
                for warning in check.get("warnings", []):
                    print(f"  {'':<17} - {warning}")
        print(f"{len(outcome.results)} domains, {outcome.queries} DNS queries, {outcome.elapsed:.2f} s",
              file=sys.stderr)
    failed = any(checks[name]["status"] == "error" for checks in outcome.results.values() for name in CHECKS)
    return 1 if failed else 0

"""The `mlv` command: serve, emulator, import-log, import-report."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from mlv.config import ConfigError, load_settings, set_settings


def _serve(args: argparse.Namespace) -> int:
    from mlv.app import run

    settings = load_settings()
    set_settings(settings)
    run(settings, host=args.host, port=args.port, native=args.native)
    return 0


def _emulator(args: argparse.Namespace) -> int:
    from mlv.mailcow.emulator_cli import run

    run(host=args.host, port=args.port, seed=args.seed, rate=args.rate, api_key=args.api_key)
    return 0


def _import_log(args: argparse.Namespace) -> int:
    from mlv.db import init_db
    from mlv.ingest.logfiles import import_files

    settings = load_settings()
    set_settings(settings)
    engine = init_db(settings.db_url)
    started = time.monotonic()
    totals = import_files(engine, args.files, tz=settings.zone, server_id=settings.server_id,
                          extra_domains=settings.local_domains, blacklist=settings.blacklist_emails,
                          progress=lambda msg: print(msg, file=sys.stderr))
    elapsed = time.monotonic() - started
    for source, count in sorted(totals.result.stored.items()):
        print(f"{source}: {totals.result.received.get(source, 0)} lines read, {count} stored, "
              f"{totals.result.skipped.get(source, 0)} skipped")
    print(f"messages: {totals.result.messages_created} created, {totals.result.messages_updated} updated")
    print(f"files: {totals.files}, non-mail lines ignored: {totals.ignored}, time: {elapsed:.1f} s")
    return 0


def _import_report(args: argparse.Namespace) -> int:
    """DMARC aggregate / failure and TLS reports from files or folders; one line per report."""
    from mlv.db import init_db
    from mlv.dmarc.enrich import resolve_for_settings
    from mlv.dmarc.geoip import get_geoip
    from mlv.dmarc.limits import Limits
    from mlv.dmarc.service import expand_paths, import_files

    settings = load_settings()
    set_settings(settings)
    engine = init_db(settings.db_url)
    started, failed, created, records = time.monotonic(), 0, 0, 0
    for path, outcome in import_files(engine, expand_paths(args.files), limits=Limits.from_settings(settings),
                                      geo=get_geoip(settings)):
        if isinstance(outcome, Exception):
            failed += 1
            print(f"{path}: error: {outcome}")
            continue
        for result in outcome.results:
            print(f"{path}: {result.status}: {result.message} ({result.records_count} records)"
                  + "".join(f"\n  repaired: {note}" for note in result.repairs or []))
        for problem in outcome.problems:
            print(f"{path}: skipped part: {problem}")
        created += outcome.created
        records += outcome.records
    if created and not args.no_rdns:
        resolve_for_settings(engine, settings, limit=2000)
    print(f"reports stored: {created}, records: {records}, files failed: {failed}, "
          f"time: {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlv", description="A viewer and monitor for mailcow mail servers.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="UI + REST API + background jobs in one process")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--native", action="store_true", help="open in a native desktop window")
    serve.set_defaults(func=_serve)

    emu = sub.add_parser("emulator", help="the built-in mailcow emulator alone")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=18080)
    emu.add_argument("--seed", type=int, default=1)
    emu.add_argument("--rate", type=float, default=6.0, help="messages per minute")
    emu.add_argument("--api-key", default=None)
    emu.set_defaults(func=_emulator)

    imp = sub.add_parser("import-log", help="import Postfix/Dovecot syslog files (plain or .gz)")
    imp.add_argument("files", nargs="+")
    imp.set_defaults(func=_import_log)

    rep = sub.add_parser("import-report", help="import DMARC aggregate / failure and TLS reports (xml, gz, zip, "
                                               "json, eml; folders are searched)")
    rep.add_argument("files", nargs="+")
    rep.add_argument("--no-rdns", action="store_true", help="skip the reverse DNS look-ups of new source IPs")
    rep.set_defaults(func=_import_report)

    from mlv.dns.cli import add_parser as add_check_dns

    add_check_dns(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(exc.code, file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"mlv: {exc.filename}: no such file", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

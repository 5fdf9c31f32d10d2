"""DMARC report benchmark: mlv against parsedmarc on the same files, and route latency at 1M records.

Measures, in one run on this machine:
- records per second for one large generated aggregate report (≥100,000 records, .xml.gz) and
  for a folder of small ones (.xml, .xml.gz, .zip), each file in a fresh process:
  mlv parses, GeoIP-enriches and stores in SQLite (and PostgreSQL with --postgres);
  parsedmarc (its own venv under /tmp, offline, the same IPinfo-lite mmdb it ships for GeoIP) parses.
  Runs are interleaved (the machine is shared); medians of wall and CPU time are reported.
- the latency of the domains, overview, reports, sources and TLS daily routes with 1,000,000 stored
  records (SQLite), through FastAPI's test client, median and p95 of 20 requests.
Writes the section "DMARC reports" of BENCHMARKS.md.

    python bench/dmarc.py [--records 100000] [--small 500] [--stored 1000000] [--runs 3] [--postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402
from tests.dmarc.reportgen import DAY, aggregate_xml, gz, zipped  # noqa: E402

VENV = Path("/tmp/mlv-bench-parsedmarc")
PARSEDMARC_CHILD = r"""
import json, logging, resource, sys, time
logging.disable(logging.CRITICAL)
import parsedmarc
mmdb, files = sys.argv[1], sys.argv[2:]
records, wall, cpu = 0, time.perf_counter(), time.process_time()
for name in files:
    report = parsedmarc.parse_report_file(name, offline=True, ip_db_path=mmdb, always_use_local_files=True)
    records += len(report["report"]["records"])
print(json.dumps({"records": records, "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def parsedmarc_python() -> tuple[Path, Path]:
    """The venv's python and the IPinfo-lite mmdb parsedmarc ships (installed from PyPI when missing)."""
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "parsedmarc"], check=True)
    mmdb = next(VENV.glob("lib/python*/site-packages/parsedmarc/resources/ipinfo/*.mmdb"))
    return python, mmdb


def child_mlv(args: list[str]) -> None:
    """In a fresh process: import the files into a fresh database, print the figures as JSON."""
    import resource

    from mlv.db import make_engine, migrate
    from mlv.dmarc.extract import extract_reports
    from mlv.dmarc.geoip import GeoIP
    from mlv.dmarc.service import import_files

    mode, url, mmdb, *files = args
    engine = make_engine(url)
    migrate(engine)
    geo = GeoIP([Path(mmdb)])
    records, wall, cpu = 0, time.perf_counter(), time.process_time()
    if mode == "parse":
        for name in files:
            found = extract_reports(Path(name).read_bytes(), filename=Path(name).name)
            records += sum(len(r.records) for r in found.reports)  # type: ignore[union-attr]
    else:  # what `mlv import-report FILE|FOLDER...` does
        for _path, outcome in import_files(engine, [Path(n) for n in files], geo=geo):
            records += outcome.records  # type: ignore[union-attr]
    print(json.dumps({"records": records, "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _run(cmd: list[str]) -> dict[str, float]:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=1800, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_files(folder: Path, records: int, small: int) -> tuple[list[str], list[str]]:
    big = folder / "google.com!example.com!1718236800!1718323199.xml.gz"
    big.write_bytes(gz(aggregate_xml(records, report_id="big-1")))
    names = []
    (folder / "small").mkdir()
    for i in range(small):
        xml = aggregate_xml(20, seed=i, org=f"reporter{i % 7}.example", report_id=f"small-{i}",
                            begin=1718236800 + (i % 30) * DAY, ip_pool=300, pool_seed=7)
        path = folder / "small" / f"r{i}.xml{('', '.gz', '.zip')[i % 3]}"
        path.write_bytes((xml, gz(xml), zipped(f"r{i}.xml", xml))[i % 3])
        names.append(str(path))
    return [str(big)], names


def fill_million(url: str, stored: int) -> float:
    """`stored` records: 4 domains x 250 days x 2 reporters a day; 95% of the records from the domain's 400
    sending IPs, 5% from addresses seen once (forwarders, spoofers); a TLS report per DMARC report."""
    import json as _json

    from mlv.db import make_engine, migrate
    from mlv.dmarc.extract import extract_reports
    from mlv.dmarc.store import store_reports

    engine = make_engine(url)
    migrate(engine)
    per_report = max(1, stored // 2000)
    today = int(time.time()) // DAY * DAY
    started = time.perf_counter()
    tls = _json.loads((ROOT / "tests/fixtures/dmarc/smtp_tls/rfc8460.json").read_bytes())
    for day in range(250):
        begin = today - (day + 1) * DAY
        batch = []
        for d in range(4):
            domain = f"domain{d}.example"
            for org in ("google.com", "Outlook.com"):
                xml = aggregate_xml(per_report, seed=day * 8 + d * 2 + len(org), org=org, domain=domain,
                                    report_id=f"{org}-{domain}-{day}", begin=begin, ip_pool=400, pool_seed=d,
                                    stray_rate=0.05)
                tls["report-id"], tls["organization-name"] = f"{org}-{domain}-{day}", org
                tls["date-range"] = {"start-datetime": time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(begin)),
                                     "end-datetime": time.strftime("%Y-%m-%dT23:59:59Z", time.gmtime(begin))}
                tls["policies"][0]["policy"]["policy-domain"] = domain
                for data in (gz(xml), _json.dumps(tls).encode()):
                    batch += [(report, None) for report in extract_reports(data).reports]
        store_reports(engine, batch)
    if engine.dialect.name == "postgresql":  # what autovacuum does soon after a bulk load
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return time.perf_counter() - started


def route_latency(url: str) -> list[tuple[str, float, float]]:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from mlv.api.dmarc import router
    from mlv.api.dmarc_deps import engine_dep, settings_dep
    from mlv.config import load_settings
    from mlv.db import make_engine

    engine = make_engine(url)
    app = FastAPI()
    app.include_router(router, prefix="/api")
    settings = load_settings(dmarc_rdns_enabled=False)
    app.dependency_overrides[engine_dep] = lambda: engine
    app.dependency_overrides[settings_dep] = lambda: settings
    out = []
    with TestClient(app) as client:
        for path in ("/api/dmarc/domains?days=30", "/api/dmarc/domains?days=365",
                     "/api/dmarc/domains/domain1.example/overview?days=30",
                     "/api/dmarc/domains/domain1.example/overview?days=365",
                     "/api/dmarc/domains/domain1.example/reports?days=30",
                     "/api/dmarc/domains/domain1.example/sources?days=30",
                     "/api/dmarc/domains/domain1.example/sources?days=365",
                     "/api/dmarc/domains/domain1.example/tls-reports/daily?days=30",
                     "/api/dmarc/domains/domain1.example/tls-reports/daily?days=365"):
            assert client.get(path).status_code == 200
            times = []
            for _ in range(20):
                started = time.perf_counter()
                client.get(path)
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            out.append((path, statistics.median(times), times[int(len(times) * 0.95) - 1]))
    engine.dispose()
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_mlv(sys.argv[2:])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args()
    pm_python, mmdb = parsedmarc_python()
    pm_version = subprocess.run([str(pm_python), "-c", "import parsedmarc; print(parsedmarc.__version__)"],
                                capture_output=True, text=True, check=True).stdout.strip()
    tmp = Path(tempfile.mkdtemp(prefix="mlv-bench-dmarc-"))
    big, small = make_files(tmp, args.records, args.small)
    pg = None
    if args.postgres:
        from tests.servers import PostgresServer

        pg = PostgresServer.start()
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    counter = 0
    for _run_index in range(args.runs):
        for label, files in (("large", big), ("small", small)):
            results.setdefault((label, "parsedmarc"), []).append(
                _run([str(pm_python), "-c", PARSEDMARC_CHILD, str(mmdb), *files]))
            for mode, backend in (("store", "sqlite"), ("parse", "sqlite"), ("store", "postgres")):
                if backend == "postgres" and pg is None:
                    continue
                counter += 1
                url = (pg.create_database(f"bench{counter}") if backend == "postgres"  # type: ignore[union-attr]
                       else f"sqlite:///{tmp}/run{counter}.db")
                results.setdefault((label, f"{mode}-{backend}"), []).append(
                    _run([sys.executable, __file__, "--child", mode, url, str(mmdb), *files]))
    rows = ["| input | tool | records | wall, median | records/s (wall) | CPU, median | records/s (CPU) | peak RSS |",
            "|---|---|---|---|---|---|---|---|"]
    names = {"parsedmarc": f"parsedmarc {pm_version}: parse", "store-sqlite": "mlv: parse + GeoIP + store, SQLite",
             "parse-sqlite": "mlv: parse only", "store-postgres": "mlv: parse + GeoIP + store, PostgreSQL"}
    speed: dict[tuple[str, str], float] = {}
    cpu_speed: dict[tuple[str, str], float] = {}
    for (label, tool), runs in results.items():
        wall = statistics.median(r["wall"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        n = runs[0]["records"]
        speed[(label, tool)] = n / wall
        cpu_speed[(label, tool)] = n / cpu
        what = f"1 report, {n:,} records (.xml.gz)" if label == "large" else f"{len(small)} reports, {n:,} records"
        rows.append(f"| {what} | {names[tool]} | {n:,} | {wall:.2f} s | {n / wall:,.0f} | {cpu:.2f} s | "
                    f"{n / cpu:,.0f} | {max(r['rss_mb'] for r in runs):.0f} MB |")
    rows.append("")
    for label in ("large", "small"):
        ratio = speed[(label, "store-sqlite")] / speed[(label, "parsedmarc")]
        cpu_ratio = cpu_speed[(label, "store-sqlite")] / cpu_speed[(label, "parsedmarc")]
        rows.append(f"- {label}: mlv (parse + store, SQLite) does **{ratio:.1f}×** parsedmarc's records/s in wall "
                    f"time, **{cpu_ratio:.1f}×** in CPU time (medians)")
    rows.append("")
    print("\n".join(rows))
    tail = len(rows)
    databases = [("SQLite", f"sqlite:///{tmp}/million.db")]
    if pg is not None:
        databases.append(("PostgreSQL", pg.create_database("million")))
    latency: dict[str, list[tuple[str, float, float]]] = {}
    fills: dict[str, float] = {}
    for name, url in databases if args.stored else []:
        fills[name] = fill_million(url, args.stored)
        latency[name] = route_latency(url)
    if latency:
        rows += [f"Route latency with {args.stored:,} stored records (4 domains x 250 days x 2 reporters; 95% of the "
                 "records from the domain's 400 sending IPs, 5% from addresses seen once: ~50,000 distinct source "
                 "IPs; 2,000 TLS reports), stored in " + ", ".join(f"{t:.0f} s ({n})" for n, t in fills.items())
                 + "; median and p95 of 20 requests through FastAPI's test client:", "",
                 "| route | " + " | ".join(f"{n} median | {n} p95" for n in latency) + " |",
                 "|---|" + "---|---|" * len(latency)]
        for i, (path, _m, _p) in enumerate(next(iter(latency.values()))):
            rows.append(f"| `GET {path}` | " + " | ".join(f"{lat[i][1]:.1f} ms | {lat[i][2]:.1f} ms"
                                                           for lat in latency.values()) + " |")
    rows += ["", f"Each figure of the first table is the median of {args.runs} interleaved runs, each file set in a "
             "fresh process; parsedmarc runs offline with the IPinfo-lite database it ships, which mlv reads too "
             "(reverse DNS off for both). Generated reports: ~440 bytes of XML per record, 5,000 source IPs in "
             "the large one; the small ones (20 records each, from 7 reporters over 30 days) draw their source IPs "
             "from one pool of 300 senders. parsedmarc only parses (it stores nothing); mlv's parse-only rows "
             "compare like with like. PostgreSQL tables are ANALYZEd after the 1M-record load, as autovacuum "
             "would."]
    print("\n".join(rows[tail:]))
    if not args.no_write:
        write_section("DMARC reports", rows, machine=f"{platform.machine()}, {os.cpu_count()} cores (shared), "
                                                    f"Python {platform.python_version()}")
    if pg is not None:
        pg.stop()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

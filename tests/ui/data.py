"""Test data for the UI: a running mailcow emulator (recent traffic, plus one message whose subject
holds markup and script) and a database filled from it by the real fetch job."""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass
from pathlib import Path

from mlv.db import make_engine, migrate
from mlv.mailcow import traffic
from mlv.mailcow.client import MailcowClient
from mlv.mailcow.emulator import Emulator, EmulatorHandle, start_emulator_thread

EVIL_SUBJECT = '<img src=x onerror="window.__xss=1">Invoice <script>window.__xss=2</script><b>bold</b> & co'
EVIL_SENDER_HINT = "xss-probe"
COUNTS = {"postfix": 20000, "rspamd": 5000, "netfilter": 5000, "dovecot": 20000}


@dataclass
class DemoServer:
    emulator: Emulator
    handle: EmulatorHandle
    db_path: Path

    @property
    def url(self) -> str:
        return self.handle.url

    @property
    def api_key(self) -> str:
        return self.emulator.api_key


def inject_subject(emulator: Emulator, subject: str) -> None:
    """An inbound message with `subject`, played through the emulator's Postfix and Rspamd."""
    with emulator.lock:
        g = emulator.gen
        msg = traffic._inbound_msg(g, "inbound", ["alice@example.org"], subject=subject)
        g.spawn(traffic.smtpd_session(g, msg), 1.0)


def fetch_into(db_url: str, emulator_url: str, api_key: str) -> None:
    """One run of the real import (as the fetch job does it)."""
    from mlv.ingest.fetcher import run_fetch

    engine = make_engine(db_url)
    migrate(engine)
    try:
        with MailcowClient(emulator_url, api_key, timeout=30) as client:
            run_fetch(engine, client, counts=COUNTS)
    finally:
        engine.dispose()


def start_demo(tmp: Path, *, hours: float = 1.5, rate: float = 8.0, seed: int = 5) -> DemoServer:
    """Emulator with `hours` of traffic up to now (wall clock) and the evil subject; the database filled."""
    now = time.time()
    em = Emulator(seed=seed, rate=rate, start=now - 120, backfill_seconds=hours * 3600, live=False)
    inject_subject(em, EVIL_SUBJECT)
    em.advance_to(now)
    handle = start_emulator_thread(em)
    db_path = tmp / "mlv.db"
    fetch_into(f"sqlite:///{db_path}", handle.url, em.api_key)
    return DemoServer(em, handle, db_path)


AGGREGATE_XML = """<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata><org_name>{org}</org_name><email>noreply-dmarc@{org}</email>
    <report_id>{report_id}</report_id><date_range><begin>{begin}</begin><end>{end}</end></date_range>
  </report_metadata>
  <policy_published><domain>example.org</domain><adkim>r</adkim><aspf>r</aspf><p>reject</p><sp>reject</sp>
    <pct>100</pct></policy_published>
  <record><row><source_ip>203.0.113.7</source_ip><count>{n_pass}</count>
    <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>
    <identifiers><header_from>example.org</header_from></identifiers>
    <auth_results><dkim><domain>example.org</domain><result>pass</result><selector>dkim</selector></dkim>
      <spf><domain>example.org</domain><result>pass</result></spf></auth_results></record>
  <record><row><source_ip>198.51.100.23</source_ip><count>{n_fail}</count>
    <policy_evaluated><disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
    <identifiers><header_from>example.org</header_from></identifiers>
    <auth_results><spf><domain>{org_subject}</domain><result>fail</result></spf></auth_results></record>
</feedback>
"""


def aggregate_report(*, org: str = "google.com", report_id: str = "r-1", days_ago: int = 1, n_pass: int = 40,
                     n_fail: int = 3, org_subject: str = "spoofer.example", gz: bool = False) -> bytes:
    end = int(time.time()) // 86400 * 86400 - (days_ago - 1) * 86400
    xml = AGGREGATE_XML.format(org=org, report_id=report_id, begin=end - 86400, end=end - 1, n_pass=n_pass,
                               n_fail=n_fail, org_subject=org_subject).encode()
    return gzip.compress(xml) if gz else xml


def tls_report(*, org: str = "Google Inc.", report_id: str = "tls-1", days_ago: int = 1, ok: int = 1200,
               failed: int = 3) -> bytes:
    """An SMTP TLS report (RFC 8460 JSON) about example.org."""
    import json
    from datetime import UTC, datetime

    end = int(time.time()) // 86400 * 86400 - (days_ago - 1) * 86400

    def stamp(ts: int) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    report = {"organization-name": org, "date-range": {"start-datetime": stamp(end - 86400),
                                                       "end-datetime": stamp(end - 1)},
              "contact-info": "smtp-tls-reporting@example.com", "report-id": report_id,
              "policies": [{"policy": {"policy-type": "sts", "policy-domain": "example.org",
                                       "mx-host": ["mail.example.org"]},
                            "summary": {"total-successful-session-count": ok, "total-failure-session-count": failed},
                            "failure-details": [{"result-type": "certificate-expired", "sending-mta-ip": "192.0.2.9",
                                                 "receiving-mx-hostname": "mail.example.org",
                                                 "failed-session-count": failed}]}]}
    return json.dumps(report).encode()

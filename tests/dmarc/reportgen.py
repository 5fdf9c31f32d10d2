"""Generated DMARC reports and report e-mails for the tests and bench/dmarc.py (seeded, repeatable)."""

from __future__ import annotations

import gzip
import io
import random
import zipfile
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

DAY = 86400
BEGIN = 1718236800  # 2024-06-13 00:00 UTC


def _ip(rnd: random.Random, v6: bool) -> str:
    if v6:
        return f"2001:db8:{rnd.randrange(65536):x}::{rnd.randrange(1, 65536):x}"
    return f"{rnd.randrange(1, 224)}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"


def aggregate_xml(records: int, *, seed: int = 1, org: str = "google.com", report_id: str = "gen-1",
                  domain: str = "example.com", begin: int = BEGIN, end: int | None = None, ip_pool: int = 5000,
                  namespace: str | None = None, fail_rate: float = 0.15, max_count: int = 40,
                  pool_seed: int | None = None, stray_rate: float = 0.0) -> bytes:
    """An aggregate report with `records` records, about 440 bytes of XML each.

    Fewer distinct IPs, failures and counts make it compress better (real big reports: ~65:1).
    Reports with the same `pool_seed` draw their source IPs from the same pool of `ip_pool` addresses;
    a `stray_rate` share of the records come from addresses seen nowhere else (forwarders, spoofers)."""
    rnd = random.Random(seed)
    pool_rnd = rnd if pool_seed is None else random.Random(pool_seed)  # a shared pool: the same senders
    size = ip_pool if pool_seed is not None else min(ip_pool, max(records, 1))
    pool = [_ip(pool_rnd, i % 10 == 9) for i in range(size)]
    end = begin + DAY - 1 if end is None else end
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    out = [f'<?xml version="1.0" encoding="UTF-8" ?>\n<feedback{xmlns}>\n<version>1.0</version>\n<report_metadata>\n'
           f"<org_name>{org}</org_name>\n<email>noreply-dmarc-support@{org}</email>\n"
           f"<report_id>{report_id}</report_id>\n<date_range>\n<begin>{begin}</begin>\n<end>{end}</end>\n"
           f"</date_range>\n</report_metadata>\n<policy_published>\n<domain>{domain}</domain>\n<adkim>r</adkim>\n"
           "<aspf>r</aspf>\n<p>reject</p>\n<sp>reject</sp>\n<pct>100</pct>\n</policy_published>\n"]
    for _ in range(records):
        ip = _ip(rnd, False) if stray_rate and rnd.random() < stray_rate else rnd.choice(pool)
        dkim = "pass" if rnd.random() >= fail_rate else "fail"
        spf = "pass" if rnd.random() >= fail_rate * 1.5 else "fail"
        disposition = "none" if dkim == "pass" or spf == "pass" else "reject"
        out.append(
            f"<record>\n<row>\n<source_ip>{ip}</source_ip>\n<count>{rnd.randrange(1, max_count + 1)}</count>\n"
            f"<policy_evaluated>\n<disposition>{disposition}</disposition>\n<dkim>{dkim}</dkim>\n<spf>{spf}</spf>\n"
            f"</policy_evaluated>\n</row>\n<identifiers>\n<header_from>{domain}</header_from>\n</identifiers>\n"
            f"<auth_results>\n<dkim>\n<domain>{domain}</domain>\n<result>{dkim}</result>\n<selector>s1</selector>\n"
            f"</dkim>\n<spf>\n<domain>{domain}</domain>\n<result>{spf}</result>\n</spf>\n</auth_results>\n</record>\n")
    out.append("</feedback>\n")
    return "".join(out).encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, 6, mtime=0)


def zipped(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buf.getvalue()


def report_email(attachment: bytes | None, *, filename: str = "report.xml.gz", content_type: str = "application/gzip",
                 subject: str = "Report domain: example.com Submitter: google.com", body: str = "A DMARC report.",
                 sender: str = "noreply-dmarc-support@google.com", to: str = "dmarc@example.test") -> bytes:
    """A report mail as a receiver sends it: a text part and the report attached (base64)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(BEGIN + DAY)
    msg["Message-ID"] = make_msgid(domain="google.com")
    msg.set_content(body)
    if attachment is not None:
        maintype, subtype = content_type.split("/", 1)
        msg.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()

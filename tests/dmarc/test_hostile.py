"""Hostile inputs are refused quickly and within memory; big real-sized reports are accepted."""

from __future__ import annotations

import bz2
import gzip
import io
import time
import zipfile

import pytest

from mlv.dmarc.extract import extract_reports
from mlv.dmarc.limits import Limits
from mlv.dmarc.types import AggregateReport, InputTooLarge, ReportError, ReportTooLarge
from tests.dmarc.reportgen import aggregate_xml, gz, report_email, zipped

SMALL = aggregate_xml(3, report_id="small")


def _bomb(size: int) -> bytes:
    return gzip.compress(b"<feedback>" + b" " * size, 9)


def test_gzip_bomb_refused_by_ratio_before_inflating() -> None:
    bomb = _bomb(200 * 1024 * 1024)  # 200 MB of spaces, ~200 KB compressed
    started = time.monotonic()
    with pytest.raises(ReportTooLarge, match=r"ratio over 200:1|decompressed size"):
        extract_reports(bomb, filename="bomb.xml.gz")
    assert time.monotonic() - started < 5


def test_decompressed_size_limit_is_configurable() -> None:
    data = gz(aggregate_xml(3000, report_id="sized"))  # ~1.3 MB of XML
    with pytest.raises(ReportTooLarge, match="decompressed size exceeds the limit of 1,000,000 bytes"):
        extract_reports(data, limits=Limits(max_decompressed_bytes=1_000_000))
    assert extract_reports(data).reports[0].records


def test_zip_bomb_member_refused() -> None:
    archive = zipped("report.xml", b"<feedback>" + b"\x00" * (100 * 1024 * 1024))
    with pytest.raises(ReportTooLarge, match="ratio"):
        extract_reports(archive, filename="bomb.zip")


def test_zip_with_ten_thousand_members_refused_before_reading() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        for index in range(10_000):
            archive.writestr(f"r{index}.xml", b"")
    started = time.monotonic()
    with pytest.raises(ReportTooLarge, match="10,000 members"):
        extract_reports(buf.getvalue(), filename="many.zip")
    assert time.monotonic() - started < 1


def test_concatenated_gzip_members_are_bounded() -> None:
    data = b"".join(gzip.compress(b"x") for _ in range(100))
    with pytest.raises(ReportTooLarge, match="concatenated streams"):
        extract_reports(data)


def test_nested_containers_are_bounded() -> None:
    data = SMALL
    for _ in range(8):
        data = gz(data)
    with pytest.raises(ReportError, match="nested more than 4 levels"):
        extract_reports(data)
    assert extract_reports(gz(zipped("r.xml", gz(SMALL)))).reports  # three levels are fine


def test_billion_laughs_refused() -> None:
    xml = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
           b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]><feedback><report_metadata><org_name>&lol3;'
           b"</org_name></report_metadata></feedback>")
    with pytest.raises(ReportError, match="entities are not allowed"):
        extract_reports(xml)


def test_external_entity_refused_and_file_not_read() -> None:
    xml = (b'<?xml version="1.0"?><!DOCTYPE feedback [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
           b"<feedback><report_metadata><org_name>&xxe;</org_name></report_metadata></feedback>")
    with pytest.raises(ReportError) as info:
        extract_reports(xml)
    assert "root:" not in str(info.value) and "not allowed" in str(info.value)


def test_external_dtd_refused() -> None:
    xml = b'<?xml version="1.0"?><!DOCTYPE feedback SYSTEM "http://127.0.0.1:9/x.dtd"><feedback/>'
    with pytest.raises(ReportError, match="not allowed"):
        extract_reports(xml)


def test_entity_after_repair_still_refused() -> None:
    # junk before the declaration makes the first parse fail; the repaired text is checked again
    xml = (b'garbage<?xml version="1.0"?><!DOCTYPE f [<!ENTITY a "b">]><feedback>&a;</feedback>')
    with pytest.raises(ReportError, match="not allowed"):
        extract_reports(xml)


def test_deep_nesting_refused() -> None:
    xml = b"<feedback>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</feedback>"
    with pytest.raises(ReportError, match="nested more than 32 levels"):
        extract_reports(xml)


def test_deeply_nested_json_refused() -> None:
    with pytest.raises(ReportError, match=r"nested too deeply|not a TLS-RPT"):
        extract_reports(b"[" * 200_000 + b"]" * 200_000)


def test_oversized_file_refused_unread() -> None:
    with pytest.raises(InputTooLarge, match="the limit is 10,485,760 bytes"):
        extract_reports(b"<feedback>" + b" " * (11 * 1024 * 1024))
    with pytest.raises(InputTooLarge, match="the limit is 2,048 bytes"):
        extract_reports(gz(SMALL) + b"\0" * 4096, limits=Limits(max_file_bytes=2048))


def test_mime_bomb_many_parts_bounded() -> None:
    parts = "".join(f"--b\r\nContent-Type: application/octet-stream\r\n\r\nnothing {i}\r\n" for i in range(1000))
    mail = (f"From: a@b.example\r\nTo: c@d.example\r\nSubject: many\r\nContent-Type: multipart/mixed; "
            f'boundary="b"\r\n\r\n{parts}--b--\r\n').encode()
    with pytest.raises(ReportError, match="more than 200 MIME parts"):
        extract_reports(mail)


def test_bzip2_and_base64_wrapped_reports_accepted() -> None:
    assert extract_reports(bz2.compress(SMALL)).reports[0].report_id == "small"
    import base64

    assert extract_reports(base64.encodebytes(gz(SMALL))).reports[0].report_id == "small"


@pytest.mark.slow
def test_hundred_thousand_record_report_accepted() -> None:
    """~45 MB of XML gzipped more than 65:1, as the biggest real senders produce."""
    xml = aggregate_xml(100_000, report_id="big", ip_pool=30, fail_rate=0.02, max_count=3)
    data = gz(xml)
    assert len(xml) > 40_000_000 and len(xml) / len(data) > 65
    email = report_email(data, filename="google.com!example.com!1718236800!1718323199.xml.gz")
    for blob in (data, email):
        report = extract_reports(blob).reports[0]
        assert isinstance(report, AggregateReport) and len(report.records) == 100_000


def test_zip_member_in_a_method_zipfile_cannot_read_is_skipped_with_a_reason() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("deflate64.xml", SMALL)
        archive.writestr("plain.xml", SMALL.replace(b"small", b"plain"))
    data = bytearray(buf.getvalue())
    # method 9 (Deflate64) in the first member's local header and in its central directory entry
    data[8:10] = (9).to_bytes(2, "little")
    central = data.index(b"PK\x01\x02")
    data[central + 10:central + 12] = (9).to_bytes(2, "little")
    found = extract_reports(bytes(data), filename="mixed.zip")
    assert [r.report_id for r in found.reports] == ["plain"]
    notes = found.reports[0].repairs  # what happened to the input travels with the reports found in it
    assert any("deflate64.xml" in n and "compression method 9 is not supported" in n for n in notes), notes

"""DMARC aggregate and failure reports, TLS reports, source IP enrichment, IMAP sync history.

Times are Unix seconds (UTC). ``day`` columns hold the UTC midnight of the day a report is
counted on (the middle of its date range). The dashboards read rollups kept up to date in the same
transaction as each report's records: ``dmarc_daily`` (domain, day), ``dmarc_daily_source``
(domain, day, source IP), ``dmarc_monthly_source`` (domain, month, source IP) and
``dmarc_domain_source`` (domain, source IP: first and last day).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from mlv.models.types import BIG_ID

_ID = BIG_ID


def _id() -> Column:  # type: ignore[type-arg]
    return Column(_ID, primary_key=True, autoincrement=True)


def _big(nullable: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(BigInteger, nullable=nullable)


def _text(nullable: bool = True) -> Column:  # type: ignore[type-arg]
    return Column(Text, nullable=nullable)


def _str(length: int, nullable: bool = True) -> Column:  # type: ignore[type-arg]
    return Column(String(length), nullable=nullable)


class DmarcReport(SQLModel, table=True):
    __tablename__ = "dmarc_report"
    __table_args__ = (
        Index("ux_dmarc_report_org_report", "org_name", "report_id", unique=True),
        Index("ix_dmarc_report_domain_day", "domain", "day"),
    )

    id: int | None = Field(default=None, sa_column=_id())
    org_name: str = Field(sa_column=_text(False))
    report_id: str = Field(sa_column=_text(False))
    email: str | None = Field(default=None, sa_column=_text())
    extra_contact_info: str | None = Field(default=None, sa_column=_text())
    domain: str = Field(sa_column=_text(False))
    date_begin: int = Field(sa_column=_big())
    date_end: int = Field(sa_column=_big())
    day: int = Field(sa_column=_big())
    version: str | None = Field(default=None, sa_column=_str(16))
    generator: str | None = Field(default=None, sa_column=_text())
    policy_adkim: str | None = Field(default=None, sa_column=_str(8))
    policy_aspf: str | None = Field(default=None, sa_column=_str(8))
    policy_p: str | None = Field(default=None, sa_column=_str(16))
    policy_sp: str | None = Field(default=None, sa_column=_str(16))
    policy_np: str | None = Field(default=None, sa_column=_str(16))
    policy_pct: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    policy_fo: str | None = Field(default=None, sa_column=_str(16))
    policy_testing: str | None = Field(default=None, sa_column=_str(8))
    policy_discovery: str | None = Field(default=None, sa_column=_str(16))
    record_count: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    message_count: int = Field(default=0, sa_column=_big())
    errors: str | None = Field(default=None, sa_column=_text())     # JSON list of the reporter's <error>s
    repairs: str | None = Field(default=None, sa_column=_text())    # JSON list
    source: str = Field(default="upload", sa_column=_str(16, False))
    file_name: str | None = Field(default=None, sa_column=_text())
    received_at: int = Field(sa_column=_big())


class DmarcRecord(SQLModel, table=True):
    """One <record> of a report, keyed by (report, position): one B-tree to write on SQLite."""

    __tablename__ = "dmarc_record"
    __table_args__ = {"sqlite_with_rowid": False}

    report_ref: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    seq: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    domain: str = Field(sa_column=_text(False))
    day: int = Field(sa_column=_big())
    source_ip: str = Field(sa_column=_str(45, False))
    count: int = Field(sa_column=_big())
    disposition: str = Field(sa_column=_str(32, False))
    dkim: str = Field(sa_column=_str(32, False))   # policy_evaluated (aligned) DKIM result
    spf: str = Field(sa_column=_str(32, False))    # policy_evaluated (aligned) SPF result
    dmarc_pass: bool = Field(sa_column=Column(Boolean, nullable=False))
    header_from: str | None = Field(default=None, sa_column=_text())
    envelope_from: str | None = Field(default=None, sa_column=_text())
    envelope_to: str | None = Field(default=None, sa_column=_text())
    reasons: str | None = Field(default=None, sa_column=_text())       # JSON [{type, comment}]
    # auth_results: the first DKIM and SPF result as columns; all of them as JSON when there are more
    dkim_domain: str | None = Field(default=None, sa_column=_text())
    dkim_selector: str | None = Field(default=None, sa_column=_text())
    dkim_result: str | None = Field(default=None, sa_column=_str(32))
    spf_domain: str | None = Field(default=None, sa_column=_text())
    spf_scope: str | None = Field(default=None, sa_column=_str(32))
    spf_result: str | None = Field(default=None, sa_column=_str(32))
    auth_results: str | None = Field(default=None, sa_column=_text())  # JSON {dkim: [...], spf: [...]}


class DmarcDailySource(SQLModel, table=True):
    __tablename__ = "dmarc_daily_source"
    __table_args__ = {"sqlite_with_rowid": False}  # rows live in primary key order: one B-tree to write

    domain: str = Field(sa_column=Column(Text, primary_key=True))
    day: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    source_ip: str = Field(sa_column=Column(String(45), primary_key=True))
    messages: int = Field(sa_column=_big())
    dmarc_pass: int = Field(sa_column=_big())
    spf_pass: int = Field(sa_column=_big())
    dkim_pass: int = Field(sa_column=_big())
    first_seen: int = Field(sa_column=_big())
    last_seen: int = Field(sa_column=_big())


class DmarcDaily(SQLModel, table=True):
    """Messages and passes per (domain, day): totals and daily charts read a few hundred rows."""

    __tablename__ = "dmarc_daily"
    __table_args__ = (Index("ix_dmarc_daily_day", "day"), {"sqlite_with_rowid": False})

    domain: str = Field(sa_column=Column(Text, primary_key=True))
    day: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    messages: int = Field(sa_column=_big())
    dmarc_pass: int = Field(sa_column=_big())
    spf_pass: int = Field(sa_column=_big())
    dkim_pass: int = Field(sa_column=_big())


class DmarcMonthlySource(SQLModel, table=True):
    """dmarc_daily_source summed per calendar month (UTC): long windows of the sources list."""

    __tablename__ = "dmarc_monthly_source"
    __table_args__ = {"sqlite_with_rowid": False}

    domain: str = Field(sa_column=Column(Text, primary_key=True))
    month: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    source_ip: str = Field(sa_column=Column(String(45), primary_key=True))
    messages: int = Field(sa_column=_big())
    dmarc_pass: int = Field(sa_column=_big())
    spf_pass: int = Field(sa_column=_big())
    dkim_pass: int = Field(sa_column=_big())
    first_seen: int = Field(sa_column=_big())
    last_seen: int = Field(sa_column=_big())


class DmarcDomainSource(SQLModel, table=True):
    """Each (domain, source IP) with its first and last day: "unique IPs in the last N days" is a range count."""

    __tablename__ = "dmarc_domain_source"
    __table_args__ = (Index("ix_dmarc_domain_source_last", "domain", "last_day"),
                      Index("ix_dmarc_domain_source_last_day", "last_day"), {"sqlite_with_rowid": False})

    domain: str = Field(sa_column=Column(Text, primary_key=True))
    source_ip: str = Field(sa_column=Column(String(45), primary_key=True))
    first_day: int = Field(sa_column=_big())
    last_day: int = Field(sa_column=_big())


class DmarcIp(SQLModel, table=True):
    """GeoIP and reverse DNS of each source IP, looked up once and refreshed by the jobs."""

    __tablename__ = "dmarc_ip"

    ip: str = Field(sa_column=Column(String(45), primary_key=True))
    country_code: str | None = Field(default=None, sa_column=_str(2))
    country_name: str | None = Field(default=None, sa_column=_text())
    city: str | None = Field(default=None, sa_column=_text())
    asn: str | None = Field(default=None, sa_column=_str(16))
    asn_org: str | None = Field(default=None, sa_column=_text())
    hostname: str | None = Field(default=None, sa_column=_text())
    geo_checked_at: int | None = Field(default=None, sa_column=_big(True))
    ptr_checked_at: int | None = Field(default=None, sa_column=_big(True))


class DmarcFailure(SQLModel, table=True):
    __tablename__ = "dmarc_failure"
    __table_args__ = (
        Index("ux_dmarc_failure_fingerprint", "fingerprint", unique=True),
        Index("ix_dmarc_failure_domain_arrival", "domain", "arrival_date"),
    )

    id: int | None = Field(default=None, sa_column=_id())
    fingerprint: str = Field(sa_column=_str(64, False))
    domain: str = Field(sa_column=_text(False))
    arrival_date: int = Field(sa_column=_big())
    feedback_type: str | None = Field(default=None, sa_column=_text())
    reporter: str | None = Field(default=None, sa_column=_text())
    source_ip: str | None = Field(default=None, sa_column=_str(45))
    auth_failure: str | None = Field(default=None, sa_column=_text())
    delivery_result: str | None = Field(default=None, sa_column=_text())
    original_mail_from: str | None = Field(default=None, sa_column=_text())
    original_rcpt_to: str | None = Field(default=None, sa_column=_text())
    authentication_results: str | None = Field(default=None, sa_column=_text())
    dkim_domain: str | None = Field(default=None, sa_column=_text())
    dkim_selector: str | None = Field(default=None, sa_column=_text())
    dkim_identity: str | None = Field(default=None, sa_column=_text())
    spf_dns: str | None = Field(default=None, sa_column=_text())
    message_id: str | None = Field(default=None, sa_column=_text())
    subject: str | None = Field(default=None, sa_column=_text())
    header_from: str | None = Field(default=None, sa_column=_text())
    sample_headers: str | None = Field(default=None, sa_column=_text())
    repairs: str | None = Field(default=None, sa_column=_text())
    source: str = Field(default="upload", sa_column=_str(16, False))
    received_at: int = Field(sa_column=_big())


class TlsRptReport(SQLModel, table=True):
    __tablename__ = "tls_report"
    __table_args__ = (Index("ux_tls_report_org_report", "organization_name", "report_id", unique=True),)

    id: int | None = Field(default=None, sa_column=_id())
    organization_name: str = Field(sa_column=_text(False))
    report_id: str = Field(sa_column=_text(False))
    contact_info: str | None = Field(default=None, sa_column=_text())
    start_datetime: int = Field(sa_column=_big())
    end_datetime: int = Field(sa_column=_big())
    day: int = Field(sa_column=_big())
    total_success: int = Field(sa_column=_big())
    total_fail: int = Field(sa_column=_big())
    repairs: str | None = Field(default=None, sa_column=_text())
    source: str = Field(default="upload", sa_column=_str(16, False))
    file_name: str | None = Field(default=None, sa_column=_text())
    received_at: int = Field(sa_column=_big())


class TlsRptPolicy(SQLModel, table=True):
    __tablename__ = "tls_report_policy"
    __table_args__ = (
        Index("ix_tls_report_policy_report", "report_ref"),
        Index("ix_tls_report_policy_domain_day", "domain", "day"),
    )

    id: int | None = Field(default=None, sa_column=_id())
    report_ref: int = Field(sa_column=_big())
    domain: str = Field(sa_column=_text(False))
    day: int = Field(sa_column=_big())
    policy_type: str = Field(sa_column=_str(32, False))
    policy_strings: str | None = Field(default=None, sa_column=_text())   # JSON list
    mx_host: str | None = Field(default=None, sa_column=_text())          # comma-separated
    successful_sessions: int = Field(sa_column=_big())
    failed_sessions: int = Field(sa_column=_big())
    failure_details: str | None = Field(default=None, sa_column=_text())  # JSON list


class DmarcSync(SQLModel, table=True):
    """One IMAP sync run (auto or manual), kept across restarts."""

    __tablename__ = "dmarc_sync"

    id: int | None = Field(default=None, sa_column=_id())
    sync_type: str = Field(sa_column=_str(8, False))
    status: str = Field(sa_column=_str(16, False))
    started_at: float = Field(sa_column=Column(Float, nullable=False))
    completed_at: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    emails_found: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    emails_processed: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    reports_created: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    reports_duplicate: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    reports_failed: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    error_message: str | None = Field(default=None, sa_column=_text())
    failed_emails: str | None = Field(default=None, sa_column=_text())   # JSON list

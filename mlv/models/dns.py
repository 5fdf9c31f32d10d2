"""Cached results of the domain DNS checks, and when the last full check of all domains ran."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Integer, SmallInteger, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

JSONDoc = JSON().with_variant(JSONB(), "postgresql")


class DomainDnsCheck(SQLModel, table=True):
    """One row per domain: the latest result of each check (upserted on every check of the domain)."""

    __tablename__ = "domain_dns_check"
    __table_args__ = (Index("ix_domain_dns_check_checked_at", "checked_at"),)

    server_id: int = Field(default=1, sa_column=Column(SmallInteger, primary_key=True, default=1))
    domain_name: str = Field(sa_column=Column(String(255), primary_key=True))
    spf_check: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))
    dkim_check: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))
    dmarc_check: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))
    # mx, reverse_dns, mta_sts, tls_rpt, bimi: one document, the card shows them together
    extra_checks: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))
    checked_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    is_full_check: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, default=False))


class DnsCheckRun(SQLModel, table=True):
    """The last full check of all active domains (scheduled or "check all"): the API's last_dns_check."""

    __tablename__ = "dns_check_run"

    server_id: int = Field(default=1, sa_column=Column(SmallInteger, primary_key=True, default=1))
    last_dns_check: int = Field(sa_column=Column(BigInteger, nullable=False))
    domains_checked: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    errors: list[str] = Field(default_factory=list, sa_column=Column(JSONDoc, nullable=False))

"""What the parsers return: plain dataclasses, names as in RFC 7489 / RFC 9990 / RFC 8460 / RFC 6591."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ReportError(ValueError):
    """A report that cannot be used; the message is the reason shown to people (HTTP 400)."""


class ReportTooLarge(ReportError):
    """A size, ratio or member limit was crossed (decompression bombs, huge archives)."""


class InputTooLarge(ReportTooLarge):
    """The file or e-mail itself is over its size limit (HTTP 413)."""


@dataclass(slots=True)
class AggregateRecord:
    source_ip: str
    count: int
    disposition: str            # none | quarantine | reject (as applied by the receiver)
    dkim: str                   # policy_evaluated: aligned DKIM result (pass | fail)
    spf: str                    # policy_evaluated: aligned SPF result (pass | fail)
    header_from: str | None
    envelope_from: str | None = None
    envelope_to: str | None = None
    reasons: list[dict[str, str | None]] | None = None     # policy overrides: type, comment
    dkim_results: list[dict[str, str | None]] | None = None  # auth_results/dkim: domain, selector, result
    spf_results: list[dict[str, str | None]] | None = None   # auth_results/spf: domain, scope, result

    @property
    def dmarc_pass(self) -> bool:
        """RFC 7489 §6.6.2: DMARC passes when aligned SPF or aligned DKIM passes."""
        return self.dkim == "pass" or self.spf == "pass"


@dataclass(slots=True)
class PolicyPublished:
    domain: str
    adkim: str | None = None
    aspf: str | None = None
    p: str | None = None
    sp: str | None = None
    np: str | None = None
    pct: int | None = None
    fo: str | None = None
    testing: str | None = None
    discovery_method: str | None = None


@dataclass(slots=True)
class AggregateReport:
    org_name: str
    email: str | None
    report_id: str
    date_begin: int
    date_end: int
    policy: PolicyPublished
    records: list[AggregateRecord]
    extra_contact_info: str | None = None
    version: str | None = None
    generator: str | None = None
    errors: list[str] = field(default_factory=list)    # <error> elements the reporter sent
    repairs: list[str] = field(default_factory=list)
    kind: str = "aggregate"

    @property
    def domain(self) -> str:
        return self.policy.domain


@dataclass(slots=True)
class TlsPolicy:
    policy_type: str
    policy_domain: str
    policy_strings: list[str]
    mx_hosts: list[str]
    successful_sessions: int
    failed_sessions: int
    failure_details: list[dict[str, Any]]


@dataclass(slots=True)
class TlsReport:
    organization_name: str
    report_id: str
    contact_info: str | None
    start_datetime: int
    end_datetime: int
    policies: list[TlsPolicy]
    repairs: list[str] = field(default_factory=list)
    kind: str = "tlsrpt"

    @property
    def domains(self) -> list[str]:
        return sorted({p.policy_domain for p in self.policies})


@dataclass(slots=True)
class FailureReport:
    fingerprint: str            # sha256 of the feedback report and the sample's headers
    domain: str                 # Reported-Domain, else the sample's From domain
    arrival_date: int
    feedback_type: str | None = None
    reporter: str | None = None
    source_ip: str | None = None
    auth_failure: str | None = None
    delivery_result: str | None = None
    original_mail_from: str | None = None
    original_rcpt_to: str | None = None
    authentication_results: str | None = None
    dkim_domain: str | None = None
    dkim_selector: str | None = None
    dkim_identity: str | None = None
    spf_dns: str | None = None
    message_id: str | None = None
    subject: str | None = None
    header_from: str | None = None
    sample_headers: str | None = None
    repairs: list[str] = field(default_factory=list)
    kind: str = "failure"


ParsedReport = AggregateReport | TlsReport | FailureReport


@dataclass(slots=True)
class Extraction:
    """Everything found in one input: the reports, and the parts that could not be used (with why)."""

    reports: list[ParsedReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

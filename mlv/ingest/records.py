"""Typed records produced by the pure parsers, one class per log source.

A parser turns one raw mailcow log item (a dict as the API returns it) into one of these,
or raises :class:`ParseError` when the item is malformed (it is then skipped and counted,
never allowed to abort a batch). A well-formed line that carries nothing we understand is
still a record (``kind="other"``): every line Postfix wrote is kept.

Conventions shared by all records:
- ``time`` is integer unix seconds (UTC).
- Message-IDs are stored bare, without the surrounding ``<>``; absent/empty -> ``None``.
- Addresses keep their case as logged; the empty envelope sender ``<>`` is ``""``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ParseError(ValueError):
    """A raw log item that cannot be turned into a record (wrong type, missing keys, bad time)."""


@dataclass(slots=True)
class PostfixRecord:
    time: int
    priority: str
    program: str
    message: str
    # What the line says, for the correlator. One of:
    # client, pickup, message_id, qmgr, delivery, expired, removed, reject, milter_reject,
    # bounce_notice, warning, connect, disconnect, postscreen, anvil, other
    kind: str = "other"
    queue_id: str | None = None
    noqueue: bool = False
    message_id: str | None = None
    sender: str | None = None
    recipient: str | None = None
    orig_to: str | None = None
    # sent | deferred | bounced | expired | rejected (rejects, milter-rejects) | None
    status: str | None = None
    relay: str | None = None
    delay: float | None = None
    delays: str | None = None
    dsn: str | None = None
    client_host: str | None = None
    client_ip: str | None = None
    client_port: int | None = None
    sasl_method: str | None = None
    sasl_user: str | None = None
    size: int | None = None
    nrcpt: int | None = None
    reject_stage: str | None = None  # RCPT, END-OF-MESSAGE, DATA, CONNECT, MAIL, ...
    reason: str | None = None  # the server/relay response text of a delivery or reject
    related_queue_id: str | None = None  # DSN queue id of a bounce notice, or "queued as" id
    helo: str | None = None
    # Everything else a line carries (TLS, postscreen, anvil, command counters, ...),
    # named after the postfix-grok-patterns fields without the "postfix_" prefix.
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class RspamdRecord:
    time: int
    message_id: str | None
    score: float
    required_score: float | None
    action: str
    is_spam: bool
    has_auth: bool
    symbols: dict[str, dict]
    ip: str | None = None
    user: str | None = None
    sender_smtp: str | None = None
    sender_mime: str | None = None
    rcpt_smtp: list[str] = field(default_factory=list)
    rcpt_mime: list[str] = field(default_factory=list)
    subject: str | None = None
    size: int | None = None
    is_skipped: bool = False
    time_real: float | None = None
    thresholds: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class NetfilterRecord:
    time: int
    priority: str
    message: str
    # warning (a matched rule or "N more attempts"), banned, unbanned, denylist, allowlist, info
    action: str = "info"
    ip: str | None = None
    network: str | None = None
    rule_id: int | None = None
    attempts_left: int | None = None
    ban_minutes: int | None = None
    username: str | None = None
    auth_method: str | None = None


@dataclass(slots=True)
class DovecotRecord:
    time: int
    priority: str
    program: str
    message: str
    # saved, discarded, redirected, rejected, vacation, login, auth_failed, disconnected, other
    kind: str = "other"
    user: str | None = None
    message_id: str | None = None
    mailbox: str | None = None  # folder a delivery was saved into
    target: str | None = None  # redirect/vacation target address
    ip: str | None = None
    method: str | None = None
    session: str | None = None

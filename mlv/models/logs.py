"""Raw log tables: one row per mailcow log item, parsed fields as columns.

Every table has a unique key (time, line_hash): line_hash is a signed 64-bit hash of the
server id, the whole raw item and its position among identical items of the same second,
so identical legitimate lines are kept and re-fetching the same window stores nothing twice.
The key starts with the time, which keeps inserts append-mostly (see bench/ingest.py).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, SmallInteger, Text
from sqlmodel import Field, SQLModel

from mlv.models.types import BIG_ID


class LogLine(SQLModel):
    """The columns every log table has (each table gets its own copies of them)."""

    id: int | None = Field(default=None, primary_key=True, sa_type=BIG_ID)
    server_id: int = Field(default=1, sa_type=SmallInteger, nullable=False, sa_column_kwargs={"default": 1})
    time: int = Field(sa_type=BigInteger, nullable=False)
    line_hash: int = Field(sa_type=BigInteger, nullable=False)


class PostfixLog(LogLine, table=True):
    __tablename__ = "postfix_log"
    __table_args__ = (
        Index("ux_postfix_log_time_hash", "time", "line_hash", unique=True),
        Index("ix_postfix_log_queue_id", "queue_id"),
    )

    priority: str = Field(max_length=16)
    program: str = Field(max_length=64)
    message: str = Field(sa_column=Column(Text, nullable=False))
    # True: the message is plain ASCII, so PostgreSQL's search may lower-case it the cheap way ("C"
    # collation); NULL: not known (rows stored before migration 0006).
    message_ascii: bool | None = Field(default=None, sa_column=Column(Boolean))
    kind: str = Field(max_length=16)
    queue_id: str | None = Field(default=None, max_length=24)
    message_id: str | None = Field(default=None, sa_column=Column(Text))
    sender: str | None = Field(default=None, sa_column=Column(Text))
    recipient: str | None = Field(default=None, sa_column=Column(Text))
    orig_to: str | None = Field(default=None, sa_column=Column(Text))
    status: str | None = Field(default=None, max_length=16)
    relay: str | None = Field(default=None, sa_column=Column(Text))
    delay: float | None = None
    delays: str | None = Field(default=None, max_length=64)
    dsn: str | None = Field(default=None, max_length=16)
    client_host: str | None = Field(default=None, sa_column=Column(Text))
    client_ip: str | None = Field(default=None, max_length=64)
    sasl_user: str | None = Field(default=None, sa_column=Column(Text))


class RspamdLog(LogLine, table=True):
    __tablename__ = "rspamd_log"
    __table_args__ = (
        Index("ux_rspamd_log_time_hash", "time", "line_hash", unique=True),
        Index("ix_rspamd_log_message_id", "message_id"),
    )

    message_id: str | None = Field(default=None, sa_column=Column(Text))
    score: float = 0.0
    required_score: float | None = None
    action: str = Field(max_length=32)
    is_spam: bool = False
    has_auth: bool = False
    direction: str | None = Field(default=None, max_length=16)
    ip: str | None = Field(default=None, max_length=64)
    user: str | None = Field(default=None, sa_column=Column(Text))
    sender_smtp: str | None = Field(default=None, sa_column=Column(Text))
    sender_mime: str | None = Field(default=None, sa_column=Column(Text))
    rcpt_smtp: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON array
    rcpt_mime: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON array
    subject: str | None = Field(default=None, sa_column=Column(Text))
    size: int | None = Field(default=None, sa_column=Column(BigInteger))
    symbols: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON object


class NetfilterLog(LogLine, table=True):
    __tablename__ = "netfilter_log"
    __table_args__ = (
        Index("ux_netfilter_log_time_hash", "time", "line_hash", unique=True),
        Index("ix_netfilter_log_ip", "ip"),
    )

    priority: str = Field(max_length=16)
    message: str = Field(sa_column=Column(Text, nullable=False))
    action: str = Field(max_length=16)
    ip: str | None = Field(default=None, max_length=64)
    network: str | None = Field(default=None, max_length=64)
    rule_id: int | None = None
    attempts_left: int | None = None
    username: str | None = Field(default=None, sa_column=Column(Text))
    auth_method: str | None = Field(default=None, max_length=32)


class DovecotLog(LogLine, table=True):
    __tablename__ = "dovecot_log"
    __table_args__ = (
        Index("ux_dovecot_log_time_hash", "time", "line_hash", unique=True),
        Index("ix_dovecot_log_message_id", "message_id"),
    )

    priority: str = Field(max_length=16)
    program: str = Field(max_length=64)
    message: str = Field(sa_column=Column(Text, nullable=False))
    kind: str = Field(max_length=16)
    user: str | None = Field(default=None, sa_column=Column(Text))
    message_id: str | None = Field(default=None, sa_column=Column(Text))
    mailbox: str | None = Field(default=None, sa_column=Column(Text))
    target: str | None = Field(default=None, sa_column=Column(Text))
    ip: str | None = Field(default=None, max_length=64)

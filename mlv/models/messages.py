"""Correlated mail: messages, the queue ids they passed through, and per-recipient deliveries.

Ids of these tables are assigned by the correlator itself (it is the only writer and holds
the import lock), so whole batches can be inserted with one executemany.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, SmallInteger, Text
from sqlmodel import Field, SQLModel

from mlv.models.types import BIG_ID


class Message(SQLModel, table=True):
    __tablename__ = "message"
    __table_args__ = (
        Index("ux_message_correlation_key", "correlation_key", unique=True),
        Index("ix_message_message_id", "message_id"),
        Index("ix_message_first_seen", "first_seen"),
        Index("ix_message_last_seen", "last_seen"),
    )

    id: int = Field(primary_key=True, sa_type=BIG_ID, sa_column_kwargs={"autoincrement": False})
    server_id: int = Field(default=1, sa_column=Column(SmallInteger, nullable=False, default=1))
    correlation_key: str = Field(max_length=64)
    message_id: str | None = Field(default=None, sa_column=Column(Text))
    queue_id: str | None = Field(default=None, max_length=24)  # the first queue id
    sender: str | None = Field(default=None, sa_column=Column(Text))
    recipients: str = Field(default="", sa_column=Column(Text, nullable=False))  # space-separated
    recipient_count: int = 0
    subject: str | None = Field(default=None, sa_column=Column(Text))
    direction: str | None = Field(default=None, max_length=16)
    final_status: str | None = Field(default=None, max_length=16)
    is_complete: bool = False
    first_seen: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_seen: int = Field(sa_column=Column(BigInteger, nullable=False))
    spam_score: float | None = None
    spam_action: str | None = Field(default=None, max_length=32)
    is_spam: bool = False
    rspamd_ref: int | None = Field(default=None, sa_column=Column(BigInteger))
    user: str | None = Field(default=None, sa_column=Column(Text))  # SASL user
    ip: str | None = Field(default=None, max_length=64)  # client of the first queue instance
    size: int | None = Field(default=None, sa_column=Column(BigInteger))
    local_origin: bool = False
    kind: str = Field(default="mail", max_length=16)  # mail | noqueue | dsn


class MessageQueue(SQLModel, table=True):
    """One queue instance: a queue id between its first line and `removed` (ids are recycled)."""

    __tablename__ = "message_queue"
    __table_args__ = (
        Index("ix_message_queue_queue_id", "queue_id", "removed"),
        Index("ix_message_queue_message_ref", "message_ref"),
    )

    id: int = Field(primary_key=True, sa_type=BIG_ID, sa_column_kwargs={"autoincrement": False})
    server_id: int = Field(default=1, sa_column=Column(SmallInteger, nullable=False, default=1))
    queue_id: str = Field(max_length=24)
    message_ref: int | None = Field(default=None, sa_column=Column(BigInteger))
    first_seen: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_seen: int = Field(sa_column=Column(BigInteger, nullable=False))
    removed: bool = False
    local_origin: bool = False
    client_host: str | None = Field(default=None, sa_column=Column(Text))
    client_ip: str | None = Field(default=None, max_length=64)
    sasl_user: str | None = Field(default=None, sa_column=Column(Text))
    sender: str | None = Field(default=None, sa_column=Column(Text))
    message_id: str | None = Field(default=None, sa_column=Column(Text))
    size: int | None = Field(default=None, sa_column=Column(BigInteger))
    nrcpt: int | None = None
    parent_queue_id: str | None = Field(default=None, max_length=24)  # DSN: the bounced queue


class Delivery(SQLModel, table=True):
    """The fate of one recipient of one message; the message's status is derived from these."""

    __tablename__ = "delivery"
    __table_args__ = (
        Index("ux_delivery_message_recipient", "message_ref", "recipient", unique=True),
    )

    id: int = Field(primary_key=True, sa_type=BIG_ID, sa_column_kwargs={"autoincrement": False})
    server_id: int = Field(default=1, sa_column=Column(SmallInteger, nullable=False, default=1))
    message_ref: int = Field(sa_column=Column(BigInteger, nullable=False))
    recipient: str = Field(sa_column=Column(Text, nullable=False))
    orig_to: str | None = Field(default=None, sa_column=Column(Text))
    queue_id: str | None = Field(default=None, max_length=24)
    status: str = Field(max_length=16)
    dsn: str | None = Field(default=None, max_length=16)
    relay: str | None = Field(default=None, sa_column=Column(Text))
    delay: float | None = None
    reason: str | None = Field(default=None, sa_column=Column(Text))
    time: int = Field(sa_column=Column(BigInteger, nullable=False))

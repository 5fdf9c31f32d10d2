"""Rollups the lists and dashboards count from (migration 0002), kept exact by database triggers.

Each row is a count of base rows sharing a bucket (hour or day, unix seconds at the bucket's
start) and the values the API filters by. Rows can drop to 0 (never below); readers ignore them.
Written only by triggers on message, delivery and the log tables; read by mlv.queries.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, SmallInteger, String
from sqlmodel import Field, SQLModel


def _key(type_=BigInteger):  # type: ignore[no-untyped-def]
    return Column(type_, primary_key=True, autoincrement=False)


class MessageHourly(SQLModel, table=True):
    __tablename__ = "message_hourly"

    server_id: int = Field(sa_column=_key(SmallInteger))
    hour: int = Field(sa_column=_key())
    direction: str = Field(sa_column=Column(String(16), primary_key=True))  # '' = unknown
    final_status: str = Field(sa_column=Column(String(16), primary_key=True))  # '' = no status yet
    is_spam: bool = Field(primary_key=True)
    messages: int = Field(sa_column=Column(BigInteger, nullable=False))


class AddressDaily(SQLModel, table=True):
    """Messages per address and day: role 's' by sender (message status), 'r' by recipient
    (delivery status; the address the mail was sent to, before alias expansion)."""

    __tablename__ = "address_daily"

    server_id: int = Field(sa_column=_key(SmallInteger))
    address: str = Field(sa_column=Column(String(255), primary_key=True))
    day: int = Field(sa_column=_key())
    role: str = Field(sa_column=Column(String(1), primary_key=True))
    status: str = Field(sa_column=Column(String(16), primary_key=True))
    messages: int = Field(sa_column=Column(BigInteger, nullable=False))


class PostfixHourly(SQLModel, table=True):
    __tablename__ = "postfix_hourly"

    server_id: int = Field(sa_column=_key(SmallInteger))
    hour: int = Field(sa_column=_key())
    status: str = Field(sa_column=Column(String(16), primary_key=True))
    lines: int = Field(sa_column=Column(BigInteger, nullable=False))


class RspamdHourly(SQLModel, table=True):
    __tablename__ = "rspamd_hourly"

    server_id: int = Field(sa_column=_key(SmallInteger))
    hour: int = Field(sa_column=_key())
    direction: str = Field(sa_column=Column(String(16), primary_key=True))
    action: str = Field(sa_column=Column(String(32), primary_key=True))
    is_spam: bool = Field(primary_key=True)
    lines: int = Field(sa_column=Column(BigInteger, nullable=False))


class NetfilterHourly(SQLModel, table=True):
    __tablename__ = "netfilter_hourly"

    server_id: int = Field(sa_column=_key(SmallInteger))
    hour: int = Field(sa_column=_key())
    action: str = Field(sa_column=Column(String(16), primary_key=True))
    lines: int = Field(sa_column=Column(BigInteger, nullable=False))


class SpamSymbolDaily(SQLModel, table=True):
    """How often each rspamd symbol fired on mail rspamd judged spam, per day."""

    __tablename__ = "spam_symbol_daily"

    server_id: int = Field(sa_column=_key(SmallInteger))
    day: int = Field(sa_column=_key())
    symbol: str = Field(sa_column=Column(String(128), primary_key=True))
    hits: int = Field(sa_column=Column(BigInteger, nullable=False))

"""Import state that must survive restarts: watermarks, gaps, and the mailcow objects we use."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, SmallInteger, Text
from sqlmodel import Field, SQLModel

from mlv.models.types import BIG_ID


class IngestState(SQLModel, table=True):
    """Small key/value rows: fetch watermarks per source, correlation progress, counters."""

    __tablename__ = "ingest_state"

    server_id: int = Field(default=1, sa_column=Column(SmallInteger, primary_key=True, default=1))
    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON
    updated_at: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class ImportGap(SQLModel, table=True):
    """A visible warning: mailcow dropped log lines before we could fetch them."""

    __tablename__ = "import_gap"
    __table_args__ = (Index("ix_import_gap_detected_at", "detected_at"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BIG_ID)
    server_id: int = Field(default=1, sa_column=Column(SmallInteger, nullable=False, default=1))
    source: str = Field(max_length=16)
    detected_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    newest_missing_before: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_known: int = Field(sa_column=Column(BigInteger, nullable=False))
    note: str = Field(default="", sa_column=Column(Text, nullable=False))


class MailcowObject(SQLModel, table=True):
    """Domains, alias domains, mailboxes and aliases as last fetched from mailcow."""

    __tablename__ = "mailcow_object"

    server_id: int = Field(default=1, sa_column=Column(SmallInteger, primary_key=True, default=1))
    kind: str = Field(primary_key=True, max_length=16)  # domain | alias_domain | mailbox | alias
    key: str = Field(primary_key=True, max_length=255)
    active: bool = True
    data: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON as mailcow sent it
    fetched_at: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))

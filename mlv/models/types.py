"""Column types shared by the models."""

from sqlalchemy import BigInteger, Integer

# Row ids: 64-bit on PostgreSQL; SQLite's INTEGER PRIMARY KEY is already 64-bit (and the rowid).
BIG_ID = BigInteger().with_variant(Integer(), "sqlite")

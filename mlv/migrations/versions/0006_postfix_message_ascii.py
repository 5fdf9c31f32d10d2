"""postfix_log.message_ascii: whether a line is plain ASCII (PostgreSQL's common-term search uses it)

A common search term on PostgreSQL checks every row of a walk of the time index. Lines known to be
ASCII are lower-cased under the "C" collation (a byte loop, half the cost of the database
collation's lower()); others get the full lower(). Before this column each row had to be tested for
non-ASCII characters on every search, which cost as much as the lower-casing it saved.

Adding a nullable column rewrites nothing on either database. Rows stored before it stay NULL and
are tested as before: filling them in would rewrite every row, which on PostgreSQL grows the table by
half and scatters the rows the time index walks (measured on 10M lines: 586 s, 2.5 -> 3.8 GB, the
physical order of `time` down from 1.00 to 0.40).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 04:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('postfix_log', sa.Column('message_ascii', sa.Boolean(), nullable=True))


def downgrade() -> None:
    # both databases drop a column in place (SQLite since 3.35); a batch copy would lose the triggers
    op.execute("ALTER TABLE postfix_log DROP COLUMN message_ascii")

"""domain DNS check cache

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-24 22:40:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None

JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    op.create_table('domain_dns_check',
    sa.Column('server_id', sa.SmallInteger(), nullable=False),
    sa.Column('domain_name', sa.String(length=255), nullable=False),
    sa.Column('spf_check', JSONDoc, nullable=False),
    sa.Column('dkim_check', JSONDoc, nullable=False),
    sa.Column('dmarc_check', JSONDoc, nullable=False),
    sa.Column('extra_checks', JSONDoc, nullable=False),
    sa.Column('checked_at', sa.BigInteger(), nullable=False),
    sa.Column('is_full_check', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('server_id', 'domain_name')
    )
    with op.batch_alter_table('domain_dns_check', schema=None) as batch_op:
        batch_op.create_index('ix_domain_dns_check_checked_at', ['checked_at'], unique=False)

    op.create_table('dns_check_run',
    sa.Column('server_id', sa.SmallInteger(), nullable=False),
    sa.Column('last_dns_check', sa.BigInteger(), nullable=False),
    sa.Column('domains_checked', sa.Integer(), nullable=False),
    sa.Column('errors', JSONDoc, nullable=False),
    sa.PrimaryKeyConstraint('server_id')
    )


def downgrade() -> None:
    op.drop_table('dns_check_run')
    with op.batch_alter_table('domain_dns_check', schema=None) as batch_op:
        batch_op.drop_index('ix_domain_dns_check_checked_at')
    op.drop_table('domain_dns_check')

"""drop ix_delivery_recipient: ix_delivery_recipient_ref (recipient, message_ref) of 0002 covers it

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-25 01:10:00
"""
from alembic import op

revision = '0005'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_recipient')


def downgrade() -> None:
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_index('ix_delivery_recipient', ['recipient'], unique=False)

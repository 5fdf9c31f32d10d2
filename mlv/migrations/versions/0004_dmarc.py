"""DMARC and TLS-RPT reports, source IP enrichment, IMAP sync history (issue 6)

A branch of its own from 0001; mlv.db.migrate() upgrades every head.

Revision ID: 0004
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dmarc_daily',
    sa.Column('domain', sa.Text(), nullable=False),
    sa.Column('day', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('messages', sa.BigInteger(), nullable=False),
    sa.Column('dmarc_pass', sa.BigInteger(), nullable=False),
    sa.Column('spf_pass', sa.BigInteger(), nullable=False),
    sa.Column('dkim_pass', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('domain', 'day'),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('dmarc_daily', schema=None) as batch_op:
        batch_op.create_index('ix_dmarc_daily_day', ['day'], unique=False)

    op.create_table('dmarc_daily_source',
    sa.Column('domain', sa.Text(), nullable=False),
    sa.Column('day', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('source_ip', sa.String(length=45), nullable=False),
    sa.Column('messages', sa.BigInteger(), nullable=False),
    sa.Column('dmarc_pass', sa.BigInteger(), nullable=False),
    sa.Column('spf_pass', sa.BigInteger(), nullable=False),
    sa.Column('dkim_pass', sa.BigInteger(), nullable=False),
    sa.Column('first_seen', sa.BigInteger(), nullable=False),
    sa.Column('last_seen', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('domain', 'day', 'source_ip'),
    sqlite_with_rowid=False
    )
    op.create_table('dmarc_domain_source',
    sa.Column('domain', sa.Text(), nullable=False),
    sa.Column('source_ip', sa.String(length=45), nullable=False),
    sa.Column('first_day', sa.BigInteger(), nullable=False),
    sa.Column('last_day', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('domain', 'source_ip'),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('dmarc_domain_source', schema=None) as batch_op:
        batch_op.create_index('ix_dmarc_domain_source_last', ['domain', 'last_day'], unique=False)
        batch_op.create_index('ix_dmarc_domain_source_last_day', ['last_day'], unique=False)

    op.create_table('dmarc_failure',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('domain', sa.Text(), nullable=False),
    sa.Column('arrival_date', sa.BigInteger(), nullable=False),
    sa.Column('feedback_type', sa.Text(), nullable=True),
    sa.Column('reporter', sa.Text(), nullable=True),
    sa.Column('source_ip', sa.String(length=45), nullable=True),
    sa.Column('auth_failure', sa.Text(), nullable=True),
    sa.Column('delivery_result', sa.Text(), nullable=True),
    sa.Column('original_mail_from', sa.Text(), nullable=True),
    sa.Column('original_rcpt_to', sa.Text(), nullable=True),
    sa.Column('authentication_results', sa.Text(), nullable=True),
    sa.Column('dkim_domain', sa.Text(), nullable=True),
    sa.Column('dkim_selector', sa.Text(), nullable=True),
    sa.Column('dkim_identity', sa.Text(), nullable=True),
    sa.Column('spf_dns', sa.Text(), nullable=True),
    sa.Column('message_id', sa.Text(), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('header_from', sa.Text(), nullable=True),
    sa.Column('sample_headers', sa.Text(), nullable=True),
    sa.Column('repairs', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('dmarc_failure', schema=None) as batch_op:
        batch_op.create_index('ix_dmarc_failure_domain_arrival', ['domain', 'arrival_date'], unique=False)
        batch_op.create_index('ux_dmarc_failure_fingerprint', ['fingerprint'], unique=True)

    op.create_table('dmarc_ip',
    sa.Column('ip', sa.String(length=45), nullable=False),
    sa.Column('country_code', sa.String(length=2), nullable=True),
    sa.Column('country_name', sa.Text(), nullable=True),
    sa.Column('city', sa.Text(), nullable=True),
    sa.Column('asn', sa.String(length=16), nullable=True),
    sa.Column('asn_org', sa.Text(), nullable=True),
    sa.Column('hostname', sa.Text(), nullable=True),
    sa.Column('geo_checked_at', sa.BigInteger(), nullable=True),
    sa.Column('ptr_checked_at', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('ip')
    )
    op.create_table('dmarc_monthly_source',
    sa.Column('domain', sa.Text(), nullable=False),
    sa.Column('month', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('source_ip', sa.String(length=45), nullable=False),
    sa.Column('messages', sa.BigInteger(), nullable=False),
    sa.Column('dmarc_pass', sa.BigInteger(), nullable=False),
    sa.Column('spf_pass', sa.BigInteger(), nullable=False),
    sa.Column('dkim_pass', sa.BigInteger(), nullable=False),
    sa.Column('first_seen', sa.BigInteger(), nullable=False),
    sa.Column('last_seen', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('domain', 'month', 'source_ip'),
    sqlite_with_rowid=False
    )
    op.create_table('dmarc_record',
    sa.Column('report_ref', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('domain', sa.Text(), nullable=False),
    sa.Column('day', sa.BigInteger(), nullable=False),
    sa.Column('source_ip', sa.String(length=45), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('disposition', sa.String(length=32), nullable=False),
    sa.Column('dkim', sa.String(length=32), nullable=False),
    sa.Column('spf', sa.String(length=32), nullable=False),
    sa.Column('dmarc_pass', sa.Boolean(), nullable=False),
    sa.Column('header_from', sa.Text(), nullable=True),
    sa.Column('envelope_from', sa.Text(), nullable=True),
    sa.Column('envelope_to', sa.Text(), nullable=True),
    sa.Column('reasons', sa.Text(), nullable=True),
    sa.Column('dkim_domain', sa.Text(), nullable=True),
    sa.Column('dkim_selector', sa.Text(), nullable=True),
    sa.Column('dkim_result', sa.String(length=32), nullable=True),
    sa.Column('spf_domain', sa.Text(), nullable=True),
    sa.Column('spf_scope', sa.String(length=32), nullable=True),
    sa.Column('spf_result', sa.String(length=32), nullable=True),
    sa.Column('auth_results', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('report_ref', 'seq'),
    sqlite_with_rowid=False
    )
    op.create_table('dmarc_report',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('org_name', sa.Text(), nullable=False),
    sa.Column('report_id', sa.Text(), nullable=False),
    sa.Column('email', sa.Text(), nullable=True),
    sa.Column('extra_contact_info', sa.Text(), nullable=True),
    sa.Column('domain', sa.Text(), nullable=False),
    sa.Column('date_begin', sa.BigInteger(), nullable=False),
    sa.Column('date_end', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.String(length=16), nullable=True),
    sa.Column('generator', sa.Text(), nullable=True),
    sa.Column('policy_adkim', sa.String(length=8), nullable=True),
    sa.Column('policy_aspf', sa.String(length=8), nullable=True),
    sa.Column('policy_p', sa.String(length=16), nullable=True),
    sa.Column('policy_sp', sa.String(length=16), nullable=True),
    sa.Column('policy_np', sa.String(length=16), nullable=True),
    sa.Column('policy_pct', sa.Integer(), nullable=True),
    sa.Column('policy_fo', sa.String(length=16), nullable=True),
    sa.Column('policy_testing', sa.String(length=8), nullable=True),
    sa.Column('policy_discovery', sa.String(length=16), nullable=True),
    sa.Column('record_count', sa.Integer(), nullable=False),
    sa.Column('message_count', sa.BigInteger(), nullable=False),
    sa.Column('errors', sa.Text(), nullable=True),
    sa.Column('repairs', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('file_name', sa.Text(), nullable=True),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('dmarc_report', schema=None) as batch_op:
        batch_op.create_index('ix_dmarc_report_domain_day', ['domain', 'day'], unique=False)
        batch_op.create_index('ux_dmarc_report_org_report', ['org_name', 'report_id'], unique=True)

    op.create_table('dmarc_sync',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('sync_type', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.Float(), nullable=False),
    sa.Column('completed_at', sa.Float(), nullable=True),
    sa.Column('emails_found', sa.Integer(), nullable=False),
    sa.Column('emails_processed', sa.Integer(), nullable=False),
    sa.Column('reports_created', sa.Integer(), nullable=False),
    sa.Column('reports_duplicate', sa.Integer(), nullable=False),
    sa.Column('reports_failed', sa.Integer(), nullable=False),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('failed_emails', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('tls_report',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('organization_name', sa.Text(), nullable=False),
    sa.Column('report_id', sa.Text(), nullable=False),
    sa.Column('contact_info', sa.Text(), nullable=True),
    sa.Column('start_datetime', sa.BigInteger(), nullable=False),
    sa.Column('end_datetime', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.BigInteger(), nullable=False),
    sa.Column('total_success', sa.BigInteger(), nullable=False),
    sa.Column('total_fail', sa.BigInteger(), nullable=False),
    sa.Column('repairs', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('file_name', sa.Text(), nullable=True),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('tls_report', schema=None) as batch_op:
        batch_op.create_index('ux_tls_report_org_report', ['organization_name', 'report_id'], unique=True)

    op.create_table('tls_report_policy',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('report_ref', sa.BigInteger(), nullable=False),
    sa.Column('domain', sa.Text(), nullable=False),
    sa.Column('day', sa.BigInteger(), nullable=False),
    sa.Column('policy_type', sa.String(length=32), nullable=False),
    sa.Column('policy_strings', sa.Text(), nullable=True),
    sa.Column('mx_host', sa.Text(), nullable=True),
    sa.Column('successful_sessions', sa.BigInteger(), nullable=False),
    sa.Column('failed_sessions', sa.BigInteger(), nullable=False),
    sa.Column('failure_details', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('tls_report_policy', schema=None) as batch_op:
        batch_op.create_index('ix_tls_report_policy_domain_day', ['domain', 'day'], unique=False)
        batch_op.create_index('ix_tls_report_policy_report', ['report_ref'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tls_report_policy', schema=None) as batch_op:
        batch_op.drop_index('ix_tls_report_policy_report')
        batch_op.drop_index('ix_tls_report_policy_domain_day')

    op.drop_table('tls_report_policy')
    with op.batch_alter_table('tls_report', schema=None) as batch_op:
        batch_op.drop_index('ux_tls_report_org_report')

    op.drop_table('tls_report')
    op.drop_table('dmarc_sync')
    with op.batch_alter_table('dmarc_report', schema=None) as batch_op:
        batch_op.drop_index('ux_dmarc_report_org_report')
        batch_op.drop_index('ix_dmarc_report_domain_day')

    op.drop_table('dmarc_report')
    op.drop_table('dmarc_record')
    op.drop_table('dmarc_monthly_source')
    op.drop_table('dmarc_ip')
    with op.batch_alter_table('dmarc_failure', schema=None) as batch_op:
        batch_op.drop_index('ux_dmarc_failure_fingerprint')
        batch_op.drop_index('ix_dmarc_failure_domain_arrival')

    op.drop_table('dmarc_failure')
    with op.batch_alter_table('dmarc_domain_source', schema=None) as batch_op:
        batch_op.drop_index('ix_dmarc_domain_source_last_day')
        batch_op.drop_index('ix_dmarc_domain_source_last')

    op.drop_table('dmarc_domain_source')
    op.drop_table('dmarc_daily_source')
    with op.batch_alter_table('dmarc_daily', schema=None) as batch_op:
        batch_op.drop_index('ix_dmarc_daily_day')

    op.drop_table('dmarc_daily')

"""The audit log read by period (the auditors' API, the oversight reports): an index on
``at_us``. The same index as the SQLite store's schema v10.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_audit_at ON audit_log (at_us)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_audit_at")

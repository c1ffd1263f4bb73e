"""A camera's reads in a time window (place and time, convoy) by index: ``(cam, captured_us)``
on the partitioned reads table, which PostgreSQL builds on every existing day partition and
on each new one. The same index as the SQLite store's schema v9.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX IF NOT EXISTS ix_reads_cam_time ON reads (cam, captured_us)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_reads_cam_time")

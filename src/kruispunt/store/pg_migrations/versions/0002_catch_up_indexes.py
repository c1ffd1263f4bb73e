"""Node processes catch up with hotlist changes (``HotlistService.catch_up``) by index, not
by scanning a million entries every half minute.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_hotlist_entries_updated", "hotlist_entries", ["updated_us"])
    op.create_index("ix_hotlists_updated", "hotlists", ["updated_us"])


def downgrade() -> None:
    op.drop_index("ix_hotlists_updated", table_name="hotlists")
    op.drop_index("ix_hotlist_entries_updated", table_name="hotlist_entries")

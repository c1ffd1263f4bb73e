"""Cross-zone grants: need-to-know access of a named user to another zone's reads, for a
purpose, case and reason, approved by that zone's chief and limited in time.

The same table as the SQLite store's schema v7.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE grants (
    id TEXT PRIMARY KEY, requester_id TEXT NOT NULL, requester_zone TEXT NOT NULL,
    grantee_id TEXT NOT NULL, data_zone TEXT NOT NULL, status TEXT NOT NULL,
    valid_from_us BIGINT NOT NULL, valid_until_us BIGINT NOT NULL,
    requested_us BIGINT NOT NULL, updated_us BIGINT NOT NULL, doc BYTEA NOT NULL
);
CREATE INDEX ix_grants_grantee ON grants (grantee_id, data_zone);
CREATE INDEX ix_grants_requester ON grants (requester_id);
CREATE INDEX ix_grants_data_zone ON grants (data_zone);
CREATE INDEX ix_grants_requester_zone ON grants (requester_zone);
CREATE INDEX ix_grants_open ON grants (status, valid_until_us);
CREATE INDEX ix_grants_requested ON grants (requested_us);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE grants")

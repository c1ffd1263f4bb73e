"""Signed checkpoints of the audit chain: each signs the chain's head (seq and hash) with
an Ed25519 key kept away from the database. Append-only like the audit log itself (the
same trigger function refuses UPDATE, DELETE and TRUNCATE).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY, at_us BIGINT NOT NULL, head_hash TEXT NOT NULL,
    signature TEXT NOT NULL, key_id TEXT NOT NULL
);
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE audit_checkpoints")

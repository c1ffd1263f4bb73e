"""Local accounts and browser sessions: each user's argon2 password hash, TOTP secret (and
one awaiting confirmation), the last TOTP step used (replay protection) and the lock-out
state; sessions kept only by the SHA-256 of their token, swept by last use.

The same tables as the SQLite store's schema v5.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE credentials (
    user_id TEXT PRIMARY KEY REFERENCES users (id), password_hash TEXT,
    totp_secret TEXT, totp_pending TEXT, totp_last_step BIGINT,
    failures INTEGER NOT NULL DEFAULT 0, locked_until_us BIGINT NOT NULL DEFAULT 0,
    updated_us BIGINT NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users (id),
    created_us BIGINT NOT NULL, last_seen_us BIGINT NOT NULL, source_ip TEXT
);
CREATE INDEX ix_sessions_last_seen ON sessions (last_seen_us);
CREATE INDEX ix_sessions_created ON sessions (created_us);
CREATE INDEX ix_sessions_user ON sessions (user_id);
"""

DOWNGRADE = """
DROP TABLE sessions; DROP TABLE credentials;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)

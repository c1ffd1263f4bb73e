"""Prosecutor authorisations, supervisors' approvals of wide searches, legal holds and the
reads they keep past the limit, images with their own retention, scoped machine tokens and
OIDC links.

The same tables as the SQLite store's schema v8.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE authorisations (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, reference TEXT NOT NULL,
    case_key TEXT NOT NULL, zone_id TEXT NOT NULL, status TEXT NOT NULL,
    valid_from_us BIGINT NOT NULL, valid_until_us BIGINT NOT NULL,
    recorded_by TEXT NOT NULL, created_us BIGINT NOT NULL, updated_us BIGINT NOT NULL,
    doc BYTEA NOT NULL
);
CREATE INDEX ix_authorisations_case ON authorisations (case_key);
CREATE INDEX ix_authorisations_zone ON authorisations (zone_id, valid_until_us);
CREATE INDEX ix_authorisations_created ON authorisations (created_us);
CREATE TABLE search_approvals (
    id TEXT PRIMARY KEY, requester_id TEXT NOT NULL, zone_id TEXT NOT NULL,
    case_key TEXT NOT NULL, status TEXT NOT NULL, valid_until_us BIGINT NOT NULL,
    requested_us BIGINT NOT NULL, updated_us BIGINT NOT NULL, doc BYTEA NOT NULL
);
CREATE INDEX ix_search_approvals_requester ON search_approvals (requester_id, status);
CREATE INDEX ix_search_approvals_zone ON search_approvals (zone_id, status);
CREATE INDEX ix_search_approvals_requested ON search_approvals (requested_us);
CREATE TABLE legal_holds (
    id TEXT PRIMARY KEY, case_key TEXT NOT NULL, zone_id TEXT NOT NULL,
    status TEXT NOT NULL, since_us BIGINT NOT NULL, until_us BIGINT NOT NULL,
    expires_us BIGINT NOT NULL, created_by TEXT NOT NULL, created_us BIGINT NOT NULL,
    updated_us BIGINT NOT NULL, doc BYTEA NOT NULL
);
CREATE INDEX ix_legal_holds_case ON legal_holds (case_key);
CREATE INDEX ix_legal_holds_open ON legal_holds (status, expires_us);
CREATE TABLE held_reads (
    hold_id TEXT NOT NULL REFERENCES legal_holds (id), seq BIGINT NOT NULL,
    captured_us BIGINT NOT NULL, plate TEXT NOT NULL, camera_id TEXT NOT NULL,
    doc BYTEA NOT NULL, PRIMARY KEY (hold_id, seq)
);
CREATE INDEX ix_held_reads_plate ON held_reads (plate, captured_us);
CREATE INDEX ix_held_reads_captured ON held_reads (captured_us);
CREATE TABLE images (
    id TEXT PRIMARY KEY, camera_id TEXT NOT NULL, read_id TEXT, zone_id TEXT NOT NULL,
    captured_us BIGINT NOT NULL, sha256 TEXT NOT NULL, content_type TEXT NOT NULL,
    size BIGINT NOT NULL, case_key TEXT, stored_us BIGINT NOT NULL, doc BYTEA NOT NULL
);
CREATE INDEX ix_images_read ON images (camera_id, read_id);
CREATE INDEX ix_images_captured ON images (captured_us);
CREATE INDEX ix_images_case ON images (case_key);
CREATE TABLE machine_tokens (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, zone_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE, scopes TEXT NOT NULL, expires_us BIGINT,
    revoked_us BIGINT, created_by TEXT NOT NULL, created_us BIGINT NOT NULL,
    last_used_us BIGINT, doc BYTEA NOT NULL
);
CREATE TABLE oidc_links (
    issuer TEXT NOT NULL, subject TEXT NOT NULL, user_id TEXT NOT NULL REFERENCES users (id),
    created_us BIGINT NOT NULL, last_login_us BIGINT, PRIMARY KEY (issuer, subject)
);
"""

TABLES = (
    "oidc_links",
    "machine_tokens",
    "images",
    "held_reads",
    "legal_holds",
    "search_approvals",
    "authorisations",
)


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TABLE {table}")

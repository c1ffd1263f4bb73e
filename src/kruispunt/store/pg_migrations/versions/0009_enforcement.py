"""Traffic enforcement: offence records (section control, LEZ) and LEZ permits
(registrations, exemptions, day passes). The same tables as the SQLite store's schema v11.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE IF NOT EXISTS offences (
    id TEXT PRIMARY KEY, module TEXT NOT NULL, category TEXT NOT NULL, plate TEXT NOT NULL,
    country TEXT, day TEXT NOT NULL, occurred_us BIGINT NOT NULL, zone_id TEXT NOT NULL,
    status TEXT NOT NULL, created_us BIGINT NOT NULL, updated_us BIGINT NOT NULL,
    doc BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_offences_module_day ON offences (module, day);
CREATE INDEX IF NOT EXISTS ix_offences_plate ON offences (module, plate, day);
CREATE INDEX IF NOT EXISTS ix_offences_occurred ON offences (occurred_us);
CREATE TABLE IF NOT EXISTS lez_permits (
    id TEXT PRIMARY KEY, plate TEXT NOT NULL, country TEXT, kind TEXT NOT NULL,
    valid_from_us BIGINT NOT NULL, valid_until_us BIGINT NOT NULL,
    revoked_us BIGINT, created_us BIGINT NOT NULL, doc BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_lez_permits_plate ON lez_permits (plate, valid_until_us);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE lez_permits")
    op.execute("DROP TABLE offences")

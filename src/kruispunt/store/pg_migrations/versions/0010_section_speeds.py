"""Section control's speed distribution: passages per section, day and 5 km/h bin (no
plate). The same table as the SQLite store's schema v12 (``kruispunt.enforcement.stats``).

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE IF NOT EXISTS section_speeds (
    zone_id TEXT NOT NULL, day TEXT NOT NULL, section_id TEXT NOT NULL,
    bin_kmh INTEGER NOT NULL, passages BIGINT NOT NULL,
    PRIMARY KEY (zone_id, day, section_id, bin_kmh)
);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE section_speeds")

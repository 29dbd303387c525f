"""units (level, path) index for the plan-target scope

Revision ID: inv_0003
Revises: inv_0002
Create Date: 2026-11-25 04:55:00

The target engine selects the in-scope units of a subtree with ``level IN (1, 2, 3) AND path
range``. With only ``ix_units_path`` that walks every unit of the subtree (≈100k at the root of
the large federation, ≈15 ms per query on SQLite, repeated in every indicator); with this
index it is three short covering seeks (< 1 ms).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "inv_0003"
down_revision: str | Sequence[str] | None = "inv_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_units_level_path", "units", ["level", "path"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_units_level_path", table_name="units")

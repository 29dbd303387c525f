"""why a host failed in a run

Revision ID: pb_0003
Revises: pb_0002
Create Date: 2026-12-01 23:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "pb_0003"
down_revision: str | Sequence[str] | None = "pb_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pb_host_results", schema=None) as batch_op:
        # The message of the task that failed the host (or made it unreachable); NULL when fine.
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pb_host_results", schema=None) as batch_op:
        batch_op.drop_column("error")

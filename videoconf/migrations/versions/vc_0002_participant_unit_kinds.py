"""participant selector unit kinds

Revision ID: vc_0002
Revises: vc_0001
Create Date: 2026-12-02 00:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "vc_0002"
down_revision: str | Sequence[str] | None = "vc_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A subtree selector may keep only units of some kinds (e.g. province federations);
    # NULL = every kind, as selectors stored before this revision meant.
    with op.batch_alter_table("vc_participants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unit_kinds", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vc_participants", schema=None) as batch_op:
        batch_op.drop_column("unit_kinds")

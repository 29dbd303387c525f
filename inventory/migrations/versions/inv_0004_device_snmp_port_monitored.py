"""devices: snmp_port and monitored

Revision ID: inv_0004
Revises: inv_0003
Create Date: 2026-12-01 23:10:00

An operator sets a device's SNMP port (when its agent does not listen where the profile says)
and whether it is polled at all (``tldops inventory device set --snmp-port --monitored``).
Existing devices stay monitored: the column defaults to true on the server.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "inv_0004"
down_revision: str | Sequence[str] | None = "inv_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("snmp_port", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("monitored", sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("monitored")
        batch.drop_column("snmp_port")

"""login lock per (username, address): password_changed_at replaces the per-account counters

Revision ID: web_0003
Revises: web_0002
Create Date: 2026-12-01 23:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import inventory.db

revision: str = "web_0003"
down_revision: str | Sequence[str] | None = "web_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The lock is now computed from web_login_attempts per (username, address); the per-account
    # counter and lock time let anyone lock any account and are dropped.
    with op.batch_alter_table("web_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("password_changed_at", inventory.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.drop_column("failed_logins")
        batch_op.drop_column("locked_until")


def downgrade() -> None:
    with op.batch_alter_table("web_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("locked_until", inventory.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.drop_column("password_changed_at")

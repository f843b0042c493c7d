"""lock pairing on users

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lock_paired_at", sa.Double(), nullable=True))
        batch_op.add_column(
            sa.Column("lock_closed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("lock_closed")
        batch_op.drop_column("lock_paired_at")

"""learned clock drift of authenticators

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("authenticators", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("drift_steps", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("recent_offsets", sa.String(length=32), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("authenticators", schema=None) as batch_op:
        batch_op.drop_column("recent_offsets")
        batch_op.drop_column("drift_steps")

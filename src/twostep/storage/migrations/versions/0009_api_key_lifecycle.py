"""api key life cycle: name, prefix, last use, revocation

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 17:40:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The name is the existing ``label``; ``revoked_at`` existed already. Keys made before this
# revision have no recorded prefix (only their hash was kept): theirs stays NULL.
_COLUMNS: list[sa.Column[Any]] = [
    sa.Column("prefix", sa.String(length=24), nullable=True),
    sa.Column("last_used_at", sa.Double(), nullable=True),
]


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        for column in _COLUMNS:
            batch_op.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        for column in reversed(_COLUMNS):
            batch_op.drop_column(column.name)

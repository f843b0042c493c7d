"""application settings: OAuth client fields of the applications

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 09:30:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The existing rows (each environment's default application) become public, first-party
# clients: no secret, no redirect URI yet, code + refresh grants, one-hour JWT access tokens.
_COLUMNS: list[sa.Column[Any]] = [
    sa.Column("client_secret_hash", sa.String(length=64), nullable=True),
    sa.Column("redirect_uris", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    sa.Column(
        "grant_types",
        sa.JSON(),
        nullable=False,
        server_default=sa.text("""'["authorization_code", "refresh_token"]'"""),
    ),
    sa.Column("secret_required", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column(
        "access_token_expiration", sa.Integer(), nullable=False, server_default=sa.text("3600")
    ),
    sa.Column("token_format", sa.String(length=8), nullable=False, server_default=sa.text("'jwt'")),
    sa.Column("refresh_token", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("first_party", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("updated_at", sa.Double(), nullable=True),
]


def upgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        for column in _COLUMNS:
            batch_op.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        for column in reversed(_COLUMNS):
            batch_op.drop_column(column.name)

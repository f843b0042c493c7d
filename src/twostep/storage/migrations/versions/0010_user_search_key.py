"""user search key: email, username and phone folded for case- and accent-blind search

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 18:40:00
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fold(text: str) -> str:
    # A frozen copy of ``repositories.users.fold``: a migration never changes with the code.
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_key", sa.Text(), nullable=True))
    users = sa.table(
        "users",
        sa.column("id", sa.String),
        sa.column("email", sa.String),
        sa.column("username", sa.String),
        sa.column("phone", sa.String),
        sa.column("search_key", sa.Text),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(users.c.id, users.c.email, users.c.username, users.c.phone))
    for row in rows.fetchall():
        key = "\n".join(_fold(v) for v in (row.email, row.username, row.phone) if v)
        bind.execute(sa.update(users).where(users.c.id == row.id).values(search_key=key))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("search_key")

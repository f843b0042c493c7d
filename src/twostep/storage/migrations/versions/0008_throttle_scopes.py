"""throttle scopes: per-IP counters per environment, wrong passwords per account

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 17:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The counters live for a minute: starting them afresh under the new key loses nothing.
    op.drop_table("ip_failures")
    op.create_table(
        "ip_failures",
        sa.Column("environment_id", sa.String(length=36), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("environment_id", "ip", "minute", name=op.f("pk_ip_failures")),
    )
    op.create_table(
        "password_failures",
        sa.Column("environment_id", sa.String(length=36), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.Double(), nullable=False),
        sa.Column("last_failure_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("environment_id", "subject", name=op.f("pk_password_failures")),
    )
    with op.batch_alter_table("password_failures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_password_failures_environment_last",
            ["environment_id", "last_failure_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("password_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_password_failures_environment_last")
    op.drop_table("password_failures")
    op.drop_table("ip_failures")
    op.create_table(
        "ip_failures",
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("ip", "minute", name=op.f("pk_ip_failures")),
    )

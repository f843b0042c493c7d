"""The shared metadata, with a naming convention so migrations name constraints stably."""

from __future__ import annotations

import uuid

from sqlalchemy import Column, ForeignKey, MetaData, String

__all__ = ["environment_id_column", "metadata", "new_id"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def new_id() -> str:
    """A random row id (UUID 4, 36 characters)."""
    return str(uuid.uuid4())


def environment_id_column(*, index: bool = False) -> Column[str]:
    """The environment a row belongs to; it goes when its environment goes."""
    return Column(
        "environment_id",
        String(36),
        ForeignKey("environments.id", ondelete="CASCADE"),
        nullable=False,
        index=index,
    )

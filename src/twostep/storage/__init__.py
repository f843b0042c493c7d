"""Persistence: typed tables, repositories (the only SQL) and Alembic migrations."""

from twostep.storage.db import Database, Tx

__all__ = ["Database", "Tx"]

"""Alembic migrations shipped inside the package (``twostep migrate``)."""

"""The code check's statements run on the driver itself: ``sqlite3`` or ``asyncpg``.

A code check is the hottest path of the server, and SQLAlchemy Core spends some 30-40 us per
statement on what the driver does in about one. So the statements of a check run here as
prepared statements of the driver, on the connection of the current unit of work (its
transaction, its commit or rollback). Their SQL is the Core reference's
(``repositories.authenticators``), compiled once per dialect: one definition of each
statement, two ways to run it; ``tests/storage/test_hot_path_contract.py`` runs both against
the same contract on both engines.

Each statement is one ``_Prepared`` value below, built from its Core statement; adding one is
one more such value and a function that binds it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable

from twostep.storage.db import Tx, asyncpg_connection, sqlite_connection
from twostep.storage.repositories.audit import AuditEvent, append_event
from twostep.storage.repositories.authenticators import (
    VerifyContext,
    decide_parameters,
    decide_statement,
    verify_context_of,
    verify_context_parameters,
    verify_context_statement,
)

__all__ = ["decide", "load_verify_context", "record_event"]

_ASYNCPG: Any = pg_asyncpg.dialect  # untyped; its SQL has the $n parameters asyncpg takes
_DIALECTS: dict[str, Dialect] = {"sqlite": sqlite.dialect(), "postgresql": _ASYNCPG()}


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A Core statement compiled for one driver: its SQL, the order of its parameters, the
    values Core bound itself (literals), the parameters of a JSON column (Core serializes
    those: so must we) and the labels of its result columns."""

    sql: str
    order: tuple[str, ...]
    fixed: Mapping[str, Any]
    json: frozenset[str]
    columns: tuple[str, ...]

    def arguments(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        if self.json:  # the caller's values of JSON columns, as Core would serialize them
            values = {**values, **{k: _json(values[k]) for k in self.json if k in values}}
        if self.fixed:  # the literals Core bound, under what the caller gives
            values = {**self.fixed, **values}
        return _pick(self.order)(values)

    async def fetch(self, tx: Tx, values: Mapping[str, Any]) -> Sequence[Any] | None:
        """The first row of the statement run with ``values`` (by parameter name), or None."""
        arguments = self.arguments(values)
        if tx.dialect.name == "sqlite":
            # fetchall: a RETURNING statement left half-read would keep the statement open.
            rows = sqlite_connection(tx).execute(self.sql, arguments).fetchall()
            return rows[0] if rows else None
        connection = await asyncpg_connection(tx)
        # asyncpg prepares each SQL text once per connection and keeps it (its statement cache).
        row: Sequence[Any] | None = await connection.fetchrow(self.sql, *arguments)
        return row


def _json(value: Any) -> str:
    # Core's JSON type stores None as JSON null, as most audit events' details are.
    return "null" if value is None else json.dumps(value)


@cache
def _pick(order: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """The values of ``order``'s names, in that order (in C: this runs per statement)."""
    if len(order) > 1:
        return itemgetter(*order)
    return lambda values: tuple(values[name] for name in order)


def _prepare(statement: Any, dialect_name: str) -> _Prepared:
    compiled = statement.compile(dialect=_DIALECTS[dialect_name])
    fixed = {k: v for k, v in compiled.params.items() if v is not None}
    as_json = frozenset(k for k, b in compiled.binds.items() if isinstance(b.type, JSON))
    # exported_columns: a SELECT's columns, an UPDATE's RETURNING ones, by label.
    columns = tuple(str(c.key) for c in statement.exported_columns)
    return _Prepared(str(compiled), tuple(compiled.positiontup or ()), fixed, as_json, columns)


# --- the statements ---------------------------------------------------------------------------


@cache
def _verify_context(dialect_name: str, by_client_id: bool, sign_in: bool) -> _Prepared:
    return _prepare(verify_context_statement(by_client_id, sign_in), dialect_name)


@lru_cache(maxsize=16)
def _prepared(statement: Executable, dialect_name: str) -> _Prepared:
    """A module-level Core statement of a repository, compiled once per dialect."""
    return _prepare(statement, dialect_name)


@lru_cache(maxsize=128)
def _decide(dialect_name: str, delays: tuple[tuple[int, int], ...], max_delay: int) -> _Prepared:
    return _prepare(decide_statement(delays, max_delay), dialect_name)


# --- what the services call: the signatures of the Core reference ---------------------------


async def load_verify_context(
    tx: Tx,
    environment_id: str,
    user_id: str,
    client_id: str | None,
    *,
    sign_in: bool = False,
) -> VerifyContext | None:
    """``repositories.authenticators.load_verify_context`` on the driver."""
    prepared = _verify_context(tx.dialect.name, client_id is not None, sign_in)
    row = await prepared.fetch(tx, verify_context_parameters(environment_id, user_id, client_id))
    return None if row is None else verify_context_of(dict(zip(prepared.columns, row, strict=True)))


async def decide(
    tx: Tx,
    authenticator_id: str,
    *,
    step: int | None,
    now: float,
    delays: tuple[tuple[int, int], ...],
    max_delay: int,
    suspend_after: int,
) -> int | None:
    """``repositories.authenticators.decide`` on the driver."""
    prepared = _decide(tx.dialect.name, delays, max_delay)
    row = await prepared.fetch(tx, decide_parameters(authenticator_id, step, now, suspend_after))
    return None if row is None else int(row[0])


async def record_event(tx: Tx, event: AuditEvent) -> None:
    """``repositories.audit.record_event`` on the driver: the same statements, in the same
    order (``append_event``), each run as a prepared statement."""
    dialect_name = tx.dialect.name

    async def run(statement: Executable, parameters: dict[str, Any]) -> Sequence[Any] | None:
        return await _prepared(statement, dialect_name).fetch(tx, parameters)

    await append_event(run, dialect_name, event)

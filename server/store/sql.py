"""Statements of the hot path, written once as SQL.

peewee builds every query anew from its expression tree: on the machines this runs on,
a `get_or_none` by key costs about 350 µs, of which the database needs 4. The handful of
statements every event, check-in and request runs are therefore fixed SQL text with
parameters (`?`, rewritten to `%s` for PostgreSQL), in the same syntax both databases
understand: `INSERT ... ON CONFLICT`, `RETURNING`. Everything else stays on the models.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from peewee import PostgresqlDatabase

from server.store.db import database
from server.store.fields import sqlite_text


class Sql:
    """One statement, ready for either database."""

    __slots__ = ("sqlite", "postgres")

    def __init__(self, text: str, postgres: str | None = None) -> None:
        """`postgres`: the statement for PostgreSQL where it differs (with `?` too)."""
        self.sqlite = " ".join(text.split())
        self.postgres = " ".join((postgres or text).split()).replace("?", "%s")

    def run(self, *params: Any):
        """Execute inside the current transaction; returns the cursor."""
        text = self.postgres if isinstance(database.obj, PostgresqlDatabase) else self.sqlite
        return database.execute_sql(text, params)

    def one(self, *params: Any) -> tuple | None:
        """The first row, or None (the statement is run to its end, RETURNING included)."""
        rows = self.run(*params).fetchall()
        return rows[0] if rows else None

    def count(self, *params: Any) -> int:
        """How many rows the statement changed."""
        return self.run(*params).rowcount


def instant(value: datetime | None) -> Any:
    """An aware datetime as `UtcDateTimeField` stores it."""
    if value is None:
        return None
    return _stored(value, isinstance(database.obj, PostgresqlDatabase))


@lru_cache(maxsize=8192)
def _stored(value: datetime, postgres: bool) -> Any:
    # A batch stores the same few instants many times (now, an event's time in each of
    # its rows): each is converted once.
    naive = value.astimezone(UTC).replace(tzinfo=None)
    return naive if postgres else sqlite_text(naive)


def day(value: date | None) -> Any:
    """A date as `DateField` stores it."""
    if value is None or isinstance(database.obj, PostgresqlDatabase):
        return value
    return value.isoformat()


def read_instant(value: Any) -> datetime | None:
    """A stored instant back as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def read_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def document(value: Any) -> str | None:
    """A JSON value as `JsonField` stores it."""
    return None if value is None else _document(value)


# json.dumps with these options builds an encoder per call: a batch stores a document per
# event. The same options, one encoder.
_document = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode

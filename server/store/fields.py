"""Column types shared by the models and the migrations."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from peewee import DateTimeField, SqliteDatabase, TextField


def sqlite_text(naive: datetime) -> str:
    """`YYYY-MM-DD HH:MM:SS.ffffff`, the year always four digits: strftime's `%Y` drops
    the leading zeros of years before 1000, which then neither read back nor sort."""
    return naive.isoformat(sep=" ", timespec="microseconds")


class UtcDateTimeField(DateTimeField):
    """An instant: aware UTC in Python, naive UTC in the database.

    SQLite gets a fixed-width text form so that text order is time order.
    """

    def db_value(self, value):
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            raise ValueError("UtcDateTimeField needs an aware datetime")
        naive = value.astimezone(UTC).replace(tzinfo=None)
        if isinstance(_database_of(self), SqliteDatabase):
            return sqlite_text(naive)
        return naive

    def python_value(self, value):
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)  # reads sqlite_text, and ten times faster
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JsonField(TextField):
    """A JSON document kept as text, so both databases read it the same."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))

    def python_value(self, value):
        return None if value is None else json.loads(value)


def _database_of(field):
    db = field.model._meta.database
    return getattr(db, "obj", db)

"""Set-based statements: many rows in one statement, the same text for both databases.

A batch of events writes each table once — one multi-row `INSERT`, one `UPDATE ... FROM
(VALUES ...)` — instead of a statement per row. Rows are given as tuples in column
order; the VALUES list is exposed as a subquery `v` with named columns, which SQLite and
PostgreSQL both read (`SELECT column1 AS a, ... FROM (VALUES ...)`). Statements stay
below SQLite's limit of bound parameters by splitting the rows into chunks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Any

from server.store.db import database, is_postgres

MAX_PARAMETERS = 30_000  # SQLite allows 32,766 bound parameters per statement
DEFAULT = object()  # a row value meaning "the column's default" (PostgreSQL only)


def _chunks(rows: Sequence[Sequence[Any]], width: int) -> Iterator[Sequence[Sequence[Any]]]:
    per = max(1, MAX_PARAMETERS // max(width, 1))
    for start in range(0, len(rows), per):
        yield rows[start : start + per]


def _values(rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
    mark = "%s" if is_postgres() else "?"
    params = list(chain.from_iterable(rows))
    # `in` compares by identity first, in C: a tenth of a generator's `is` per value.
    if DEFAULT not in params:
        width = len(rows[0]) if rows else 0
        group = "(" + ", ".join([mark] * width) + ")"
        return ", ".join([group] * len(rows)), params
    groups, params = [], []
    for row in rows:
        cells = []
        for value in row:
            if value is DEFAULT:
                cells.append("DEFAULT")
            else:
                cells.append(mark)
                params.append(value)
        groups.append("(" + ", ".join(cells) + ")")
    return ", ".join(groups), params


def insert(
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    ids: bool = False,
    tail: str = "",
    along: Writes | None = None,
) -> list[int]:
    """INSERT the rows; with `ids`, the new rows' ids in row order.

    On SQLite the ids are read off the last one: the write lock is held, and a table whose
    id is its rowid hands out max + 1 row after row. On PostgreSQL, RETURNING gives them in
    the order of the VALUES list. `tail` follows the VALUES (an ON CONFLICT clause).
    `along`: writes made first (on PostgreSQL, within the same statement).
    """
    out: list[int] = []
    names = ", ".join(columns)
    lead = along.take() if along is not None else []
    if lead and not is_postgres():
        for text, params in lead:
            _execute(text, params)
        lead = []
    for chunk in _chunks(rows, len(columns)):
        values, params = _values(chunk)
        text = f"INSERT INTO {table} ({names}) VALUES {values} {tail}"
        if lead:
            ctes = ", ".join(f"w{n} AS ({t})" for n, (t, _) in enumerate(lead))
            text = f"WITH {ctes} {text}"
            params = [p for _, ps in lead for p in ps] + params
            lead = []
        if ids and is_postgres():
            cursor = _execute(text + " RETURNING id", params)
            out += [row[0] for row in cursor.fetchall()]
        else:
            cursor = _execute(text, params)
            if ids:
                last = cursor.lastrowid
                out += range(last - len(chunk) + 1, last + 1)
    return out


def _execute(text: str, params: Sequence[Any]) -> Any:
    """Execute one statement (marks as the database takes them); the cursor.

    psycopg reads a statement's `%s` marks with a regular expression and a tuple per mark,
    about 2 µs each: a batch's statements hold some 60,000 of them. On PostgreSQL they are
    numbered here instead (`$1`, `$2`, ...) and the statement goes through a raw cursor,
    which passes the text as it is; still through `execute_sql`, as every statement does.
    """
    if not params or not is_postgres() or "%%" in text:
        return database.execute_sql(text, params)
    pieces = text.split("%s")
    marks = _marks(len(pieces) - 1)
    numbered = "".join(chain.from_iterable(zip(pieces[:-1], marks, strict=True))) + pieces[-1]
    connection = database.connection()
    factory = connection.cursor_factory
    connection.cursor_factory = _raw_cursor()
    try:
        return database.execute_sql(numbered, params)
    finally:
        connection.cursor_factory = factory


_marks_made: tuple[str, ...] = ()


def _marks(count: int) -> tuple[str, ...]:
    """`$1` .. `$count`.

    Writer lanes number statements at the same time: the marks made so far are replaced
    by a longer tuple built whole, never grown in place (a list extended by two threads at
    once numbered one statement's parameters twice).
    """
    global _marks_made
    made = _marks_made
    if len(made) < count:
        made = _marks_made = tuple(f"${n}" for n in range(1, max(count, 2 * len(made)) + 1))
    return made[:count]


def _raw_cursor() -> type:
    from psycopg import RawCursor  # PostgreSQL only: SQLite runs without psycopg loaded

    return RawCursor


def rows_of(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
    """`(SELECT column1 AS a, column2 AS b FROM (VALUES ...) AS t)` and its parameters:
    a table of the rows under these column names, for a FROM or IN clause."""
    values, params = _values(rows)
    named = ", ".join(f"column{i} AS {name}" for i, name in enumerate(columns, start=1))
    return f"(SELECT {named} FROM (VALUES {values}) AS t)", params


def run(text: str, params: Sequence[Any] = ()) -> Any:
    """Execute one statement written with `?` marks; the cursor."""
    if is_postgres():
        text = text.replace("?", "%s")
    return _execute(text, list(params))


def each_chunk(columns: Sequence[str], rows: Sequence[Sequence[Any]]):
    """The rows in chunks small enough for one statement each."""
    return _chunks(rows, len(columns))


class Writes:
    """Writes of one batch that do not depend on each other's results.

    On PostgreSQL they go as one statement — each in a WITH clause of the last one, which
    may return rows — so the batch makes one round trip for all of them; on SQLite, one
    after the other. Foreign keys between them are checked when the statement ends.
    """

    def __init__(self) -> None:
        self.parts: list[tuple[str, list[Any]]] = []

    def insert(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], tail: str = ""
    ) -> None:
        names = ", ".join(columns)
        for chunk in _chunks(rows, len(columns)):
            values, params = _values(chunk)
            self.parts.append((f"INSERT INTO {table} ({names}) VALUES {values} {tail}", params))

    def add(self, text: str, params: Sequence[Any] = ()) -> None:
        """A statement written with `?` marks."""
        self.parts.append((text.replace("?", "%s") if is_postgres() else text, list(params)))

    def take(self) -> list[tuple[str, list[Any]]]:
        """The writes, handed over to whoever runs them."""
        parts, self.parts = self.parts, []
        return parts

    def run(self, text: str | None = None, params: Sequence[Any] = ()) -> Any:
        """Execute the writes, then (or, on PostgreSQL, with them) `text` if given; the
        cursor of the last statement."""
        parts = self.take()
        if text is not None:
            parts.append((text.replace("?", "%s") if is_postgres() else text, list(params)))
        if not parts:
            return None
        if not is_postgres():
            cursor = None
            for part, part_params in parts:
                cursor = _execute(part, part_params)
            return cursor
        cursor = None
        while parts:
            group, size = [], 0
            while parts and (not group or size + len(parts[0][1]) <= 2 * MAX_PARAMETERS):
                size += len(parts[0][1])
                group.append(parts.pop(0))
            *lead, (main, main_params) = group
            if lead:
                ctes = ", ".join(f"w{n} AS ({t})" for n, (t, _) in enumerate(lead))
                main = f"WITH {ctes} {main}"
            cursor = _execute(main, [p for _, ps in lead for p in ps] + main_params)
        return cursor

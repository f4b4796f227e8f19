"""Counting the statements a piece of work sends to the database."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def recorded(db):
    """Every statement `db` executes inside the block (from any thread), as SQL text."""
    seen: list[str] = []
    execute = db.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        seen.append(sql)
        return execute(sql, params, *args, **kwargs)

    db.execute_sql = counting
    try:
        yield seen
    finally:
        del db.execute_sql  # the class's method again

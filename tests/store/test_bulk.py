"""Set-based statements on PostgreSQL go with numbered marks ($1, $2, ...) through a raw
cursor: every statement's parameters are numbered once each, in order, also when writer
lanes number statements at the same time."""

from __future__ import annotations

import sys
import threading

import pytest

from server.store import bulk
from server.store.db import write_transaction


def test_marks_are_numbered_in_order_while_threads_number_at_once(monkeypatch):
    monkeypatch.setattr(bulk, "_marks_made", ())
    failures: list[str] = []
    start = threading.Barrier(8)

    def number(offset: int) -> None:
        start.wait()
        for count in range(1 + offset, 4000, 37):
            marks = bulk._marks(count)
            if list(marks) != [f"${n}" for n in range(1, count + 1)]:
                failures.append(f"{count} marks numbered wrong")
                return

    threads = [threading.Thread(target=number, args=(n,)) for n in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch often: a race shows itself
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []


@pytest.mark.parametrize("rows", [1, 3, 2500])
def test_a_statement_of_many_rows_reads_back_what_it_wrote(db, rows):
    values = [(n, f"text {n} 100%", None if n % 2 else n * 2) for n in range(rows)]
    with write_transaction():
        table, params = bulk.rows_of(("a", "b", "c"), values)
        cursor = bulk.run(f"SELECT a, b, c FROM {table} AS v ORDER BY a", params)
        back = [tuple(r) for r in cursor.fetchall()]
    assert back == values

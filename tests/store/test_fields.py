"""Instants are stored so that every one of them reads back, and text order is time order."""

from __future__ import annotations

from datetime import UTC, datetime

from server.store import sql
from server.store.db import write_transaction
from server.store.models import CatalogItem

EARLY = [
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(105, 1, 31, 14, 18, 54, 621448, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(2026, 3, 2, 10, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


def test_instants_of_any_year_read_back_and_sort_in_time_order(db):
    now = datetime(2026, 3, 2, 10, tzinfo=UTC)
    with write_transaction():
        for n, at in enumerate(reversed(EARLY)):
            CatalogItem.create(
                title=f"item {n}", points_price=1, available_from=at, created_at=now, updated_at=now
            )
    rows = CatalogItem.select().order_by(CatalogItem.available_from)
    assert [r.available_from for r in rows] == EARLY
    # Raw statements store and read the same form as the model.
    assert [sql.read_instant(sql.instant(at)) for at in EARLY] == EARLY

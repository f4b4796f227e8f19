"""The scheduler's last runs, so an operator can see that periodic work happens."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from server.store.db import locked, write_transaction
from server.store.models import Setting

_KEY = "scheduler_runs"
KEPT = 20  # the newest runs; a run a minute keeps the last twenty minutes


@dataclass(frozen=True)
class Run:
    started_at: str  # ISO 8601
    seconds: float
    points_expired: int
    holds_expired: int
    periods_paid: int
    birthdays: int


def record(run: Run) -> None:
    """Keep `run` among the newest (its own transaction: the jobs commit item by item)."""
    with write_transaction():
        Setting.insert(key=_KEY, value="[]").on_conflict_ignore().execute()
        # Under the row's lock: two processes ticking at once both keep their run.
        row = locked(Setting.select().where(Setting.key == _KEY)).get()
        kept = [asdict(run), *json.loads(row.value)][:KEPT]
        Setting.update(value=json.dumps(kept)).where(Setting.key == _KEY).execute()


def last(limit: int = KEPT) -> list[Run]:
    """The newest runs first."""
    row = Setting.get_or_none(Setting.key == _KEY)
    if row is None:
        return []
    return [Run(**r) for r in json.loads(row.value)[:limit]]

"""Leaderboard scores, counted as events and awards happen."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache

from server.core.periods import period_key
from server.store import sql
from server.store.sql import Sql

PERIODS = ("day", "week", "month")


def count(
    metric: str, member_id: int, community: str | None, at: datetime, day: date, amount: int = 1
) -> None:
    """Add to a member's score in the day, week and month of `day`, overall and in the
    community: one statement (inside the caller's transaction)."""
    scopes = ("", community) if community else ("",)
    stamp = sql.instant(at)
    params: list = []
    for period in PERIODS:
        key = period_key(period, day)
        for scope in scopes:
            params += (metric, key, scope, member_id, amount, stamp)
    _upsert(len(PERIODS) * len(scopes)).run(*params)


@cache
def _upsert(rows: int) -> Sql:
    values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * rows)
    return Sql(
        f"INSERT INTO standing (metric, period, scope, member_id, score, reached_at) "
        f"VALUES {values} ON CONFLICT (metric, period, scope, member_id) DO UPDATE SET "
        f"score = standing.score + excluded.score, reached_at = excluded.reached_at"
    )

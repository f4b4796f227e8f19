"""Leaderboard scores, counted as events and awards happen."""

from __future__ import annotations

from datetime import date, datetime

from peewee import EXCLUDED

from server.core.periods import period_key
from server.store.models import Standing

PERIODS = ("day", "week", "month")


def count(
    metric: str, member_id: int, community: str | None, at: datetime, day: date, amount: int = 1
) -> None:
    """Add to a member's score in the day, week and month of `day`, overall and in the
    community: one statement (inside the caller's transaction)."""
    scopes = ("", community) if community else ("",)
    rows = [
        {
            "metric": metric,
            "period": period_key(period, day),
            "scope": scope,
            "member": member_id,
            "score": amount,
            "reached_at": at,
        }
        for period in PERIODS
        for scope in scopes
    ]
    (
        Standing.insert_many(rows)
        .on_conflict(
            conflict_target=[Standing.metric, Standing.period, Standing.scope, Standing.member],
            update={
                Standing.score: Standing.score + EXCLUDED.score,
                Standing.reached_at: EXCLUDED.reached_at,
            },
        )
        .execute()
    )

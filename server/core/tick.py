"""Periodic work, safe to run from several places at once: every job is keyed by what it
closes (a lot, a hold, a board's period, a member's birthday year)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from server.core import birthdays, checkout, expiry, leaderboard, program, runs


@dataclass(frozen=True)
class TickReport:
    points_expired: int
    holds_expired: int
    periods_paid: int = 0
    birthdays: int = 0

    def __str__(self) -> str:
        return (
            f"expired {self.points_expired} points and {self.holds_expired} checkout "
            f"holds; paid {self.periods_paid} leaderboard periods; {self.birthdays} "
            "birthdays"
        )

    @property
    def busy(self) -> bool:
        return any((self.points_expired, self.holds_expired, self.periods_paid, self.birthdays))


def tick(now: datetime) -> TickReport:
    """Run every periodic job once; each commits item by item."""
    began = time.monotonic()
    settings = program.load()
    holds = checkout.expire_holds(now)
    periods = leaderboard.close_periods(now, settings)
    born = birthdays.emit(now, settings)
    points = expiry.expire_due(now)
    report = TickReport(
        points_expired=points, holds_expired=holds, periods_paid=periods, birthdays=born
    )
    runs.record(
        runs.Run(
            started_at=now.isoformat(),
            seconds=round(time.monotonic() - began, 3),
            points_expired=points,
            holds_expired=holds,
            periods_paid=periods,
            birthdays=born,
        )
    )
    return report

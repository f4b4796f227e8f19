"""Periodic work, safe to run from several places at once: every job is keyed by what it
closes (a lot, a hold, a board's period, a member's birthday year)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from server.core import birthdays, checkout, expiry, leaderboard, level_job, program, runs
from server.core.leaderboard import Closing


@dataclass(frozen=True)
class TickReport:
    points_expired: int
    holds_expired: int
    closings: tuple[Closing, ...] = ()  # each board period settled, oldest first
    birthdays: int = 0
    levels_changed: int = 0  # members whose level the rolling window changed

    @property
    def periods_paid(self) -> int:
        return sum(1 for c in self.closings if c.points)

    @property
    def unpaid(self) -> tuple[Closing, ...]:
        """Periods that could not be paid in full (a budget ran out)."""
        return tuple(c for c in self.closings if c.problem is not None)

    def __str__(self) -> str:
        lines = [
            f"expired {self.points_expired} points and {self.holds_expired} checkout "
            f"holds; paid {self.periods_paid} leaderboard periods; {self.birthdays} "
            "birthdays"
            + (f"; {self.levels_changed} levels changed" if self.levels_changed else "")
            + (f"; {len(self.unpaid)} periods could not be paid in full" if self.unpaid else "")
        ]
        lines += [f"  {c}" for c in self.closings if c.due]
        return "\n".join(lines)

    @property
    def busy(self) -> bool:
        return any(
            (
                self.points_expired,
                self.holds_expired,
                self.closings,
                self.birthdays,
                self.levels_changed,
            )
        )


def tick(now: datetime) -> TickReport:
    """Run every periodic job once; each commits item by item."""
    began = time.monotonic()
    settings = program.load()
    holds = checkout.expire_holds(now)
    periods = leaderboard.close_periods(now, settings)
    born = birthdays.emit(now, settings)
    points = expiry.expire_due(now)
    moved = level_job.tick(now)
    report = TickReport(
        points_expired=points,
        holds_expired=holds,
        closings=tuple(periods),
        birthdays=born,
        levels_changed=moved.changed,
    )
    runs.record(
        runs.Run(
            started_at=now.isoformat(),
            seconds=round(time.monotonic() - began, 3),
            points_expired=points,
            holds_expired=holds,
            periods_paid=report.periods_paid,
            birthdays=born,
        )
    )
    return report

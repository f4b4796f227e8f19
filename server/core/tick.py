"""Periodic work: expire points and checkout holds. Safe to run from several places at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from server.core import checkout, expiry


@dataclass(frozen=True)
class TickReport:
    points_expired: int
    holds_expired: int

    def __str__(self) -> str:
        return f"expired {self.points_expired} points and {self.holds_expired} checkout holds"


def tick(now: datetime) -> TickReport:
    """Run every periodic job once; each job commits item by item and is idempotent."""
    holds = checkout.expire_holds(now)
    points = expiry.expire_due(now)
    return TickReport(points_expired=points, holds_expired=holds)

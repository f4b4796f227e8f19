"""Calendar periods in the program's time zone: days, weeks from Monday, months."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache


@cache
def period_key(period: str, day: date) -> str:
    """The key of the period a local day falls in: d2026-03-02, w2026-10, m2026-03."""
    if period == "day":
        return f"d{day.isoformat()}"
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"w{year}-{week:02d}"
    return f"m{day.year}-{day.month:02d}"


def period_start(period: str, day: date) -> date:
    """The first day of the period a local day falls in."""
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)

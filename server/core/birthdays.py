"""Each member's `birthday` event, once a year, on their birthday in the program's zone."""

from __future__ import annotations

import calendar
from datetime import datetime

from server.core import events, idempotency
from server.core.program import ProgramSettings
from server.store.models import Member


def emit(now: datetime, settings: ProgramSettings) -> int:
    """Record today's birthdays; a member born on 29 February celebrates on the 28th in
    other years. Keyed by member and year, so reruns and other processes add nothing."""
    today = settings.local_day(now)
    days = [today.strftime("%m-%d")]
    if days[0] == "02-28" and not calendar.isleap(today.year):
        days.append("02-29")
    emitted = 0
    for member in Member.select(Member.id).where(Member.birthday_md.in_(days)):
        outcome = idempotency.run_once(
            idempotency.PROGRAM,
            f"birthday:{member.id}:{today.year}",
            "birthday",
            {"member": member.id, "year": today.year},
            now,
            lambda m=member.id: (
                events.record(
                    m,
                    "birthday",
                    now=now,
                    settings=settings,
                    attributes={"year": today.year},
                    by_program=True,
                ).id
            ),
        )
        emitted += not outcome.replayed
    return emitted

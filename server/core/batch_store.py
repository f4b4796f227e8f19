"""The engine's store over what a batch of events read (server/core/ingest.py).

The set-based path reads every member, counter and period counter a batch may need at
once; the engine (`engine.judge`) then decides each event against this store exactly as
one-by-one against the database. An event's changes are drafted, kept only if the event
is accepted (`keep`) or dropped with it (`drop`), and what moved is written once at the
end of the batch.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from server.core import badges, budgets, streaks
from server.core.batch_sql import Member, period_counters
from server.core.engine import Counter, Grant, message_rate


class BatchStore:
    """The engine's store over what the batch read; each event's changes are kept only if
    the event is accepted (`keep`) and written at the end."""

    def __init__(self, members: dict[int, Member]) -> None:
        self.members = members
        self.counters: dict[tuple[int, str], Counter] = {}
        self.new_counters: set[tuple[int, str]] = set()
        self.active_moved: dict[tuple[int, str], int] = defaultdict(int)
        self.periods: dict[tuple[int, str, str], tuple[int, int]] = {}
        self.read_keys: set[tuple[int, str, str]] = set()  # (member, scope, period) read
        self.period_moved: dict[tuple[int, str, str], tuple[int, int]] = {}
        self.messages: dict[int, list[str]] = {}
        self.messages_moved: set[int] = set()
        self._draft: dict[str, dict] = _empty()
        self.rate = message_rate()  # read once a batch: settings are the same throughout
        self.budget_taken: list[tuple[str, int]] = []
        self.budgets_kept: set[str] = set()  # campaigns whose budget accepted events took
        self.levels: dict = {}  # member -> the level multiplying their awards
        # Badges and streak protection (server/core/badges.py, streaks.py): read only when
        # a badge rule fires or check-in days were missed.
        self.held_badges: dict[int, set[str]] = {}
        self.freezes: dict[int, int] = {}  # freezes held
        self.covered: dict[int, list] = defaultdict(list)  # days freezes covered
        self.paid: dict[tuple[int, date, str], int] = defaultdict(int)

    # -- the engine's Store ---------------------------------------------------------
    def counter(self, member_id: int, event_type: str) -> Counter | None:
        key = (member_id, event_type)
        draft = self._draft["counters"]
        return draft[key] if key in draft else self.counters.get(key)

    def save_counter(self, member_id: int, event_type: str, c: Counter, new: bool) -> None:
        self._draft["counters"][(member_id, event_type)] = c

    def used(self, member_id: int, scope: str, period: str) -> tuple[int, int]:
        key = (member_id, scope, period)
        draft = self._draft["periods"]
        if key in draft:
            return draft[key]
        if key not in self.read_keys:  # not foreseen: read it now
            self.periods.update(period_counters({key}))
            self.read_keys.add(key)
        return self.periods.get(key, (0, 0))

    def add_use(self, member_id: int, scope: str, period: str, points: int) -> None:
        times, total = self.used(member_id, scope, period)
        self._draft["periods"][(member_id, scope, period)] = (times + 1, total + points)

    def take_budget(self, campaign, points: int) -> int:
        taken = budgets.take(campaign.key, points)  # a database row: exact across processes
        self.budget_taken.append((campaign.key, taken))
        return taken

    def joined_at(self, member_id: int) -> datetime | None:
        return self.members[member_id].joined_at

    def message_rate(self) -> int:
        return self.rate

    def recent_messages(self, member_id: int) -> list[str]:
        draft = self._draft["messages"]
        return draft[member_id] if member_id in draft else self.messages.get(member_id, [])

    def remember_messages(self, member_id: int, recent: list[str]) -> None:
        self._draft["messages"][member_id] = recent

    def level_multiplier(self, member_id: int):
        return self.levels.get(member_id)

    def cover_missed(self, member_id: int, after: date, before: date) -> bool:
        missed = (before - after).days - 1
        draft = self._draft["freezes"]
        if member_id not in self.freezes:
            self.freezes[member_id] = streaks.freezes_held(member_id)
        held = draft.get(member_id, self.freezes[member_id])
        if not 0 < missed <= held:
            return False
        draft[member_id] = held - missed
        self._draft["covered"][member_id] = [
            after + timedelta(days=n) for n in range(1, missed + 1)
        ]
        return True

    def earn_badge(self, member_id: int, badge: str, rule) -> None:
        drafted = self._draft["badges"]
        if member_id not in self.held_badges:
            self.held_badges.update(badges.held_keys([member_id]) or {member_id: set()})
        if badge in self.held_badges.get(member_id, ()) or any(b == badge for _, b, _ in drafted):
            return
        drafted.append((member_id, badge, rule.campaign))

    def earned_badges(self) -> list[tuple[int, str, str]]:
        """The badges the event being decided earned (read before `keep`)."""
        return list(self._draft["badges"])

    # -- one event at a time ---------------------------------------------------------
    def begin(self) -> None:
        self._draft = _empty()
        self.budget_taken = []

    def keep(self) -> None:
        draft = self._draft
        if self.budget_taken:
            self.budgets_kept.update(c for c, taken in self.budget_taken if taken > 0)
        counters = self.counters
        for key, c in draft["counters"].items():
            previous = counters.get(key)
            if previous is None:
                self.new_counters.add(key)
                self.active_moved[key] += c.active
            else:
                self.active_moved[key] += c.active - previous.active
            counters[key] = c
        periods, period_moved = self.periods, self.period_moved
        for key, value in draft["periods"].items():
            before = periods.get(key, (0, 0))
            moved = period_moved.get(key, (0, 0))
            period_moved[key] = (
                moved[0] + value[0] - before[0],
                moved[1] + value[1] - before[1],
            )
            periods[key] = value
        for member_id, recent in draft["messages"].items():
            self.messages[member_id] = recent
            self.messages_moved.add(member_id)
        if draft["freezes"]:
            self.freezes.update(draft["freezes"])
        for member_id, days in draft["covered"].items():
            self.covered[member_id].extend(days)
        for member_id, badge, _ in draft["badges"]:
            self.held_badges.setdefault(member_id, set()).add(badge)
        self._draft = _empty()

    def note_paid(self, member_id: int, day: date, grants: list[Grant]) -> None:
        """A check-in was kept: the streak rules it paid are noted by the day they paid on
        (what a make-up that joins this run with another must not pay again)."""
        for g in grants:
            if g.streak is not None:
                self.paid[(member_id, day, g.rule_id)] += 1

    def drop(self) -> None:
        for campaign, taken in self.budget_taken:
            if taken > 0:
                budgets.give_back(campaign, taken)
        self._draft = _empty()


def _empty() -> dict[str, dict]:
    return {
        "counters": {},
        "periods": {},
        "messages": {},
        "freezes": {},
        "covered": {},
        "badges": [],
    }

"""Price a draft before it goes live: replay stored events against it, writing nothing.

The replay runs the engine's own `evaluate` over an in-memory store, from the first stored
event (so streaks, tiers and totals are what they would have been) up to `until`; only
awards for events in [since, until) are counted in the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import dsl
from dsl.ast import Streak, Total
from dsl.compiler import CompiledCampaign
from dsl.errors import RulesError
from server.core import leaderboard, levels, program
from server.core.engine import Counter, Grant, judge, message_rate
from server.core.errors import DomainError, ErrorCode
from server.core.event_input import instant_problem
from server.core.periods import period_key
from server.core.rules import InForce, _settings
from server.store.models import (
    CheckinMakeUp,
    Event,
    Member,
    StreakFreezeDay,
    StreakFreezePurchase,
)

BATCH = 2000
# A simulation's range: `to` at most this far after now (board closes still to come are
# walked period by period: an `every day` board to the year 9998 would never end), and
# `from` at most MAX_RANGE before `to`.
MAX_AHEAD = timedelta(days=3 * 366)
MAX_RANGE = timedelta(days=20 * 366)


@dataclass
class RuleCost:
    campaign: str
    line: int
    text: str
    points: int = 0
    awards: int = 0
    members: set[int] = field(default_factory=set)


@dataclass
class CampaignCost:
    campaign: str
    budget: int | None
    points: int = 0
    awards: int = 0
    members: set[int] = field(default_factory=set)
    budget_hit_at: datetime | None = None


@dataclass
class Simulation:
    since: datetime
    until: datetime
    events_replayed: int = 0
    events_in_range: int = 0
    campaigns: dict[str, CampaignCost] = field(default_factory=dict)
    rules: dict[str, RuleCost] = field(default_factory=dict)
    members: set[int] = field(default_factory=set)
    # (board, period key, scope) -> members who scored on it: the draft's boards as they
    # would have counted, so a closed period can be priced as the draft would pay it
    boards: dict[tuple[str, str, str], set[int]] = field(default_factory=dict)
    badges: dict[str, set[int]] = field(default_factory=dict)  # badge -> members reaching it
    protection: Protection | None = None  # streak freezes and make-ups at the draft's prices
    # the draft's leaderboard closes in (since, until], priced (server/core/leaderboard.py)
    closes: list[leaderboard.PricedClose] = field(default_factory=list)

    def places(self, every, period: str, scope: str) -> int:
        """How many places a draft board would have filled in a period (at most its top)."""
        return min(len(self.boards.get((every.board, period, scope), ())), every.top)


@dataclass
class Protection:
    """What members spent on streak protection in the range, priced by the draft: the
    freezes bought and make-up check-ins made, each within the draft's `at most`."""

    freezes: int = 0
    freeze_points: int = 0
    make_ups: int = 0
    make_up_points: int = 0
    refused: int = 0  # bought or made in the range, but beyond what the draft offers

    @property
    def points(self) -> int:
        return self.freeze_points + self.make_up_points


class MemoryStore:
    """The engine's store, in memory: a replay changes nothing stored."""

    def __init__(self) -> None:
        self.counters: dict[tuple[int, str], Counter] = {}
        self.periods: dict[tuple[int, str, str], list[int]] = {}
        self.spent: dict[str, int] = {}
        self.joined: dict[int, datetime | None] = {}
        self.budget_hit: dict[str, bool] = {}
        self.messages: dict[int, list[str]] = {}
        self.rate = message_rate()
        self.levels: dict[int, object] = {}
        self.ladder = None  # the draft's levels block (dsl.levels.Ladder)
        # Freezes as they were used live: a replay's run survives where the live one did.
        self.covered = {
            (m, d)
            for m, d in StreakFreezeDay.select(StreakFreezeDay.member, StreakFreezeDay.day).tuples()
        }
        self.held: set[tuple[int, str]] = set()
        self.reached: list[tuple[int, str]] = []  # badges earned by the event being replayed

    def counter(self, member_id: int, event_type: str) -> Counter | None:
        return self.counters.get((member_id, event_type))

    def save_counter(self, member_id: int, event_type: str, counter: Counter, new: bool) -> None:
        self.counters[(member_id, event_type)] = counter

    def used(self, member_id: int, scope: str, period: str) -> tuple[int, int]:
        times, points = self.periods.get((member_id, scope, period), (0, 0))
        return times, points

    def add_use(self, member_id: int, scope: str, period: str, points: int) -> None:
        row = self.periods.setdefault((member_id, scope, period), [0, 0])
        row[0] += 1
        row[1] += points

    def take_budget(self, campaign: CompiledCampaign, points: int) -> int:
        spent = self.spent.get(campaign.key, 0)
        taken = max(min(points, campaign.budget - spent), 0)
        self.spent[campaign.key] = spent + taken
        if spent + taken >= campaign.budget:
            self.budget_hit[campaign.key] = True
        return taken

    def joined_at(self, member_id: int) -> datetime | None:
        if member_id not in self.joined:
            self.joined[member_id] = Member.get_by_id(member_id).joined_at
        return self.joined[member_id]

    def recent_messages(self, member_id: int) -> list[str]:
        return self.messages.get(member_id, [])

    def message_rate(self) -> int:
        return self.rate

    def remember_messages(self, member_id: int, recent: list[str]) -> None:
        self.messages[member_id] = recent

    def level_multiplier(self, member_id: int):
        """The member's level now, on the draft's ladder: a simulation prices a level's
        perk as the draft writes it, for the levels members hold today."""
        if self.ladder is None:
            return None
        if member_id not in self.levels:
            step = self.ladder.step(levels.level_keys([member_id]).get(member_id))
            self.levels[member_id] = step if step is not None and step.multiply else None
        return self.levels[member_id]

    def cover_missed(self, member_id: int, after, before) -> bool:
        missed = (before - after).days - 1
        return missed > 0 and all(
            (member_id, after + timedelta(days=n)) in self.covered for n in range(1, missed + 1)
        )

    def earn_badge(self, member_id: int, badge: str, rule) -> None:
        if (member_id, badge) not in self.held:
            self.held.add((member_id, badge))
            self.reached.append((member_id, badge))


def simulate(
    files: list[tuple[str, str]],
    since: datetime,
    until: datetime,
    *,
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
    seconds: float | None = None,
) -> Simulation:
    """What a draft would have issued for the events stored in [since, until), and what
    its leaderboards would pay for the periods closing in it.

    `seconds`: stop with SIMULATION_TOO_LONG once it has run this long (None: no limit).
    """
    check_range(since, until, now)
    deadline = None if seconds is None else time.monotonic() + seconds
    compiled, diagnostics = dsl.load(files, today=now.date())
    if compiled is None:
        raise RulesError(diagnostics)
    settings = _settings(compiled.program) if compiled.program else program.load()
    draft = InForce(
        None,
        {key: 0 for key in compiled.campaigns},
        compiled.campaigns,
        compiled.by_event,
        compiled.multipliers_by_event,
    )
    report = Simulation(since, until)
    for key, campaign in compiled.campaigns.items():
        report.campaigns[key] = CampaignCost(key, campaign.budget)
        for rule in (*campaign.rules, *campaign.multipliers):
            report.rules[rule.rule_id] = RuleCost(key, rule.line, rule.text)
    store = MemoryStore()
    store.ladder = compiled.levels
    total = Event.select().where(Event.occurred_at < until).count()
    inviters: dict[tuple[int, str | None], int] = {}  # (invitee, community) -> inviter
    links: dict[tuple[int, str | None], list[tuple[Grant, bool]]] = {}
    for event in _events(until):
        report.events_replayed += 1
        in_range = event.occurred_at >= since
        report.events_in_range += in_range
        invitee = (event.attributes or {}).get("inviteeMemberId")
        if event.type == "referral":
            inviters.setdefault((invitee, event.community), event.member_id)
        try:
            # The live engine's own decision, abuse filter included: a re-join, a repeated
            # or flooding message earn nothing here either.
            day = settings.local_day(event.occurred_at)
            verdict = judge(event, day, draft, store)
            grants = verdict.grants
            if (event.attributes or {}).get("makeUp"):
                # A make-up check-in pays only what its run or total reaches.
                grants = [g for g in grants if _counts_run_or_total(draft, g)]
            if verdict.ignored is None:
                _score(report, draft, event, day, grants)
        except DomainError:
            grants = []  # the live engine refused it too: it was stored without awards
        for member_id, badge in store.reached:
            if in_range:
                report.badges.setdefault(badge, set()).add(member_id)
        store.reached.clear()
        for g in grants:
            for scope, period in g.periods:
                store.add_use(event.member_id, scope, period, g.points)
            if in_range:
                _count(report, g, event)
            if (
                g.campaign.budget is not None
                and store.budget_hit.get(g.campaign.key)
                and report.campaigns[g.campaign.key].budget_hit_at is None
            ):
                report.campaigns[g.campaign.key].budget_hit_at = event.occurred_at
            if g.until_invitee_leaves:
                links.setdefault((invitee, event.community), []).append((g, in_range))
        for key in store.budget_hit:
            if report.campaigns[key].budget_hit_at is None:
                report.campaigns[key].budget_hit_at = event.occurred_at
        if event.type == "leave":
            _invitee_left((event.member_id, event.community), inviters, links, store, report)
        if deadline is not None and time.monotonic() > deadline:
            _in_time(deadline, seconds)  # checked every event: a big draft is slow on each
        if progress is not None and report.events_replayed % BATCH == 0:
            progress(report.events_replayed, total)
    if progress is not None:
        progress(report.events_replayed, total)
    report.protection = _protection(settings, since, until)
    for campaign in compiled.campaigns.values():
        _in_time(deadline, seconds)
        report.closes.extend(
            leaderboard.price_closes(
                [campaign], since, until, now=now, settings=settings, places=report.places
            )
        )
    return report


def check_range(since: datetime, until: datetime, now: datetime) -> None:
    """A range a simulation can walk: instants the program can hold, `to` after `from`,
    at most MAX_AHEAD after now and at most MAX_RANGE long."""
    for name, value in (("from", since), ("to", until)):
        problem = instant_problem(value)
        if problem:
            raise DomainError(ErrorCode.INVALID_INPUT, f"`{name}` {problem}", name)
    if until <= since:
        raise DomainError(ErrorCode.INVALID_INPUT, "`to` must be after `from`", "to")
    if until > now + MAX_AHEAD:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"`to` may be at most {MAX_AHEAD.days // 366} years after now "
            f"(not after {(now + MAX_AHEAD).date().isoformat()})",
            "to",
        )
    if until - since > MAX_RANGE:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"a simulation covers at most {MAX_RANGE.days // 366} years: `from` may be no "
            f"earlier than {(until - MAX_RANGE).date().isoformat()}",
            "from",
        )


def _in_time(deadline: float | None, seconds: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise DomainError(
            ErrorCode.SIMULATION_TOO_LONG,
            f"the simulation ran longer than {seconds:g} seconds "
            "(JIFEN_SIMULATION_SECONDS) and was stopped: simulate a shorter range, or run "
            "`jifen rules simulate`, which has no limit",
            "to",
        )


def _counts_run_or_total(draft: InForce, g: Grant) -> bool:
    rule = next((r for r in draft.by_event.get("checkin", ()) if r.rule_id == g.rule_id), None)
    return rule is not None and any(isinstance(q, Streak | Total) for q in rule.source.qualifiers)


def _protection(settings, since: datetime, until: datetime) -> Protection:
    """Freezes bought and make-ups made in [since, until), at the draft's prices and
    within its `at most` (what it does not offer is counted as refused)."""
    out = Protection()
    offers = (
        (StreakFreezePurchase, settings.freeze_cost, settings.freeze_limit, settings.freeze_period),
        (CheckinMakeUp, settings.make_up_cost, settings.make_up_limit, settings.make_up_period),
    )
    for model, cost, limit, period in offers:
        rows = (
            model.select(model.member, model.created_at)
            .where(model.created_at >= since, model.created_at < until)
            .order_by(model.created_at)
            .tuples()
        )
        taken: dict[tuple[int, str], int] = {}
        for member_id, at in rows:
            if cost is None:
                out.refused += 1
                continue
            if limit is not None and period is not None:
                key = (member_id, period_key(period, settings.local_day(at)))
                if taken.get(key, 0) >= limit:
                    out.refused += 1
                    continue
                taken[key] = taken.get(key, 0) + 1
            if model is StreakFreezePurchase:
                out.freezes += 1
                out.freeze_points += cost
            else:
                out.make_ups += 1
                out.make_up_points += cost
    return out


def _score(report: Simulation, draft: InForce, event: Event, day, grants: list[Grant]) -> None:
    """Count the event on the draft's boards, as the live engine counts on the live ones."""
    attributes = {str(k).lower(): v for k, v in (event.attributes or {}).items()}
    earned = sum(g.points for g in grants if not g.pending)
    for campaign in draft.campaigns.values():
        for every in campaign.every:
            if every.metric == "points":
                counted = earned > 0
            else:
                counted = every.metric == event.type and (
                    every.counts is None or every.counts(attributes)
                )
            if counted:
                scope = campaign.community or ""
                if scope and scope != event.community:
                    continue
                key = (every.board, period_key(every.period, day), scope)
                report.boards.setdefault(key, set()).add(event.member_id)


def _count(report: Simulation, g: Grant, event: Event) -> None:
    cost = report.campaigns[g.campaign.key]
    cost.points += g.points
    cost.awards += 1
    cost.members.add(event.member_id)
    rule = report.rules[g.rule_id]
    rule.points += g.points
    rule.awards += 1
    rule.members.add(event.member_id)
    report.members.add(event.member_id)


def _invitee_left(key, inviters, links, store: MemoryStore, report: Simulation) -> None:
    """As live: the referral stops counting for tiers and its awards are taken back."""
    inviter = inviters.pop(key, None)
    if inviter is not None and (counter := store.counters.get((inviter, "referral"))):
        counter.active -= 1
    for g, counted in links.pop(key, []):
        if g.campaign.budget is not None:
            store.spent[g.campaign.key] -= g.points
            store.budget_hit.pop(g.campaign.key, None)
        if counted:
            report.campaigns[g.campaign.key].points -= g.points
            report.rules[g.rule_id].points -= g.points


def _events(until: datetime) -> Iterator[Event]:
    """Stored events in time order, a batch at a time."""
    last: tuple[datetime, int] | None = None
    while True:
        query = Event.select().where(Event.occurred_at < until)
        if last is not None:
            query = query.where(
                (Event.occurred_at > last[0])
                | ((Event.occurred_at == last[0]) & (Event.id > last[1]))
            )
        rows = list(query.order_by(Event.occurred_at, Event.id).limit(BATCH))
        if not rows:
            return
        yield from rows
        last = (rows[-1].occurred_at, rows[-1].id)

"""Events -> rules -> awards: every decision the rules make about one event.

For each event: the member's counters move (incrementally, never by scanning history),
the abuse filter may set the event aside (a re-join, a repeated or flooding message:
stored, but earning and counting for nothing), and the rules in force for its type run
in file order; limits and caps come from per-period counters, and a budgeted campaign's
budget is taken last.

Everything is read and written through a `Store`: the live path (server/core/ingest.py)
keeps it in memory for a batch of events and writes the outcome set-based; a simulation
(server/core/simulate.py) runs the very same decisions over a store that writes nothing.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR
from typing import Any, Protocol

from dsl.ast import Streak
from dsl.compiler import CompiledCampaign, CompiledMultiplier, CompiledRule, Facts
from server.core import level_perk
from server.core.errors import DomainError, ErrorCode
from server.core.ledger import MAX_POINTS
from server.core.periods import period_key
from server.core.rules import InForce


@dataclass(frozen=True)
class Grant:
    """An award the rules make for one event."""

    campaign: CompiledCampaign
    version: int
    rule_id: str
    line: int
    text: str
    points: int
    pending: bool
    until_invitee_leaves: bool
    periods: tuple[tuple[str, str], ...] = ()  # (scope, period key) counters it moves
    streak: int | None = None  # the run this award celebrates, for the activity feed
    boost: bool = False  # a campaign multiplier's extra on the award before it
    level_note: str | None = None  # the member's level multiplied it (server/core/level_perk.py)


@dataclass
class Counter:
    total: int = 0
    active: int = 0
    streak: int = 0
    last_day: date | None = None
    last_at: datetime | None = None


class Store(Protocol):
    """Where the engine keeps a member's running counts and a campaign's budget."""

    def counter(self, member_id: int, event_type: str) -> Counter | None: ...

    def save_counter(
        self, member_id: int, event_type: str, counter: Counter, new: bool
    ) -> None: ...

    def used(self, member_id: int, scope: str, period: str) -> tuple[int, int]: ...

    def add_use(self, member_id: int, scope: str, period: str, points: int) -> None: ...

    def take_budget(self, campaign: CompiledCampaign, points: int) -> int: ...

    def joined_at(self, member_id: int) -> datetime | None: ...

    def recent_messages(self, member_id: int) -> list[str]: ...

    def message_rate(self) -> int:
        """Messages a minute that may earn anything (the JIFEN_MESSAGE_RATE setting)."""
        ...

    def remember_messages(self, member_id: int, recent: list[str]) -> None: ...

    def cover_missed(self, member_id: int, after: date, before: date) -> bool:
        """Whether held streak freezes cover every day strictly between `after` and
        `before` (the check-in run survives); if so they are used up."""
        ...

    def earn_badge(self, member_id: int, badge: str, rule: CompiledRule) -> None:
        """A rule giving a badge fired: the member holds it from now (once, ever)."""
        ...


@dataclass(frozen=True)
class Verdict:
    """What the rules decided about one event: set aside (and why), or its awards."""

    ignored: str | None  # "rejoin", "duplicate", "flood", or None
    grants: list[Grant]


def judge(event: Any, day: date, rules: InForce, store: Store) -> Verdict:
    """Filter, then evaluate: the one decision the live engine and simulations share.

    EVENT_OUT_OF_ORDER (an event older than the member's latest of its type) is raised
    before anything moves.
    """
    _check_order(event, store)
    reason = _ignored(event, store)
    if reason is not None:
        return Verdict(reason, [])
    return Verdict(None, evaluate(event, day, rules, store))


def evaluate(event: Any, day: date, rules: InForce, store: Store) -> list[Grant]:
    """Move the member's counters and decide every award for one event.

    `event` needs type, member_id, community, occurred_at and attributes. Limits, caps
    and budgets are applied; the grants are final.
    """
    facts = _count(event, day, store)
    grants = _grants(event, facts, rules, day, store)
    return level_perk.apply(event.member_id, _within_budgets(grants, store), store)


def _check_order(event: Any, store: Store) -> None:
    counter = store.counter(event.member_id, event.type)
    if counter is not None and counter.last_at is not None and event.occurred_at < counter.last_at:
        raise DomainError(
            ErrorCode.EVENT_OUT_OF_ORDER,
            f"this member's latest `{event.type}` event happened at "
            f"{counter.last_at.isoformat()}, after this one",
            "occurredAt",
        )


def _count(event: Any, day: date, store: Store) -> Facts:
    _check_order(event, store)
    counter = store.counter(event.member_id, event.type)
    new = counter is None
    counter = counter or Counter()
    new_day = counter.last_day != day
    if not new_day:
        streak = counter.streak
    elif counter.last_day is not None and counter.last_day == day - timedelta(days=1):
        streak = counter.streak + 1
    elif (
        event.type == "checkin"
        and counter.last_day is not None
        and counter.last_day < day
        and store.cover_missed(event.member_id, counter.last_day, day)
    ):
        streak = counter.streak + 1  # freezes covered the missed days: they add nothing
    else:
        streak = 1
    moved = Counter(counter.total + 1, counter.active + 1, streak, day, event.occurred_at)
    store.save_counter(event.member_id, event.type, moved, new)
    joined = store.joined_at(event.member_id)
    since = (event.occurred_at - joined).total_seconds() / 86400 if joined else None
    attributes = {str(k).lower(): v for k, v in (event.attributes or {}).items()}
    return Facts(attributes, moved.active, moved.total, streak, new_day, since)


def _grants(event: Any, facts: Facts, rules: InForce, day: date, store: Store) -> list[Grant]:
    def applies(campaign: CompiledCampaign) -> bool:
        return campaign.active_on(day) and (
            campaign.community is None or campaign.community == event.community
        )

    # The largest multiplier in force wins; multipliers don't stack.
    booster: CompiledMultiplier | None = None
    for m in rules.multipliers.get(event.type, ()):
        if (
            applies(rules.campaigns[m.campaign])
            and m.condition(facts)
            and (booster is None or m.factor > booster.factor)
        ):
            booster = m
    grants: list[Grant] = []
    used: dict[tuple[str, str], int] = {}  # points granted earlier for this same event
    for rule in rules.by_event.get(event.type, ()):
        campaign = rules.campaigns[rule.campaign]
        if not applies(campaign):
            continue
        if rule.badge is not None and rule.reached(facts):
            store.earn_badge(event.member_id, rule.badge, rule)
        # An award computed from an attribute (`award 1 per 1 amount`) is at most the largest
        # posting: capped, never refused (docs/rules.md).
        points = min(rule.award(facts), MAX_POINTS)
        if points <= 0:
            continue
        grant = _grant(rule, campaign, rules.versions[campaign.key], points, day)
        points = _within_limits(event.member_id, rule, grant, day, store, used)
        if points <= 0:
            continue
        # A frozen Grant: one whose points stand is shared, not copied (replace is slow).
        grants.append(_note(used, _with_points(grant, points)))
        if booster is not None and booster.campaign != campaign.key:
            boosting = rules.campaigns[booster.campaign]
            bonus = int((points * (booster.factor - 1)).to_integral_value(ROUND_FLOOR))
            bonus = min(bonus, MAX_POINTS)
            extra = Grant(
                boosting,
                rules.versions[boosting.key],
                booster.rule_id,
                booster.line,
                booster.text,
                bonus,
                pending=grant.pending,
                until_invitee_leaves=grant.until_invitee_leaves,
                periods=_campaign_periods(boosting, day),
                boost=True,
            )
            bonus = _within_limits(event.member_id, None, extra, day, store, used)
            if bonus > 0:
                grants.append(_note(used, _with_points(extra, bonus)))
    return grants


def _with_points(g: Grant, points: int) -> Grant:
    return g if g.points == points else replace(g, points=points)


def _grant(
    rule: CompiledRule, campaign: CompiledCampaign, version: int, points: int, day: date
) -> Grant:
    # Only the periods some limit or cap reads are counted.
    source = rule.source
    own = sorted({p.period for p in (source.limit, source.cap) if p is not None})
    periods = tuple((f"rule:{rule.rule_id}", period_key(p, day)) for p in own)
    if rule.event == "join":
        periods += ((_welcome_scope(campaign), EVER),)
    streak = source.qualifier(Streak)
    return Grant(
        campaign,
        version,
        rule.rule_id,
        rule.line,
        rule.text,
        points,
        pending=source.after_review,
        until_invitee_leaves=source.until_invitee_leaves,
        periods=periods + _campaign_periods(campaign, day),
        streak=streak.days if streak is not None else None,
    )


EVER = "ever"  # the period key of what may happen once per member, ever


def _welcome_scope(campaign: CompiledCampaign) -> str:
    # Per campaign, not per rule: a republished campaign (new rule ids) welcomes nobody
    # twice, and joining made-up communities one after another earns one welcome.
    return f"join:{campaign.key}"


def _campaign_periods(campaign: CompiledCampaign, day: date) -> tuple[tuple[str, str], ...]:
    return tuple((f"campaign:{campaign.key}", period_key(cap.period, day)) for cap in campaign.caps)


def _note(used: dict[tuple[str, str], int], g: Grant) -> Grant:
    for key in g.periods:
        used[key] = used.get(key, 0) + g.points
    return g


def _within_limits(
    member_id: int,
    rule: CompiledRule | None,
    g: Grant,
    day: date,
    store: Store,
    used: dict[tuple[str, str], int],
) -> int:
    """Cut an award to the rule's `limit` and the rule's and campaign's `max` caps."""
    points = g.points
    if rule is not None and rule.event == "join":
        times, _ = store.used(member_id, _welcome_scope(g.campaign), EVER)
        if times:
            return 0  # a member is welcomed once per campaign, however many groups they join
    if rule is not None and (limit := rule.source.limit) is not None:
        scope = f"rule:{rule.rule_id}"
        times, _ = store.used(member_id, scope, period_key(limit.period, day))
        if times >= limit.times:
            return 0
    caps = [(f"campaign:{g.campaign.key}", cap) for cap in g.campaign.caps]
    if rule is not None and rule.source.cap is not None:
        caps.append((f"rule:{rule.rule_id}", rule.source.cap))
    for scope, cap in caps:
        key = period_key(cap.period, day)
        _, counted = store.used(member_id, scope, key)
        points = min(points, cap.points - counted - used.get((scope, key), 0))
    return max(points, 0)


def _within_budgets(grants: list[Grant], store: Store) -> list[Grant]:
    # Budget rows are shared by every member's awards: touch them after everything else
    # this event reads, and only as much as the award needs.
    out = []
    for g in grants:
        if g.campaign.budget is not None:
            taken = store.take_budget(g.campaign, g.points)
            if taken <= 0:
                continue
            g = replace(g, points=taken)
        out.append(g)
    return out


MESSAGE_MEMORY = 5  # how many of a member's recent messages a repeat is compared with
FLOOD = "flood:message"  # the period counter of a member's messages per minute


def message_rate() -> int:
    """Messages a minute that may earn anything (JIFEN_MESSAGE_RATE, default 10)."""
    from server.config import settings

    return settings().message_rate


def flood_minute(at: datetime) -> str:
    """The period key of the minute a message was sent in (fits the 16 characters)."""
    return at.strftime("t%Y%m%d%H%M")


def _ignored(event: Any, store: Store) -> str | None:
    """Why an event that farms points earns nothing and counts for nothing, if it does: a
    re-join's `join`, a message repeating one of the member's recent ones, and messages
    beyond the rate."""
    attributes = event.attributes or {}
    if event.type == "join" and attributes.get("rejoin"):
        return "rejoin"
    if event.type != "message":
        return None
    minute = flood_minute(event.occurred_at)
    times, _ = store.used(event.member_id, FLOOD, minute)
    store.add_use(event.member_id, FLOOD, minute, 0)
    if times >= store.message_rate():
        return "flood"
    content = attributes.get("contentHash") or attributes.get("text")
    if content is None:
        return None
    recent = store.recent_messages(event.member_id)
    fingerprint = message_fingerprint(content)
    if fingerprint in recent:
        return "duplicate"
    store.remember_messages(event.member_id, [*recent, fingerprint][-MESSAGE_MEMORY:])
    return None


def message_fingerprint(content: Any) -> str:
    """One message however it is spaced, cased or written (full-width letters, ideographic
    spaces): NFKC, then runs of white space as one space, then case folded."""
    text = " ".join(unicodedata.normalize("NFKC", str(content)).split()).casefold()
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def reads(event_type: str, rules: InForce, day: date) -> set[tuple[str, str]]:
    """The (scope, period) counters deciding an event of this type on `day` may read."""
    out: set[tuple[str, str]] = set()
    for rule in rules.by_event.get(event_type, ()):
        campaign = rules.campaigns[rule.campaign]
        source = rule.source
        for limit in (source.limit, source.cap):
            if limit is not None:
                out.add((f"rule:{rule.rule_id}", period_key(limit.period, day)))
        out |= set(_campaign_periods(campaign, day))
        if rule.event == "join":
            out.add((_welcome_scope(campaign), EVER))
    for m in rules.multipliers.get(event_type, ()):
        out |= set(_campaign_periods(rules.campaigns[m.campaign], day))
    return out

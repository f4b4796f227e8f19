"""Events -> rules -> awards, inside the event's own database transaction.

For each event: the member's counters move (incrementally, never by scanning history),
the rules in force for that event type run in file order, and each award becomes a
ledger transaction naming the event, campaign, version and rule line. Limits and caps
come from per-period counters; a campaign's budget row is touched last.

The decisions (`evaluate`) read and write counters through a `Store`, so a simulation
can run the very same code over an in-memory store without writing anything.
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
from server.core import accounts, budgets, notify, standings
from server.core.accounts import AccountKind
from server.core.errors import DomainError, ErrorCode
from server.core.ledger import Cause, Leg, post
from server.core.periods import period_key
from server.core.program import ProgramSettings
from server.core.rules import InForce, book
from server.store import sql
from server.store.db import is_postgres, transaction_memo
from server.store.models import (
    AwardLink,
    Event,
    LedgerTransaction,
    Member,
    MessageMemory,
    Review,
)
from server.store.sql import Sql


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


def evaluate(event: Any, day: date, rules: InForce, store: Store) -> list[Grant]:
    """Move the member's counters and decide every award for one event.

    `event` needs type, member_id, community, occurred_at and attributes. Limits, caps
    and budgets are applied; the grants are final.
    """
    facts = _count(event, day, store)
    grants = _grants(event, facts, rules, day, store)
    return _within_budgets(grants, store)


def process(
    event: Event,
    settings: ProgramSettings,
    *,
    now: datetime,
    reviewed: bool = False,
    held: bool = False,
) -> list[LedgerTransaction]:
    """Run the rules on a stored event; returns the transactions it caused.

    `reviewed`: a person already approved this event (a task submission), so awards
    `after review` are made spendable at once instead of waiting for a second review.
    `held`: the caller already holds the member (hold_member) and put the event in order.
    """
    if not held:
        _hold_in_order(event)
    day = settings.local_day(event.occurred_at)
    if _ignored(event):
        return []
    grants = evaluate(event, day, book.at(event.occurred_at), DB)
    if reviewed:
        grants = [replace(g, pending=False) for g in grants]
    paid = [_pay(g, event, settings, now) for g in grants]
    # Leaderboards: the event counts for its type, and what it earned counts as points.
    standings.count(event.type, event.member_id, event.community, event.occurred_at, day)
    earned = sum(g.points for g in grants if not g.pending)
    if earned:
        standings.count("points", event.member_id, event.community, event.occurred_at, day, earned)
    return paid


def _count(event: Any, day: date, store: Store) -> Facts:
    counter = store.counter(event.member_id, event.type)
    new = counter is None
    counter = counter or Counter()
    if counter.last_at is not None and event.occurred_at < counter.last_at:
        raise DomainError(
            ErrorCode.EVENT_OUT_OF_ORDER,
            f"this member's latest `{event.type}` event happened at "
            f"{counter.last_at.isoformat()}, after this one",
            "occurredAt",
        )
    new_day = counter.last_day != day
    if not new_day:
        streak = counter.streak
    elif counter.last_day is not None and counter.last_day == day - timedelta(days=1):
        streak = counter.streak + 1
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
        points = rule.award(facts)
        if points <= 0:
            continue
        grant = _grant(rule, campaign, rules.versions[campaign.key], points, day)
        points = _within_limits(event.member_id, rule, grant, day, store, used)
        if points <= 0:
            continue
        grants.append(_note(used, replace(grant, points=points)))
        if booster is not None and booster.campaign != campaign.key:
            boosting = rules.campaigns[booster.campaign]
            bonus = int((points * (booster.factor - 1)).to_integral_value(ROUND_FLOOR))
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
            )
            bonus = _within_limits(event.member_id, None, extra, day, store, used)
            if bonus > 0:
                grants.append(_note(used, replace(extra, points=bonus)))
    return grants


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


def message_rate() -> int:
    """Messages a minute that may earn anything (JIFEN_MESSAGE_RATE, default 10)."""
    from server.config import settings

    return settings().message_rate


def _ignored(event: Event) -> bool:
    """Events that farm points earn nothing and count for nothing: a re-join's `join`, a
    message repeating one of the member's recent ones, and messages beyond the rate."""
    attributes = event.attributes or {}
    reason = None
    if event.type == "join" and attributes.get("rejoin"):
        reason = "rejoin"
    elif event.type == "message":
        reason = _spam(event, attributes)
    if reason is None:
        return False
    if reason != "rejoin":
        event.attributes = {**attributes, "ignored": reason}
        Event.update(attributes=event.attributes).where(Event.id == event.id).execute()
    return True


def _spam(event: Event, attributes: dict) -> str | None:
    minute = event.occurred_at.strftime("t%Y%m%d%H%M")  # fits the 16-character period
    times, _ = DB.used(event.member_id, "flood:message", minute)
    DB.add_use(event.member_id, "flood:message", minute, 0)
    if times >= message_rate():
        return "flood"
    content = attributes.get("contentHash") or attributes.get("text")
    if content is None:
        return None
    # One message however it is spaced, cased or written (full-width letters, ideographic
    # spaces): NFKC, then runs of white space as one space, then case folded.
    text = " ".join(unicodedata.normalize("NFKC", str(content)).split()).casefold()
    fingerprint = hashlib.sha256(text.encode()).hexdigest()[:16]
    memory = MessageMemory.get_or_none(MessageMemory.member == event.member_id)
    recent = list(memory.recent) if memory else []
    if fingerprint in recent:
        return "duplicate"
    recent = [*recent, fingerprint][-MESSAGE_MEMORY:]
    (
        MessageMemory.insert(member=event.member_id, recent=recent)
        .on_conflict(conflict_target=[MessageMemory.member], update={MessageMemory.recent: recent})
        .execute()
    )
    return None


_COUNTER = Sql(
    "SELECT total, active, streak, last_day, last_at FROM member_counter "
    "WHERE member_id = ? AND event_type = ?"
)
_COUNTER_NEW = Sql(
    "INSERT INTO member_counter (member_id, event_type, total, active, streak, last_day, "
    "last_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# `active` moves by difference: a referral revoked meanwhile must stay revoked.
_COUNTER_MOVE = Sql(
    "UPDATE member_counter SET total = ?, active = active + 1, streak = ?, last_day = ?, "
    "last_at = ? WHERE member_id = ? AND event_type = ?"
)
_USED = Sql(
    "SELECT times, points FROM period_counter WHERE member_id = ? AND scope = ? AND period = ?"
)
_ADD_USE = Sql(
    "INSERT INTO period_counter (member_id, scope, period, times, points) "
    "VALUES (?, ?, ?, 1, ?) ON CONFLICT (member_id, scope, period) "
    "DO UPDATE SET times = period_counter.times + 1, points = period_counter.points + ?"
)
_JOINED = Sql("SELECT joined_at FROM member WHERE id = ?")
# The member's row lock serializes their events across connections and processes; FOR NO
# KEY UPDATE leaves alone the key-share locks that inserts referencing the member take.
_HOLD = Sql(
    "SELECT joined_at FROM member WHERE id = ?",
    postgres="SELECT joined_at FROM member WHERE id = ? FOR NO KEY UPDATE",
)
# A statement of its own, after the lock: one statement sees the rows of its snapshot,
# taken before it waited for the lock.
_LATEST = Sql("SELECT last_at FROM member_counter WHERE member_id = ? AND event_type = ?")
_RESTAMP = Sql("UPDATE event SET occurred_at = ? WHERE id = ?")


class DatabaseStore:
    """The engine's counts and budgets in the database, inside the caller's transaction."""

    def counter(self, member_id: int, event_type: str) -> Counter | None:
        # Read, then written back whole by save_counter: safe because every event of the
        # member is decided under hold_member's lock (SQLite: the one writer).
        row = _COUNTER.one(member_id, event_type)
        if row is None:
            return None
        total, active, streak, last_day, last_at = row
        return Counter(total, active, streak, sql.read_date(last_day), sql.read_instant(last_at))

    def save_counter(self, member_id: int, event_type: str, c: Counter, new: bool) -> None:
        last_day, last_at = sql.day(c.last_day), sql.instant(c.last_at)
        if new:
            _COUNTER_NEW.run(member_id, event_type, c.total, c.active, c.streak, last_day, last_at)
        else:
            _COUNTER_MOVE.run(c.total, c.streak, last_day, last_at, member_id, event_type)

    def used(self, member_id: int, scope: str, period: str) -> tuple[int, int]:
        row = _USED.one(member_id, scope, period)
        return (row[0], row[1]) if row is not None else (0, 0)

    def add_use(self, member_id: int, scope: str, period: str, points: int) -> None:
        _ADD_USE.run(member_id, scope, period, points, points)

    def take_budget(self, campaign: CompiledCampaign, points: int) -> int:
        return budgets.take(campaign.key, points)

    def joined_at(self, member_id: int) -> datetime | None:
        return joined_at(member_id)


DB = DatabaseStore()


def joined_at(member_id: int, field_name: str = "memberId") -> datetime | None:
    """When the member first joined (None: never), read once per write transaction;
    MEMBER_NOT_FOUND naming `field_name` when there is no such member."""
    memo = transaction_memo()
    if ("joined", member_id) not in memo:
        row = _JOINED.one(member_id)
        if row is None:
            raise DomainError(
                ErrorCode.MEMBER_NOT_FOUND, f"no member with id {member_id}", field_name
            )
        memo["joined", member_id] = sql.read_instant(row[0])
    return memo["joined", member_id]


def hold_member(member_id: int, field_name: str = "memberId") -> None:
    """Hold the member until the transaction ends, so that their events are decided one at
    a time: on PostgreSQL this locks the member's row; on SQLite the write lock already
    serializes every transaction. MEMBER_NOT_FOUND naming `field_name` when there is no
    such member."""
    memo = transaction_memo()
    if ("joined", member_id) in memo and not is_postgres():
        return  # SQLite: nothing to lock, and this transaction already found the member
    row = _HOLD.one(member_id)
    if row is None:
        raise DomainError(ErrorCode.MEMBER_NOT_FOUND, f"no member with id {member_id}", field_name)
    memo["joined", member_id] = sql.read_instant(row[0])


def latest(member_id: int, event_type: str) -> datetime | None:
    """When the member's latest `event_type` event happened (None: never); read it after
    hold_member, so no event of theirs can be decided meanwhile."""
    row = _LATEST.one(member_id, event_type)
    return sql.read_instant(row[0]) if row is not None else None


def _hold_in_order(event: Event) -> None:
    """For events stored without events.record (joins, referrals, leaves): hold the member,
    and move an event stamped by the program's clock up to the member's latest one of its
    type, which a concurrent request may have stamped later while this one waited."""
    hold_member(event.member_id)
    if event.occurred_at != event.recorded_at:
        return
    last = latest(event.member_id, event.type)
    if last is not None and event.occurred_at < last:
        event.occurred_at = last
        _RESTAMP.run(sql.instant(last), event.id)


def _pay(g: Grant, event: Event, settings: ProgramSettings, now: datetime) -> LedgerTransaction:
    member_id = event.member_id
    wallet = accounts.posting_wallet(
        member_id, AccountKind.PENDING if g.pending else AccountKind.AVAILABLE
    )
    issuance = accounts.program_account(AccountKind.ISSUANCE, g.campaign.key)
    txn = post(
        "award",
        [Leg(wallet, g.points), Leg(issuance, -g.points)],
        now=now,
        member_id=member_id,
        cause=Cause(
            event_id=event.id,
            campaign=g.campaign.key,
            campaign_version=g.version,
            rule_line=g.line,
            rule_text=g.text,
        ),
        expires_at=None if g.pending else settings.expiry_for(now),
    )
    for scope, period in g.periods:
        DB.add_use(member_id, scope, period, g.points)
    if g.pending:
        Review.create(
            txn=txn, member=member_id, campaign=g.campaign.key, points=g.points, created_at=now
        )
    if g.streak is not None:
        member = Member.get_by_id(member_id)
        notify.announce(
            event.community,
            "streak",
            member,
            f"{member.display_name or member.external_id} reached a "
            f"{g.streak}-day {event.type} streak",
            now,
        )
    if g.until_invitee_leaves:
        invitee = (event.attributes or {}).get("inviteeMemberId")
        if invitee is not None:
            AwardLink.create(txn=txn, invitee=invitee, community=event.community)
    return txn

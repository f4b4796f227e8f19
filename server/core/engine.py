"""Events -> rules -> awards, inside the event's own database transaction.

For each event: the member's counters move (incrementally, never by scanning history),
the rules in force for that event type run in file order, and each award becomes a
ledger transaction naming the event, campaign, version and rule line. Limits and caps
come from per-period counters; a campaign's budget row is touched last.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR

from peewee import Case

from dsl.compiler import CompiledCampaign, CompiledMultiplier, CompiledRule, Facts
from server.core import accounts
from server.core.accounts import AccountKind
from server.core.errors import DomainError, ErrorCode
from server.core.ledger import Cause, Leg, post
from server.core.program import ProgramSettings
from server.core.rules import InForce, book
from server.store.models import (
    AwardLink,
    CampaignBudget,
    Event,
    LedgerTransaction,
    Member,
    MemberCounter,
    PeriodCounter,
    Review,
)


@dataclass(frozen=True)
class Grant:
    """An award the rules want to make, before budgets."""

    campaign: CompiledCampaign
    version: int
    rule_id: str
    line: int
    text: str
    points: int
    pending: bool
    until_invitee_leaves: bool
    periods: tuple[tuple[str, str], ...] = ()  # (scope, period) counters this award moves


def period_key(period: str, day: date) -> str:
    """The calendar period a local day falls in (weeks start on Monday)."""
    if period == "day":
        return f"d{day.isoformat()}"
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"w{year}-{week:02d}"
    return f"m{day.year}-{day.month:02d}"


def process(event: Event, settings: ProgramSettings, *, now: datetime) -> list[LedgerTransaction]:
    """Run the rules on a stored event; returns the transactions it caused."""
    member = Member.get_by_id(event.member_id)
    day = settings.local_day(event.occurred_at)
    facts = _count(event, member, day)
    rules = book.at(event.occurred_at)
    grants = _grants(event, facts, rules, day)
    return [_pay(g, event, day, settings, now) for g in _within_budgets(grants)]


def _count(event: Event, member: Member, day: date) -> Facts:
    counter = MemberCounter.get_or_none(
        MemberCounter.member == member.id, MemberCounter.event_type == event.type
    )
    if counter is None:
        counter = MemberCounter.create(member=member.id, event_type=event.type)
    elif counter.last_at is not None and event.occurred_at < counter.last_at:
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
    (
        MemberCounter.update(
            total=MemberCounter.total + 1,
            active=MemberCounter.active + 1,
            streak=streak,
            last_day=day,
            last_at=event.occurred_at,
        )
        .where(MemberCounter.member == member.id, MemberCounter.event_type == event.type)
        .execute()
    )
    joined = member.joined_at
    since = (event.occurred_at - joined).total_seconds() / 86400 if joined else None
    attributes = {str(k).lower(): v for k, v in (event.attributes or {}).items()}
    return Facts(attributes, counter.active + 1, counter.total + 1, streak, new_day, since)


def _grants(event: Event, facts: Facts, rules: InForce, day: date) -> list[Grant]:
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
    used: dict[tuple[str, str], int] = {}  # points granted earlier in this event
    for rule in rules.by_event.get(event.type, ()):
        campaign = rules.campaigns[rule.campaign]
        if not applies(campaign):
            continue
        points = rule.award(facts)
        if points <= 0:
            continue
        points = _within_limits(event.member_id, rule, campaign, points, day, used)
        if points <= 0:
            continue
        grants.append(_grant(rule, campaign, rules.versions[campaign.key], points))
        _note(used, grants[-1], day)
        if booster is not None and booster.campaign != campaign.key:
            bonus = int((points * (booster.factor - 1)).to_integral_value(ROUND_FLOOR))
            boosting = rules.campaigns[booster.campaign]
            bonus = _within_limits(event.member_id, None, boosting, bonus, day, used)
            if bonus > 0:
                grants.append(
                    Grant(
                        boosting,
                        rules.versions[boosting.key],
                        booster.rule_id,
                        booster.line,
                        booster.text,
                        bonus,
                        pending=rule.source.after_review,
                        until_invitee_leaves=rule.source.until_invitee_leaves,
                        periods=_campaign_periods(boosting),
                    )
                )
                _note(used, grants[-1], day)
    return grants


def _note(used: dict[tuple[str, str], int], g: Grant, day: date) -> None:
    for scope, period in g.periods:
        used[(scope, period_key(period, day))] = (
            used.get((scope, period_key(period, day)), 0) + g.points
        )


def _campaign_periods(campaign: CompiledCampaign) -> tuple[tuple[str, str], ...]:
    return tuple((f"campaign:{campaign.key}", cap.period) for cap in campaign.caps)


def _grant(rule: CompiledRule, campaign: CompiledCampaign, version: int, points: int) -> Grant:
    # Only the periods some limit or cap reads are counted.
    source = rule.source
    own = {p.period for p in (source.limit, source.cap) if p is not None}
    periods = tuple((f"rule:{rule.rule_id}", p) for p in sorted(own))
    return Grant(
        campaign,
        version,
        rule.rule_id,
        rule.line,
        rule.text,
        points,
        pending=source.after_review,
        until_invitee_leaves=source.until_invitee_leaves,
        periods=periods + _campaign_periods(campaign),
    )


def _within_limits(
    member_id: int,
    rule: CompiledRule | None,
    campaign: CompiledCampaign,
    points: int,
    day: date,
    used: dict[tuple[str, str], int],
) -> int:
    """Cut an award to the rule's `limit` and the rule's and campaign's `max` caps."""
    if rule is not None and (limit := rule.source.limit) is not None:
        counted = _period(member_id, f"rule:{rule.rule_id}", period_key(limit.period, day))
        if counted.times >= limit.times:
            return 0
    caps = [(f"campaign:{campaign.key}", cap) for cap in campaign.caps]
    if rule is not None and rule.source.cap is not None:
        caps.append((f"rule:{rule.rule_id}", rule.source.cap))
    for scope, cap in caps:
        key = period_key(cap.period, day)
        counted = _period(member_id, scope, key)
        points = min(points, cap.points - counted.points - used.get((scope, key), 0))
    return max(points, 0)


def _period(member_id: int, scope: str, period: str) -> PeriodCounter:
    row = PeriodCounter.get_or_none(
        PeriodCounter.member == member_id,
        PeriodCounter.scope == scope,
        PeriodCounter.period == period,
    )
    return row if row is not None else PeriodCounter(member=member_id, scope=scope, period=period)


def _within_budgets(grants: list[Grant]) -> list[Grant]:
    # Budget rows are shared by every member's awards: touch them after everything else
    # this event reads, and only as much as the award needs.
    out = []
    for g in grants:
        if g.campaign.budget is not None:
            taken = take_budget(g.campaign.key, g.points)
            if taken <= 0:
                continue
            if taken != g.points:
                g = replace(g, points=taken)
        out.append(g)
    return out


def take_budget(campaign: str, points: int) -> int:
    """Take up to `points` from a campaign's budget; returns what was taken (maybe 0)."""
    left = CampaignBudget.budget - CampaignBudget.spent
    take = Case(None, [(left < points, left)], points)
    rows = list(
        CampaignBudget.update(last_take=take, spent=CampaignBudget.spent + take)
        .where(CampaignBudget.campaign == campaign, CampaignBudget.budget.is_null(False))
        .returning(CampaignBudget.last_take)
        .execute()
    )
    return int(rows[0].last_take) if rows else points


def release_budget(campaign: str, points: int) -> None:
    """Give back budget when an award is taken back."""
    (
        CampaignBudget.update(spent=CampaignBudget.spent - points)
        .where(CampaignBudget.campaign == campaign, CampaignBudget.budget.is_null(False))
        .execute()
    )


def _pay(
    g: Grant, event: Event, day: date, settings: ProgramSettings, now: datetime
) -> LedgerTransaction:
    member_id = event.member_id
    wallet = accounts.wallet(member_id, AccountKind.PENDING if g.pending else AccountKind.AVAILABLE)
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
    _record_use(member_id, g, day)
    if g.pending:
        Review.create(
            txn=txn, member=member_id, campaign=g.campaign.key, points=g.points, created_at=now
        )
    if g.until_invitee_leaves:
        invitee = (event.attributes or {}).get("inviteeMemberId")
        if invitee is not None:
            AwardLink.create(txn=txn, invitee=invitee, community=event.community)
    return txn


def _record_use(member_id: int, g: Grant, day: date) -> None:
    for scope, period in g.periods:
        key = period_key(period, day)
        (
            PeriodCounter.insert(
                member=member_id, scope=scope, period=key, times=1, points=g.points
            )
            .on_conflict(
                conflict_target=[PeriodCounter.member, PeriodCounter.scope, PeriodCounter.period],
                update={
                    PeriodCounter.times: PeriodCounter.times + 1,
                    PeriodCounter.points: PeriodCounter.points + g.points,
                },
            )
            .execute()
        )

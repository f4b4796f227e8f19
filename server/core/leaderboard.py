"""Leaderboards kept up to date event by event, and `every PERIOD top N` paid once per period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from peewee import IntegrityError

from dsl.checker import METRIC_ALIASES
from dsl.compiler import CompiledEvery
from server.core import accounts, budgets, notify
from server.core.accounts import AccountKind
from server.core.errors import DomainError, ErrorCode
from server.core.ledger import Cause, Leg, post
from server.core.periods import period_key, period_start
from server.core.program import ProgramSettings
from server.core.rules import book
from server.core.standings import PERIODS
from server.store.db import database, write_transaction
from server.store.models import Member, PeriodPayout, Standing


@dataclass(frozen=True)
class Place:
    rank: int
    member_id: int
    score: int
    reached_at: datetime


def metric_name(metric: str) -> str:
    """`messages` -> `message`; `points` and event names as they are."""
    metric = metric.strip().lower()
    return METRIC_ALIASES.get(metric, metric)


def _ordered(metric: str, period: str, scope: str):
    return (
        Standing.select()
        .where(
            Standing.metric == metric,
            Standing.period == period,
            Standing.scope == scope,
            Standing.score > 0,
        )
        .order_by(Standing.score.desc(), Standing.reached_at, Standing.member)
    )


def top(metric: str, period: str, day: date, *, scope: str = "", first: int = 10) -> list[Place]:
    """The first places of a board: highest score, ties to whoever got there first."""
    if period not in PERIODS:
        raise DomainError(ErrorCode.INVALID_INPUT, "period must be day, week or month", "period")
    rows = _ordered(metric_name(metric), period_key(period, day), scope).limit(first)
    return [Place(i, r.member_id, r.score, r.reached_at) for i, r in enumerate(rows, start=1)]


def rank(metric: str, period: str, day: date, member_id: int, *, scope: str = "") -> Place | None:
    """A member's place on a board, or None without a score."""
    key = period_key(period, day)
    metric = metric_name(metric)
    mine = Standing.get_or_none(
        Standing.metric == metric,
        Standing.period == key,
        Standing.scope == scope,
        Standing.member == member_id,
    )
    if mine is None or mine.score <= 0:
        return None
    ahead = (
        Standing.select()
        .where(
            Standing.metric == metric,
            Standing.period == key,
            Standing.scope == scope,
            (Standing.score > mine.score)
            | (
                (Standing.score == mine.score)
                & (
                    (Standing.reached_at < mine.reached_at)
                    | ((Standing.reached_at == mine.reached_at) & (Standing.member < member_id))
                )
            ),
        )
        .count()
    )
    return Place(ahead + 1, member_id, mine.score, mine.reached_at)


def closed_periods(
    period: str, now: datetime, settings: ProgramSettings, back: int = 2
) -> list[tuple[str, datetime]]:
    """The last `back` periods that have ended: (key, end instant)."""
    start = period_start(period, settings.local_day(now))
    out = []
    for _ in range(back):
        end = datetime.combine(start, time(), settings.zone)
        previous = period_start(period, start - timedelta(days=1))
        out.append((period_key(period, previous), end))
        start = previous
    return out


def close_periods(now: datetime, settings: ProgramSettings) -> int:
    """Pay every `every PERIOD top N` rule for the periods that closed; returns payouts made.

    Each (campaign, rule, period) is claimed with a unique row before paying, in the same
    transaction as the payments: however many processes run this, each period pays once.
    """
    paid = 0
    for period in PERIODS:
        for key, end in closed_periods(period, now, settings):
            rules = book.at(end - timedelta(microseconds=1))
            for every in rules.every:
                if every.period != period:
                    continue
                campaign = rules.campaigns[every.campaign]
                with write_transaction():
                    if _pay_period(
                        every,
                        rules.versions[every.campaign],
                        campaign.community,
                        key,
                        end,
                        now,
                        settings,
                    ):
                        paid += 1
    return paid


def _pay_period(
    every: CompiledEvery,
    version: int,
    community: str | None,
    key: str,
    end: datetime,
    now: datetime,
    settings: ProgramSettings,
) -> bool:
    try:
        with database.atomic():
            PeriodPayout.create(
                campaign=every.campaign, rule_id=every.rule_id, period=key, paid_at=now
            )
    except IntegrityError:
        return False  # paid already, here or by another process
    winners = list(_ordered(every.metric, key, community or "").limit(every.top))
    paid = []
    for place, row in enumerate(winners, start=1):
        points = budgets.take(every.campaign, every.prize(place))
        if points <= 0:
            continue
        txn = post(
            "leaderboard",
            [
                Leg(accounts.program_account(AccountKind.ISSUANCE, every.campaign), -points),
                Leg(accounts.wallet(row.member_id, AccountKind.AVAILABLE), points),
            ],
            now=now,
            member_id=row.member_id,
            cause=Cause(
                campaign=every.campaign,
                campaign_version=version,
                rule_line=every.line,
                rule_text=every.text,
                reason=f"{every.period} {key[1:]} rank {place} by {every.metric_label}",
            ),
            expires_at=settings.expiry_for(now),
        )
        paid.append(
            {
                "rank": place,
                "memberId": row.member_id,
                "score": row.score,
                "points": points,
                "transactionId": txn.id,
            }
        )
        member = Member.get_by_id(row.member_id)
        notify.announce(
            community,
            "leaderboard",
            member,
            f"{member.display_name or member.external_id} placed {place} in the "
            f"{every.period} top {every.top} by {every.metric_label}",
            now,
        )
    PeriodPayout.update(winners=paid).where(
        PeriodPayout.campaign == every.campaign,
        PeriodPayout.rule_id == every.rule_id,
        PeriodPayout.period == key,
    ).execute()
    return bool(paid)

"""Leaderboards kept up to date event by event, and `every PERIOD top N` paid once per period."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from peewee import EXCLUDED, IntegrityError

from dsl.checker import METRIC_ALIASES
from dsl.compiler import CompiledCampaign, CompiledEvery
from server.core import accounts, budgets, notify, program, webhooks
from server.core.accounts import AccountKind
from server.core.errors import DomainError, ErrorCode
from server.core.ledger import Cause, Leg, post
from server.core.periods import period_key, period_start
from server.core.program import ProgramSettings
from server.core.rules import book
from server.core.standings import PERIODS
from server.store.db import write_transaction
from server.store.models import CampaignVersion, Member, PeriodPayout, Setting, Standing


@dataclass(frozen=True)
class Place:
    rank: int
    member_id: int
    score: int
    reached_at: datetime


def board_of(campaign: str, metric: str, period: str, at: datetime) -> str:
    """The standings a campaign's `every PERIOD top N by METRIC` board reads at `at`."""
    found = book.at(at).campaigns.get(campaign)
    name = metric_name(metric)
    for every in found.every if found is not None else ():
        if every.metric == name and every.period == period:
            return every.board
    raise DomainError(
        ErrorCode.INVALID_INPUT,
        f"campaign {campaign!r} has no {period} board by {metric} in force",
        "campaign",
    )


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


@dataclass(frozen=True)
class Closing:
    """One `every PERIOD top N` rule settled for one closed period."""

    campaign: str
    period: str  # the period's key: w2026-10
    file: str | None
    line: int
    text: str
    points: int = 0  # paid
    due: int = 0  # what the prize table gives the members on the board
    members: int = 0  # paid something
    problem: str | None = None  # why it could not pay in full

    @property
    def label(self) -> str:
        kind = {"d": "day", "w": "week", "m": "month"}[self.period[0]]
        where = f"{self.file}:{self.line}" if self.file else f"line {self.line}"
        return f"{self.campaign} {kind} {self.period[1:]} ({where})"

    def __str__(self) -> str:
        if self.problem is not None:
            return f"could not pay {self.label} in full: {self.problem}"
        if not self.due:
            return f"nothing to pay for {self.label}: nobody on the board"
        whom = "1 member" if self.members == 1 else f"{self.members} members"
        return f"paid {self.label}: {self.points:,} points to {whom}"


def period_of(key: str) -> tuple[str, date]:
    """A period key's kind and first day: `w2026-10` -> ("week", 2 March 2026)."""
    kind, rest = key[0], key[1:]
    if kind == "d":
        return "day", date.fromisoformat(rest)
    year, number = (int(part) for part in rest.split("-"))
    if kind == "w":
        return "week", date.fromisocalendar(year, number, 1)
    return "month", date(year, number, 1)


def next_start(period: str, start: date) -> date:
    """The first day of the period after the one starting on `start`."""
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def periods_between(
    period: str, after: datetime, until: datetime, settings: ProgramSettings
) -> list[tuple[str, datetime]]:
    """The periods that end in (after, until], oldest first: (key, end instant)."""
    out = []
    start = period_start(period, settings.local_day(after))
    while True:
        following = next_start(period, start)
        end = datetime.combine(following, time(), settings.zone)
        if end > until:
            return out
        if end > after:
            out.append((period_key(period, start), end))
        start = following


def close_periods(now: datetime, settings: ProgramSettings) -> list[Closing]:
    """Pay every `every PERIOD top N` rule for each period that closed and is unpaid,
    oldest first, and say what each paid or could not pay.

    Each kind of period is walked from where the last close left off (else from the last
    period paid, else from the first rules ever published), so periods missed while no
    scheduler ran are paid when one runs again. Each (campaign, rule, period) is claimed
    with a unique row before paying, in the same transaction as the payments: however many
    processes run this, each period pays once.
    """
    due = []
    for period in PERIODS:
        after = _closed_through(period, settings)
        if after is None:
            continue
        for key, end in periods_between(period, after, now, settings):
            due.append((end, PERIODS.index(period), period, key))
    due.sort()
    out: list[Closing] = []
    stuck: set[str] = set()  # kinds of period with one that must be tried again
    for end, _, period, key in due:
        rules = book.at(end - timedelta(microseconds=1))
        for every in rules.every:
            if every.period != period:
                continue
            campaign = rules.campaigns[every.campaign]
            try:
                with write_transaction():
                    closing = _pay_period(
                        every, rules.versions[every.campaign], campaign, key, now, settings
                    )
            except DomainError as exc:  # left unclaimed: the next close tries again
                closing = _closing(every, campaign, key, problem=exc.message)
                stuck.add(period)
            if closing is not None:
                out.append(closing)
        if period not in stuck:
            with write_transaction():
                _mark_closed(period, end)
    return out


@dataclass(frozen=True)
class PricedClose:
    """What one draft `every` rule would pay for one period, for a simulation."""

    campaign: str
    period: str
    file: str | None
    line: int
    text: str
    points: int
    ended: bool  # False: the period is not over, and `points` is the most it can pay

    @property
    def label(self) -> str:
        return Closing(self.campaign, self.period, self.file, self.line, self.text).label


def price_closes(
    campaigns: Iterable[CompiledCampaign],
    since: datetime,
    until: datetime,
    *,
    now: datetime,
    settings: ProgramSettings,
    places: Callable[[CompiledEvery, str, str], int] | None = None,
) -> list[PricedClose]:
    """Each `every` rule's closes that fall in (since, until], rule by rule, oldest first.

    A period over by `now` is priced at the prizes of the places members reached on its
    board — as `places` counts them (a simulation's replay), else as recorded; one that
    is not, at its whole prize table: the most it can cost. Budgets are not applied;
    nothing is written.
    """
    out = []
    for campaign in campaigns:
        for every in campaign.every:
            for key, end in periods_between(every.period, since, until, settings):
                ended = end <= now
                scope = campaign.community or ""
                filled = every.top
                if ended and places is not None:
                    filled = places(every, key, scope)
                elif ended:
                    filled = len(_ordered(every.board, key, scope).limit(every.top))
                points = sum(every.prize(rank) for rank in range(1, filled + 1))
                out.append(
                    PricedClose(
                        every.campaign,
                        key,
                        campaign.file,
                        every.line,
                        every.text,
                        points,
                        ended,
                    )
                )
    return out


_MARK = "periods_closed_through:"


def _closed_through(period: str, settings: ProgramSettings) -> datetime | None:
    """Every period of this kind that ends at or before this instant is settled."""
    value = program.setting(_MARK + period)
    if value is not None:
        return datetime.fromisoformat(value)
    last = (
        PeriodPayout.select(PeriodPayout.period)
        .where(PeriodPayout.period.startswith(period[0]))
        .order_by(PeriodPayout.period.desc())
        .first()
    )
    if last is not None:  # closed before the mark was kept: go on from the last one paid
        _, start = period_of(last.period)
        return datetime.combine(next_start(period, start), time(), settings.zone)
    first = CampaignVersion.select().order_by(CampaignVersion.activated_at).first()
    return first.activated_at if first is not None else None


def _mark_closed(period: str, end: datetime) -> None:
    # Only forward: a process that walked less must not undo one that walked more. The
    # fixed format (UTC, same width) orders as text the way the instants do.
    value = end.astimezone(UTC).isoformat()
    Setting.insert(key=_MARK + period, value=value).on_conflict(
        conflict_target=[Setting.key],
        update={Setting.value: EXCLUDED.value},
        where=(Setting.value < EXCLUDED.value),
    ).execute()


def _closing(every: CompiledEvery, campaign: CompiledCampaign, key: str, **fields) -> Closing:
    return Closing(every.campaign, key, campaign.file, every.line, every.text, **fields)


def _pay_period(
    every: CompiledEvery,
    version: int,
    campaign: CompiledCampaign,
    key: str,
    now: datetime,
    settings: ProgramSettings,
) -> Closing | None:
    """Pay one rule for one period (inside the caller's transaction); None if it was paid
    already, here or by another process."""
    try:
        with write_transaction():  # a savepoint: its notices go if it is undone
            PeriodPayout.create(
                campaign=every.campaign, rule_id=every.rule_id, period=key, paid_at=now
            )
    except IntegrityError:
        return None
    community = campaign.community
    winners = list(_ordered(every.board, key, community or "").limit(every.top))
    paid, due = [], 0
    for place, row in enumerate(winners, start=1):
        due += every.prize(place)
        points = budgets.take(every.campaign, every.prize(place))
        if points <= 0:
            continue
        webhooks.budgets_taken((every.campaign,), now)
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
                rule_file=campaign.file,
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
    points = sum(p["points"] for p in paid)
    problem = None
    if points < due:
        problem = f"the budget ran out; {points:,} of {due:,} points paid"
    return _closing(
        every, campaign, key, points=points, due=due, members=len(paid), problem=problem
    )

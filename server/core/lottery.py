"""Lotteries: a cost per draw, weighted prizes with stock, published odds, auditable draws."""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from server.core import accounts, catalog, members, notify
from server.core.accounts import AccountKind
from server.core.errors import DomainError, ErrorCode
from server.core.ledger import MAX_POINTS, Cause, Leg, post
from server.core.program import ProgramSettings
from server.store.models import (
    CatalogItem,
    Draw,
    Lottery,
    LotteryPrize,
    Member,
    Redemption,
)

KINDS = ("points", "item", "consolation")
REAL = ("points", "item")  # what a pity count guarantees
MAX_PRIZES = 50
_SYSTEM = secrets.SystemRandom()


@dataclass(frozen=True)
class PrizeInput:
    kind: str
    label: str
    weight: int
    points: int | None = None
    item_id: int | None = None
    stock: int | None = None


@dataclass(frozen=True)
class LotteryInput:
    title: str
    cost: int
    prizes: Sequence[PrizeInput]
    daily_limit: int | None = None
    budget: int | None = None
    miss_weight: int = 0
    guarantee_win: bool = False
    pity_count: int | None = None
    available_from: datetime | None = None
    available_until: datetime | None = None


@dataclass(frozen=True)
class Chance:
    prize: LotteryPrize | None  # None: drawing nothing
    weight: int

    @property
    def key(self) -> str:
        return str(self.prize.id) if self.prize is not None else "none"


def create(data: LotteryInput, *, now: datetime) -> Lottery:
    title = (data.title or "").strip()
    if not title or len(title) > 200:
        raise DomainError(ErrorCode.INVALID_INPUT, "title must be 1 to 200 characters", "title")
    if not 0 <= data.cost <= MAX_POINTS:
        raise DomainError(ErrorCode.INVALID_POINTS, "cost must be from 0 to 1,000,000,000", "cost")
    for name, value in (
        ("dailyLimit", data.daily_limit),
        ("pityCount", data.pity_count),
        ("budget", data.budget),
    ):
        if value is not None and value < 1:
            raise DomainError(ErrorCode.INVALID_INPUT, f"{name} must be 1 or more", name)
    if data.miss_weight < 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "missWeight must be 0 or more", "missWeight")
    if not 1 <= len(data.prizes) <= MAX_PRIZES:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"a lottery needs 1 to {MAX_PRIZES} prizes", "prizes"
        )
    if data.available_from and data.available_until and data.available_until <= data.available_from:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "availableUntil must be after availableFrom", "availableUntil"
        )
    for i, p in enumerate(data.prizes):
        _check_prize(p, f"prizes.{i}")
    if data.pity_count and not any(p.kind in REAL for p in data.prizes):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "a pity count needs a points or item prize", "pityCount"
        )
    lottery = Lottery.create(
        title=title,
        cost=data.cost,
        daily_limit=data.daily_limit,
        budget=data.budget,
        miss_weight=0 if data.guarantee_win else data.miss_weight,
        guarantee_win=data.guarantee_win,
        pity_count=data.pity_count,
        available_from=data.available_from,
        available_until=data.available_until,
        created_at=now,
    )
    for p in data.prizes:
        LotteryPrize.create(
            lottery=lottery,
            kind=p.kind,
            label=p.label.strip(),
            weight=p.weight,
            points=p.points,
            item=p.item_id,
            stock=p.stock,
            stock_added=p.stock or 0,
        )
    return lottery


def _check_prize(p: PrizeInput, field: str) -> None:
    if p.kind not in KINDS:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "kind must be points, item or consolation", f"{field}.kind"
        )
    if not p.label.strip() or len(p.label) > 200:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "label must be 1 to 200 characters", f"{field}.label"
        )
    if not 1 <= p.weight <= 1_000_000:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "weight must be from 1 to 1,000,000", f"{field}.weight"
        )
    if p.stock is not None and p.stock < 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "stock must be 0 or more", f"{field}.stock")
    if p.kind == "points" and not (p.points and 1 <= p.points <= MAX_POINTS):
        raise DomainError(
            ErrorCode.INVALID_POINTS,
            "a points prize needs points from 1 to 1,000,000,000",
            f"{field}.points",
        )
    if p.kind == "item":
        if p.item_id is None:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "an item prize needs an itemId", f"{field}.itemId"
            )
        catalog.get_item(p.item_id, f"{field}.itemId")


def get(lottery_id: int) -> Lottery:
    row = Lottery.get_or_none(Lottery.id == lottery_id)
    if row is None:
        raise DomainError(
            ErrorCode.LOTTERY_NOT_FOUND, f"no lottery with id {lottery_id}", "lotteryId"
        )
    return row


def retire(lottery_id: int, *, now: datetime) -> Lottery:
    """No more draws from now on; retiring a retired lottery changes nothing."""
    row = get(lottery_id)
    Lottery.update(retired_at=now).where(
        Lottery.id == row.id, Lottery.retired_at.is_null()
    ).execute()
    return row


def chances(lottery: Lottery, *, real_only: bool = False) -> list[Chance]:
    """What can be drawn now, with weights: prizes in stock (and within budget), and
    drawing nothing unless every draw must win."""
    out = []
    for prize in lottery.prizes.order_by(LotteryPrize.id):
        if real_only and prize.kind not in REAL:
            continue
        if _available(lottery, prize):
            out.append(Chance(prize, prize.weight))
    if lottery.miss_weight and not real_only:
        out.append(Chance(None, lottery.miss_weight))
    return out


def _available(lottery: Lottery, prize: LotteryPrize) -> bool:
    if prize.stock is not None and prize.stock <= 0:
        return False
    if (
        prize.kind == "points"
        and lottery.budget is not None
        and lottery.budget - lottery.budget_spent < prize.points
    ):
        return False
    if prize.kind == "item":
        item = prize.item
        return item.retired_at is None and (item.stock is None or item.stock > 0)
    return True


def odds(options: Sequence[Chance]) -> dict[str, float]:
    """Each option's probability: its weight over the total."""
    total = sum(c.weight for c in options)
    return {c.key: c.weight / total for c in options} if total else {}


def pick(options: Sequence[Chance], r: float) -> Chance:
    """The option a uniform r in [0, 1) falls on, walking the cumulative weights."""
    total = sum(c.weight for c in options)
    target = r * total
    running = 0
    for c in options:
        running += c.weight
        if target < running:
            return c
    return options[-1]


def draw(
    lottery_id: int,
    member_id: int,
    *,
    now: datetime,
    settings: ProgramSettings,
    rng: random.Random | None = None,
) -> Draw:
    """Spend the cost and draw once, all in the caller's transaction."""
    lottery = get(lottery_id)
    member = members.get(member_id)
    if (
        lottery.retired_at is not None
        or (lottery.available_from and now < lottery.available_from)
        or (lottery.available_until and now >= lottery.available_until)
    ):
        raise DomainError(
            ErrorCode.LOTTERY_NOT_ACTIVE, f"“{lottery.title}” is not open now", "lotteryId"
        )
    lottery_account = accounts.program_account(AccountKind.LOTTERY)
    cost_txn = (
        post(
            "lottery_draw",
            [
                Leg(accounts.wallet(member.id, AccountKind.AVAILABLE), -lottery.cost, spend=True),
                Leg(lottery_account, lottery.cost),
            ],
            now=now,
            member_id=member.id,
            cause=Cause(reason=f"draw in {lottery.title}"),
        )
        if lottery.cost
        else None
    )
    if cost_txn is None:
        # A free draw still takes the member's wallet row lock, so the daily limit below
        # counts every concurrent draw of this member.
        accounts.lock_wallet(member.id, AccountKind.AVAILABLE)
    day = settings.local_day(now)
    if lottery.daily_limit is not None:
        today = (
            Draw.select()
            .where(Draw.lottery == lottery.id, Draw.member == member.id, Draw.day == day)
            .count()
        )
        if today >= lottery.daily_limit:
            raise DomainError(
                ErrorCode.DRAW_LIMIT_REACHED,
                f"at most {lottery.daily_limit} draws a day in “{lottery.title}”",
                "lotteryId",
            )
    pity = lottery.pity_count is not None and _misses(lottery, member.id) >= lottery.pity_count
    options = chances(lottery, real_only=pity)
    r = (rng or _SYSTEM).random()
    while True:
        if not options:
            raise DomainError(
                ErrorCode.LOTTERY_SOLD_OUT, f"no prize is left in “{lottery.title}”", "lotteryId"
            )
        in_force = odds(options)
        chosen = pick(options, r)
        if chosen.prize is None or _take(lottery, chosen.prize):
            break
        # Out of stock since the odds were read: renormalize over what is left.
        options = [c for c in options if c is not chosen]
    return _award(lottery, member.id, chosen, r, in_force, pity, cost_txn, day, now, settings)


def _misses(lottery: Lottery, member_id: int) -> int:
    """Draws since this member's last real prize in this lottery."""
    count = 0
    recent = (
        Draw.select(Draw.outcome)
        .where(Draw.lottery == lottery.id, Draw.member == member_id)
        .order_by(Draw.id.desc())
        .limit(lottery.pity_count)
    )
    for d in recent:
        if d.outcome in REAL:
            break
        count += 1
    return count


def _take(lottery: Lottery, prize: LotteryPrize) -> bool:
    """Take one unit of the prize (and of its item, and of the budget); False if gone."""
    if prize.stock is not None:
        taken = (
            LotteryPrize.update(stock=LotteryPrize.stock - 1)
            .where(LotteryPrize.id == prize.id, LotteryPrize.stock >= 1)
            .execute()
        )
        if not taken:
            return False
    if prize.kind == "item":
        item = prize.item
        if item.stock is not None and not (
            CatalogItem.update(stock=CatalogItem.stock - 1)
            .where(CatalogItem.id == item.id, CatalogItem.stock >= 1)
            .execute()
        ):
            _give_back(prize)
            return False
    if prize.kind == "points" and lottery.budget is not None:
        taken = (
            Lottery.update(budget_spent=Lottery.budget_spent + prize.points)
            .where(Lottery.id == lottery.id, Lottery.budget_spent + prize.points <= Lottery.budget)
            .execute()
        )
        if not taken:
            _give_back(prize)
            return False
    return True


def _give_back(prize: LotteryPrize) -> None:
    if prize.stock is not None:
        LotteryPrize.update(stock=LotteryPrize.stock + 1).where(
            LotteryPrize.id == prize.id
        ).execute()


def _award(
    lottery: Lottery,
    member_id: int,
    chosen: Chance,
    r: float,
    in_force: dict[str, float],
    pity: bool,
    cost_txn,
    day,
    now: datetime,
    settings: ProgramSettings,
) -> Draw:
    prize = chosen.prize
    outcome = prize.kind if prize is not None else "none"
    prize_txn = redemption = None
    if outcome == "points":
        prize_txn = post(
            "lottery_prize",
            [
                Leg(accounts.program_account(AccountKind.LOTTERY), -prize.points),
                Leg(accounts.wallet(member_id, AccountKind.AVAILABLE), prize.points),
            ],
            now=now,
            member_id=member_id,
            cause=Cause(reason=f"{prize.label} in {lottery.title}"),
            expires_at=settings.expiry_for(now),
        )
    draw = Draw.create(
        lottery=lottery.id,
        member=member_id,
        day=day,
        random_value=repr(r),
        odds=in_force,
        prize=prize,
        outcome=outcome,
        pity=pity,
        cost_txn=cost_txn,
        prize_txn=prize_txn,
        created_at=now,
    )
    if outcome in REAL:
        member = Member.get_by_id(member_id)
        notify.announce(
            None,
            "lottery",
            member,
            f"{member.display_name or member.external_id} won {prize.label} in {lottery.title}",
            now,
        )
    if outcome == "item":
        redemption = Redemption.create(
            member=member_id,
            item=prize.item_id,
            quantity=1,
            points=0,
            draw_id=draw.id,
            created_at=now,
            period_day=day,
        )
        Draw.update(redemption=redemption).where(Draw.id == draw.id).execute()
    return Draw.get_by_id(draw.id)

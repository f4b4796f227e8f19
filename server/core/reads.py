"""What the API reads, set by set: each function takes the keys of a whole page (or of
everything a page refers to) and answers in one statement, so a page costs the same
number of statements for 5 items as for 50.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from peewee import JOIN, fn

from server.core.accounts import AccountKind
from server.core.errors import DomainError, ErrorCode
from server.core.expiry import Expiring
from server.core.leaderboard import Place, metric_name
from server.core.lottery import Chance
from server.core.lottery import _available as available
from server.core.periods import period_key
from server.core.standings import PERIODS
from server.store import models
from server.store.sql import Sql, read_date, read_instant


def _keys(ids: Iterable[Any]) -> list:
    return sorted({i for i in ids if i is not None})


def by_id(model, ids: Iterable[Any]) -> dict[Any, Any]:
    """Rows of `model` by primary key, in one statement."""
    keys = _keys(ids)
    if not keys:
        return {}
    key = model._meta.primary_key
    return {getattr(r, key.name): r for r in model.select().where(key.in_(keys))}


@dataclass(slots=True)
class MemberRow:
    """A member as a page shows it (the fields of `models.Member` that the API reads)."""

    id: int
    external_id: str
    display_name: str | None
    birthday: date | None
    joined_at: datetime | None
    created_at: datetime


_MEMBER = "SELECT id, external_id, display_name, birthday, joined_at, created_at FROM member"


def _member_row(row) -> MemberRow:
    return MemberRow(
        row[0], row[1], row[2], read_date(row[3]), read_instant(row[4]), read_instant(row[5])
    )


def members(member_ids: Iterable[int]) -> dict[int, MemberRow]:
    """Members by id, as plain rows, in one statement."""
    keys = _keys(member_ids)
    if not keys:
        return {}
    rows = Sql(f"{_MEMBER} WHERE id IN ({', '.join('?' * len(keys))})").run(*keys)
    return {row[0]: _member_row(row) for row in rows.fetchall()}


def member(member_id: int) -> MemberRow | None:
    return members([member_id]).get(member_id)


_BY_EXTERNAL_ID = Sql(f"{_MEMBER} WHERE external_id = ?")


def member_by_external_id(external_id: str) -> MemberRow | None:
    row = _BY_EXTERNAL_ID.one(external_id)
    return _member_row(row) if row is not None else None


_TOP = Sql(
    "SELECT member_id, score, reached_at FROM standing WHERE metric = ? AND period = ? "
    "AND scope = ? AND score > 0 ORDER BY score DESC, reached_at, member_id LIMIT ?"
)


def top(metric: str, period: str, day: date, *, scope: str = "", first: int = 10) -> list[Place]:
    """The first places of a board, as `leaderboard.top` answers, from plain rows (the
    board's index gives them in order)."""
    if period not in PERIODS:
        raise DomainError(ErrorCode.INVALID_INPUT, "period must be day, week or month", "period")
    rows = _TOP.run(metric_name(metric), period_key(period, day), scope, first).fetchall()
    return [Place(i, m, score, read_instant(at)) for i, (m, score, at) in enumerate(rows, 1)]


def members_page(community: str | None, before_id: int | None, limit: int) -> list:
    """Members, newest first; with `community`, only those in it now."""
    query = models.Member.select()
    if community is not None:
        query = query.join(
            models.Membership, on=(models.Membership.member == models.Member.id)
        ).where(models.Membership.community == community, models.Membership.left_at.is_null())
    if before_id is not None:
        query = query.where(models.Member.id < before_id)
    return list(query.order_by(models.Member.id.desc()).limit(limit))


def members_count(community: str | None) -> int:
    """How many members `members_page` pages through, with the same filter."""
    query = models.Member.select()
    if community is not None:
        query = query.join(
            models.Membership, on=(models.Membership.member == models.Member.id)
        ).where(models.Membership.community == community, models.Membership.left_at.is_null())
    return query.count()


def wallets(member_ids: Iterable[int]) -> dict[int, dict[AccountKind, int]]:
    """Each member's wallet balances by kind."""
    keys = _keys(member_ids)
    found: dict[int, dict[AccountKind, int]] = {k: {} for k in keys}
    if not keys:
        return found
    rows = (
        models.Account.select(models.Account.member, models.Account.kind, models.Account.balance)
        .where(models.Account.member.in_(keys))
        .tuples()
    )
    for member_id, kind, balance in rows:
        found[member_id][AccountKind(kind)] = balance
    return found


def memberships(member_ids: Iterable[int]) -> dict[int, list[models.Membership]]:
    """Each member's communities, current and past, in the order they were first joined;
    `inviter_external_id` is set on each (null without an inviter)."""
    keys = _keys(member_ids)
    found: dict[int, list[models.Membership]] = {k: [] for k in keys}
    if not keys:
        return found
    inviter = models.Member.alias()
    rows = (
        models.Membership.select(models.Membership, inviter.external_id.alias("inviter"))
        .join(inviter, JOIN.LEFT_OUTER, on=(models.Membership.invited_by == inviter.id))
        .where(models.Membership.member.in_(keys))
        .order_by(models.Membership.first_joined_at, models.Membership.id)
        .objects()
    )
    for row in rows:
        found[row.member_id].append(row)
    return found


def prizes_of(lottery_ids: Iterable[int]) -> dict[int, list[models.LotteryPrize]]:
    keys = _keys(lottery_ids)
    found: dict[int, list[models.LotteryPrize]] = {k: [] for k in keys}
    if keys:
        rows = models.LotteryPrize.select().where(models.LotteryPrize.lottery.in_(keys))
        for row in rows.order_by(models.LotteryPrize.id):
            found[row.lottery_id].append(row)
    return found


def transactions_of_events(event_ids: Iterable[int]) -> dict[int, list[int]]:
    """The ids of the transactions each event caused, in order."""
    keys = _keys(event_ids)
    found: dict[int, list[int]] = {k: [] for k in keys}
    if keys:
        rows = (
            models.LedgerTransaction.select(
                models.LedgerTransaction.event, models.LedgerTransaction.id
            )
            .where(models.LedgerTransaction.event.in_(keys))
            .order_by(models.LedgerTransaction.id)
            .tuples()
        )
        for event_id, txn_id in rows:
            found[event_id].append(txn_id)
    return found


def campaign_figures(campaigns: Iterable[str]) -> dict[str, tuple[int, int | None, int | None]]:
    """(points issued, budget, budget left) of each campaign."""
    keys = _keys(campaigns)
    if not keys:
        return {}
    marks = ", ".join("?" * len(keys))
    issued = dict(
        Sql(
            "SELECT a.campaign, -(a.balance + COALESCE(SUM(s.balance), 0)) FROM account a "
            "LEFT JOIN account_slot s ON s.account_id = a.id "
            f"WHERE a.kind = 'issuance' AND a.campaign IN ({marks}) GROUP BY a.id, a.campaign"
        )
        .run(*keys)
        .fetchall()
    )
    budgets = {
        row[0]: (row[1], row[2])
        for row in Sql(
            "SELECT b.campaign, b.budget, (SELECT SUM(s.budget) - SUM(s.spent) FROM "
            "campaign_budget_share s WHERE s.campaign = b.campaign) FROM campaign_budget b "
            f"WHERE b.campaign IN ({marks})"
        )
        .run(*keys)
        .fetchall()
    }
    out = {}
    for key in keys:
        budget, left = budgets.get(key, (None, None))
        if budget is None:
            left = None
        elif left is not None:
            left = max(int(left), 0)
        out[key] = (int(issued.get(key) or 0), budget, left)
    return out


def ranks(
    metric: str, period: str, day: date, member_ids: Iterable[int], *, scope: str = ""
) -> dict[int, Place]:
    """Members' places on one board (those without a score are left out)."""
    keys = _keys(member_ids)
    if not keys:
        return {}
    marks = ", ".join("?" * len(keys))
    rows = Sql(
        "SELECT s.member_id, s.score, s.reached_at, (SELECT COUNT(*) FROM standing o "
        "WHERE o.metric = s.metric AND o.period = s.period AND o.scope = s.scope AND "
        "(o.score > s.score OR (o.score = s.score AND (o.reached_at < s.reached_at OR "
        "(o.reached_at = s.reached_at AND o.member_id < s.member_id))))) "
        "FROM standing s WHERE s.metric = ? AND s.period = ? AND s.scope = ? AND s.score > 0 "
        f"AND s.member_id IN ({marks})"
    ).run(metric_name(metric), period_key(period, day), scope, *keys)
    return {
        member_id: Place(ahead + 1, member_id, score, read_instant(reached))
        for member_id, score, reached, ahead in rows.fetchall()
    }


def expiring(
    member_ids: Iterable[int], now: datetime, within_days: int
) -> dict[int, list[Expiring]]:
    """Each member's points that expire within `within_days`, soonest first."""
    keys = _keys(member_ids)
    found: dict[int, list[Expiring]] = {k: [] for k in keys}
    if not keys:
        return found
    lot = models.Lot
    rows = (
        lot.select(lot.member, lot.expires_at, fn.SUM(lot.remaining))
        .where(
            lot.member.in_(keys),
            lot.remaining > 0,
            lot.expires_at > now,
            lot.expires_at <= now + timedelta(days=within_days),
        )
        .group_by(lot.member, lot.expires_at)
        .order_by(lot.member, lot.expires_at)
        .tuples()
    )
    for member_id, expires_at, points in rows:
        found[member_id].append(Expiring(read_instant(expires_at), int(points)))
    return found


def affordable(
    member_ids: Iterable[int], now: datetime, *, limit: int = 100
) -> dict[int, list[models.CatalogItem]]:
    """Items each member can redeem one of right now, cheapest first: available, in
    stock, within their points and open to a community they are in."""
    keys = _keys(member_ids)
    if not keys:
        return {}
    balances = wallets(keys)
    available = {k: balances[k].get(AccountKind.AVAILABLE, 0) for k in keys}
    communities: dict[int, set[str]] = defaultdict(set)
    rows = (
        models.Membership.select(models.Membership.member, models.Membership.community)
        .where(models.Membership.member.in_(keys), models.Membership.left_at.is_null())
        .tuples()
    )
    for member_id, community in rows:
        communities[member_id].add(community)
    item = models.CatalogItem
    items = list(
        item.select()
        .where(
            item.retired_at.is_null(),
            item.points_price <= max(available.values()),
            item.stock.is_null() | (item.stock > 0),
            item.available_from.is_null() | (item.available_from <= now),
            item.available_until.is_null() | (item.available_until > now),
        )
        .order_by(item.points_price, item.id)
    )
    return {
        k: [
            i
            for i in items
            if i.points_price <= available[k]
            and (i.community is None or i.community in communities[k])
        ][:limit]
        for k in keys
    }


def chances(lotteries: Iterable[models.Lottery]) -> dict[int, list[Chance]]:
    """What the next draw of each lottery can give, with weights (as `lottery.chances`
    answers for one), read for all of them at once."""
    rows = list(lotteries)
    prizes = prizes_of(r.id for r in rows)
    items = by_id(models.CatalogItem, (p.item_id for ps in prizes.values() for p in ps))
    found = {}
    for row in rows:
        options = []
        for prize in prizes[row.id]:
            if prize.item_id is not None:
                prize.item = items.get(prize.item_id)  # read above, not once per prize
            if available(row, prize):
                options.append(Chance(prize, prize.weight))
        if row.miss_weight:
            options.append(Chance(None, row.miss_weight))
        found[row.id] = options
    return found

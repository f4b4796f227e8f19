"""Campaign budgets, exact under concurrency without one hot row.

A budgeted campaign's budget is split into SHARES rows. A write transaction draws one
share at random (the same draw as the program accounts' slots) and takes an award from
it whole; if that share is short or held by another transaction, from the first share
that has it and is free; only when none can pay it whole does it gather the rest from
every share in share order, waiting for each. Every take is a conditional update under
the row's lock, so the sum of what is taken never exceeds the budget, while concurrent
transactions mostly lock different rows instead of queueing on one. Only the sums over
the shares mean anything (docs/rules.md, docs/performance.md).
"""

from __future__ import annotations

import random

from server.config import settings
from server.store.db import database, is_postgres, transaction_memo
from server.store.models import CampaignBudget, CampaignBudgetShare
from server.store.sql import Sql

# Shares per budgeted campaign (JIFEN_BUDGET_SHARES, 1..256): applied when a campaign's
# budget is published; 1 keeps the whole budget on one row.
SHARES = settings().budget_shares

# All of it from this transaction's share, or nothing. On PostgreSQL a share another
# transaction holds is passed over (SKIP LOCKED) instead of waited for: waiting would
# leave this transaction holding the share even when it turns out short.
_TAKE_WHOLE = Sql(
    "UPDATE campaign_budget_share SET spent = spent + ? "
    "WHERE campaign = ? AND share = ? AND budget - spent >= ? RETURNING spent",
    postgres="UPDATE campaign_budget_share SET spent = spent + ? "
    "WHERE (campaign, share) IN (SELECT campaign, share FROM campaign_budget_share "
    "  WHERE campaign = ? AND share = ? AND budget - spent >= ? FOR UPDATE SKIP LOCKED) "
    "RETURNING spent",
)
# All of it from any other share that has it and that nobody holds (the first such).
_TAKE_ELSEWHERE = Sql(
    "UPDATE campaign_budget_share SET spent = spent + ? "
    "WHERE campaign = ? AND share = (SELECT share FROM campaign_budget_share "
    "  WHERE campaign = ? AND budget - spent >= ? ORDER BY share LIMIT 1) "
    "RETURNING share",
    postgres="UPDATE campaign_budget_share SET spent = spent + ? "
    "WHERE (campaign, share) IN (SELECT campaign, share FROM campaign_budget_share "
    "  WHERE campaign = ? AND budget - spent >= ? ORDER BY share LIMIT 1 "
    "  FOR UPDATE SKIP LOCKED) "
    "RETURNING share",
)
# What the share still has, up to what is wanted; shares already empty are not touched.
_TAKE_PART = Sql(
    "UPDATE campaign_budget_share SET "
    "last_take = CASE WHEN budget - spent < ? THEN budget - spent ELSE ? END, "
    "spent = spent + CASE WHEN budget - spent < ? THEN budget - spent ELSE ? END "
    "WHERE campaign = ? AND share = ? AND budget > spent RETURNING last_take"
)
_HAS_SHARES = Sql("SELECT 1 FROM campaign_budget_share WHERE campaign = ? AND share = 0")
_WITH_SOMETHING_LEFT = Sql(
    "SELECT share FROM campaign_budget_share WHERE campaign = ? AND budget > spent ORDER BY share"
)
_GIVE_BACK = Sql(
    "UPDATE campaign_budget_share SET spent = spent - ? WHERE campaign = ? AND share = ?"
)
_TOTALS = Sql(
    "SELECT SUM(budget), SUM(spent) FROM campaign_budget_share WHERE campaign = ? GROUP BY campaign"
)


def drawn_share() -> int:
    """This transaction's share (0..SHARES-1), drawn once per transaction."""
    memo = transaction_memo()
    if "share" not in memo:
        memo["share"] = memo.setdefault("slot", random.randrange(1 << 30)) % SHARES
    return memo["share"]


def take(campaign: str, points: int) -> int:
    """Take up to `points` from the campaign's budget; what was taken (maybe 0).

    First all of it from this transaction's share; if that share is short or busy, all
    of it from the first share that has it and is free. Only when none has (the budget
    is nearly spent) a little from each share with something left, waiting for each in
    share order: a fixed order, so two transactions never wait on each other in a circle.
    A campaign without a budget has no shares: all `points` are granted.
    """
    if _take_whole(campaign, points):
        return points
    if not budgeted(campaign):
        return points
    taken = 0
    for (share,) in _WITH_SOMETHING_LEFT.run(campaign).fetchall():
        want = points - taken
        row = _TAKE_PART.one(want, want, want, want, campaign, share)
        taken += int(row[0]) if row is not None else 0
        if taken >= points:
            break
    return taken


class _Short(Exception):
    """No single free share could pay the award."""


def _take_whole(campaign: str, points: int) -> bool:
    """All `points` from the drawn share, else from the first free share that has them.

    On PostgreSQL inside a savepoint rolled back when neither could: a `FOR UPDATE`
    that finds its row changed since the statement began rechecks it and may drop it,
    but keeps the lock; rolling back the savepoint releases it, so the share-order
    gathering that follows holds no share out of order (which could close a cycle).
    """
    if not is_postgres():
        if _TAKE_WHOLE.one(points, campaign, drawn_share(), points) is not None:
            return True
        moved = _TAKE_ELSEWHERE.one(points, campaign, campaign, points)
        if moved is not None:
            transaction_memo()["share"] = moved[0]
        return moved is not None
    try:
        with database.atomic():
            if _TAKE_WHOLE.one(points, campaign, drawn_share(), points) is not None:
                return True
            moved = _TAKE_ELSEWHERE.one(points, campaign, points)
            if moved is None:
                raise _Short
            transaction_memo()["share"] = moved[0]  # this transaction holds it: stay there
            return True
    except _Short:
        return False


def budgeted(campaign: str) -> bool:
    return _HAS_SHARES.one(campaign) is not None


def give_back(campaign: str, points: int) -> None:
    """Return budget when an award is taken back (to this transaction's share)."""
    _GIVE_BACK.run(points, campaign, drawn_share())


def left(campaign: str) -> int | None:
    """What is left of the budget; None without one."""
    row = _TOTALS.one(campaign)
    return None if row is None else max(int(row[0]) - int(row[1]), 0)


def spent(campaign: str) -> int:
    row = _TOTALS.one(campaign)
    return 0 if row is None else int(row[1])


def set_budget(campaign: str, budget: int | None) -> None:
    """Publish a campaign's budget: what is already spent stays spent, the rest is shared
    out anew (inside the publishing transaction, with every share locked)."""
    (
        CampaignBudget.insert(campaign=campaign, budget=budget)
        .on_conflict(
            conflict_target=[CampaignBudget.campaign], update={CampaignBudget.budget: budget}
        )
        .execute()
    )
    shares = CampaignBudgetShare.select().where(CampaignBudgetShare.campaign == campaign)
    if is_postgres():
        shares = shares.for_update()
    used_total = sum(row.spent for row in shares)
    CampaignBudgetShare.delete().where(CampaignBudgetShare.campaign == campaign).execute()
    if budget is None:
        return
    # What is spent stays spent (on the first share); what is left is shared out evenly.
    remaining = max(budget - used_total, 0)
    rows = []
    for share in range(SHARES):
        part = remaining // SHARES + (1 if share < remaining % SHARES else 0)
        used = used_total if share == 0 else 0
        rows.append({"campaign": campaign, "share": share, "budget": used + part, "spent": used})
    CampaignBudgetShare.insert_many(rows).execute()

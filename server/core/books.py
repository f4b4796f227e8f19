"""Each domain's books, checked against the ledger: what a race could break beyond sums.

Postings that sum to zero prove little on their own: a refund of more than was captured
balances perfectly. These checks compare every domain's own records with the ledger
and with each other; `jifen ledger verify` runs them after the ledger's invariants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

from server.core.accounts import AccountKind
from server.core.level_books import levels_agree_with_history
from server.store.db import database

Found = Iterator[tuple[str, str]]  # (subject, message)


def _rows(text: str) -> list[tuple]:
    return database.execute_sql(" ".join(text.split())).fetchall()


def refunds_within_captures() -> Found:
    """A refund never returns more points or money than the order spent, and only of a
    captured order; what the order says was refunded is what its refunds add up to."""
    refunds = {
        order: (points, amounts)
        for order, points, amounts in _by_order(
            "SELECT checkout_id, points, amount FROM checkout_refund ORDER BY checkout_id"
        )
    }
    returned = dict(
        _rows(
            "SELECT r.checkout_id, SUM(p.amount) FROM checkout_refund r "
            "JOIN posting p ON p.txn_id = r.txn_id WHERE p.member_id IS NOT NULL "
            "GROUP BY r.checkout_id"
        )
    )
    for order, status, points, amount, refunded_points, refunded_amount in _rows(
        "SELECT order_id, status, points, order_amount, refunded_points, refunded_amount "
        "FROM checkout WHERE refunded_points <> 0 OR refunded_amount <> '0' "
        "OR order_id IN (SELECT checkout_id FROM checkout_refund)"
    ):
        subject = f"checkout {order}"
        sum_points, sum_amount = refunds.get(order, (0, Decimal(0)))
        if refunded_points > points or Decimal(refunded_amount) > Decimal(amount):
            yield (
                subject,
                f"refunded {refunded_points} points / {refunded_amount} of an order of "
                f"{points} points / {amount}",
            )
        if (sum_points, sum_amount) != (refunded_points, Decimal(refunded_amount)):
            yield (
                subject,
                f"its refunds add up to {sum_points} points / {sum_amount}, the order says "
                f"{refunded_points} / {refunded_amount}",
            )
        if int(returned.get(order) or 0) != sum_points:
            yield (
                subject,
                f"the ledger returned {int(returned.get(order) or 0)} points for "
                f"refunds of {sum_points}",
            )
        if status != "captured":
            yield subject, f"refunded while {status}"


def _by_order(text: str) -> Iterator[tuple[str, int, Decimal]]:
    totals: dict[str, tuple[int, Decimal]] = {}
    for order, points, amount in _rows(text):
        seen_points, seen_amount = totals.get(order, (0, Decimal(0)))
        totals[order] = (seen_points + points, seen_amount + Decimal(amount))
    for order, (points, amount) in totals.items():
        yield order, points, amount


def held_equals_open_holds() -> Found:
    """A member's held points are exactly their open holds."""
    for key, balance, holds in _rows(
        "SELECT a.key, a.balance, COALESCE(h.points, 0) FROM account a "
        "LEFT JOIN (SELECT member_id, SUM(points) AS points FROM checkout "
        "  WHERE status = 'held' GROUP BY member_id) h ON h.member_id = a.member_id "
        f"WHERE a.kind = '{AccountKind.HELD.value}' AND a.balance <> COALESCE(h.points, 0)"
    ):
        yield f"account {key}", f"holds {balance} points but open holds are {holds}"


def pending_equals_open_reviews() -> Found:
    """A member's pending points are exactly their awards waiting for review."""
    for key, balance, waiting in _rows(
        "SELECT a.key, a.balance, COALESCE(r.points, 0) FROM account a "
        "LEFT JOIN (SELECT member_id, SUM(points) AS points FROM review "
        "  WHERE status = 'pending' GROUP BY member_id) r ON r.member_id = a.member_id "
        f"WHERE a.kind = '{AccountKind.PENDING.value}' AND a.balance <> COALESCE(r.points, 0)"
    ):
        yield f"account {key}", f"holds {balance} pending points but open reviews are {waiting}"


def decided_awards_settled() -> Found:
    """A rejected or revoked award holds no points (it was reversed); an approved one was
    moved to the available wallet."""
    for txn, status in _rows(
        "SELECT r.txn_id, r.status FROM review r WHERE r.status IN ('rejected', 'revoked') "
        "AND NOT EXISTS (SELECT 1 FROM ledger_transaction t WHERE t.reverses_id = r.txn_id)"
    ):
        yield f"award {txn}", f"{status} but its points were never taken back"
    for (txn,) in _rows(
        "SELECT r.txn_id FROM review r LEFT JOIN ledger_transaction d "
        "ON d.id = r.decision_txn_id WHERE r.status = 'approved' "
        "AND (d.id IS NULL OR d.kind <> 'approval')"
    ):
        yield f"award {txn}", "approved without an approval transaction"


def stock_equals_movements() -> Found:
    """Stock is what was put in less what went out, and never below zero."""
    for item, stock, added, out in _rows(
        "SELECT i.id, i.stock, i.stock_added, COALESCE(r.units, 0) FROM catalog_item i "
        "LEFT JOIN (SELECT item_id, SUM(quantity) AS units FROM redemption "
        "  WHERE status <> 'cancelled' GROUP BY item_id) r ON r.item_id = i.id "
        "WHERE i.stock IS NOT NULL AND (i.stock < 0 OR i.stock <> i.stock_added - "
        "COALESCE(r.units, 0))"
    ):
        yield f"catalog item {item}", f"stock {stock}, but {added} stocked less {out} out"
    for prize, stock, added, won in _rows(
        "SELECT p.id, p.stock, p.stock_added, COALESCE(d.won, 0) FROM lottery_prize p "
        "LEFT JOIN (SELECT prize_id, COUNT(*) AS won FROM draw GROUP BY prize_id) d "
        "ON d.prize_id = p.id WHERE p.stock IS NOT NULL AND (p.stock < 0 OR "
        "p.stock <> p.stock_added - COALESCE(d.won, 0))"
    ):
        yield f"lottery prize {prize}", f"stock {stock}, but {added} stocked less {won} won"


def budgets_within_limits() -> Found:
    """No campaign or lottery budget is overspent."""
    for campaign, share, budget, spent in _rows(
        "SELECT campaign, share, budget, spent FROM campaign_budget_share "
        "WHERE spent < 0 OR spent > budget"
    ):
        yield f"budget of {campaign}", f"share {share} spent {spent} of {budget}"
    for campaign, budget, shared in _rows(
        "SELECT b.campaign, b.budget, s.total FROM campaign_budget b JOIN "
        "(SELECT campaign, SUM(budget) AS total FROM campaign_budget_share GROUP BY campaign) s "
        "ON s.campaign = b.campaign WHERE b.budget IS NOT NULL AND s.total <> b.budget"
    ):
        yield f"budget of {campaign}", f"its shares hold {shared}, the budget is {budget}"
    for lottery, budget, spent, paid in _rows(
        "SELECT l.id, l.budget, l.budget_spent, COALESCE(d.paid, 0) FROM lottery l "
        "LEFT JOIN (SELECT d.lottery_id, SUM(p.points) AS paid FROM draw d "
        "  JOIN lottery_prize p ON p.id = d.prize_id WHERE d.outcome = 'points' "
        "  GROUP BY d.lottery_id) d ON d.lottery_id = l.id "
        "WHERE l.budget IS NOT NULL AND (l.budget_spent > l.budget "
        "OR l.budget_spent <> COALESCE(d.paid, 0))"
    ):
        yield f"lottery {lottery}", f"budget {budget}, spent {spent}, prizes paid {paid}"


# Program accounts whose sign is fixed: what members spent (or what expired) can only be
# given back, never more; a campaign can only take back what it issued.
_SIGNS = {
    AccountKind.CHECKOUT: 1,
    AccountKind.REDEMPTION: 1,
    AccountKind.EXPIRY: 1,
    AccountKind.STREAK: 1,
    AccountKind.ISSUANCE: -1,
}


def program_accounts_keep_their_sign() -> Found:
    kinds = ", ".join(f"'{k.value}'" for k in _SIGNS)
    for key, kind, balance in _rows(
        "SELECT a.key, a.kind, a.balance + COALESCE(SUM(s.balance), 0) FROM account a "
        "LEFT JOIN account_slot s ON s.account_id = a.id "
        f"WHERE a.member_id IS NULL AND a.kind IN ({kinds}) GROUP BY a.id, a.key, a.kind, "
        "a.balance"
    ):
        if balance * _SIGNS[AccountKind(kind)] < 0:
            yield f"account {key}", f"balance {balance} has the wrong sign"


def awards_name_live_versions() -> Found:
    """Every award names a campaign version that was published and not a retirement."""
    for txn, campaign, version in _rows(
        "SELECT t.id, t.campaign, t.campaign_version FROM ledger_transaction t "
        "LEFT JOIN campaign_version v ON v.campaign = t.campaign "
        "AND v.version = t.campaign_version "
        "WHERE t.kind IN ('award', 'leaderboard') AND (v.id IS NULL OR v.retired)"
    ):
        yield f"transaction {txn}", f"names {campaign} v{version}, which was never in force"


CHECKS: dict[str, Callable[[], Found]] = {
    "refunds within what was captured": refunds_within_captures,
    "held points equal open holds": held_equals_open_holds,
    "pending points equal open reviews": pending_equals_open_reviews,
    "rejected and revoked awards hold nothing": decided_awards_settled,
    "stock equals its movements": stock_equals_movements,
    "budgets never overspent": budgets_within_limits,
    "program accounts keep their sign": program_accounts_keep_their_sign,
    "awards name a live rule version": awards_name_live_versions,
    "levels agree with their history": levels_agree_with_history,
}
